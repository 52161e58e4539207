"""Attacks: specs, registry, head-only EOT."""
from .base import AttackSpec, capture_messages, list_attacks, make_attack, register_attack, rng_isolated
from .eot import ExpectationModel, eot_loss_and_grad, per_example_loss
from . import adaptive, autoattack, standard  # noqa: F401  (register the built-in attacks)
from .standard import pgd_eot

__all__ = [
    "AttackSpec", "ExpectationModel", "capture_messages", "eot_loss_and_grad", "list_attacks",
    "make_attack", "per_example_loss", "pgd_eot", "register_attack", "rng_isolated",
]
