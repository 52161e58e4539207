"""ε, steps and EOT-samples sweeps (the paper's Figure 3, plus the EOT study of §5.1).

Each point is an ordinary protocol-carrying row (single-sample and EOT where
the model is stochastic), tagged with the sweep it belongs to.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .attacks import make_attack
from .errors import ConfigError
from .evaluation import Protocol, Row, evaluate_attack
from .stochastic import is_stochastic

UNBOUNDED = 1.0
DEFAULT_EPS = tuple(k / 255 for k in (0, 1, 2, 4, 8, 16, 32, 64)) + (UNBOUNDED,)
DEFAULT_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
DEFAULT_EOT = (1, 5, 20, 80)


def sweep_points(kind: str, values: Sequence[float] | None, eps: float, eot: int, stochastic: bool):
    """(attack spec, gradient samples) for every point of a sweep."""
    modes = [1, eot] if stochastic and eot > 1 else [1]  # single-sample, and EOT for a stochastic model
    if kind == "eps":
        vals = values or DEFAULT_EPS
        if any(not 0 <= v <= 1 for v in vals):
            raise ConfigError("ε sweep values must lie in [0, 1]")
        specs = [make_attack("pgd", eps=float(v), steps=10, alpha=2.5 * float(v) / 10) for v in vals]
        return [(s, m) for s in specs for m in modes]
    if kind == "steps":
        vals = values or DEFAULT_STEPS
        if any(int(v) != v or v < 1 for v in vals):
            raise ConfigError("steps sweep values must be whole numbers ≥ 1")
        specs = [make_attack("pgd", eps=eps, steps=int(v), alpha=min(eps, 2.5 * eps / int(v))) for v in vals]
        return [(s, m) for s in specs for m in modes]
    if kind == "eot":
        vals = values or DEFAULT_EOT
        if any(int(v) != v or v < 1 for v in vals):
            raise ConfigError("EOT sweep values must be whole numbers ≥ 1")
        spec = make_attack("pgd10", eps=eps)
        return [(spec, int(v)) for v in vals]
    raise ConfigError(f"unknown sweep {kind!r}; use eps, steps or eot")


def run_sweep(model: torch.nn.Module, split, proto: Protocol, *, kind: str, device: torch.device, eps: float,
              values: Sequence[float] | None = None, on_row: Callable[[Row, object], None] | None = None,
              cancel=None) -> list[Row]:
    proto.validate()
    rows = []
    for spec, eot in sweep_points(kind, values, eps, proto.eot_samples, is_stochastic(model)):
        row, gallery = evaluate_attack(model, split, spec, proto, eot=eot, device=device, cancel=cancel)
        row.params["sweep"] = kind
        rows.append(row)
        if on_row:
            on_row(row, gallery)
    return rows
