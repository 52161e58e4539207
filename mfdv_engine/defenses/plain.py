"""``none``: the plain backbone with cross-entropy, the baseline every table needs."""
from __future__ import annotations

from .base import Defense, register_defense


@register_defense
class NoDefense(Defense):
    name = "none"
    description = "Plain backbone, cross-entropy only (no noise, no adversarial training)."

    def normalise_placement(self, placement: str) -> str:
        return "none"
