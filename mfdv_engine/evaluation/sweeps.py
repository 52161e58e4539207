"""ε, steps and EOT-samples sweeps (the paper's Figure 3, plus "where the attack
stops gaining": steps up to 1,000 and EOT samples up to 100).

Each point is an ordinary protocol-carrying row (single-sample and EOT where
the model is stochastic), tagged with the sweep it belongs to. The ε sweep
attacks with the cross-entropy loss (it reproduces Figure 3); the steps and
EOT sweeps default to the C&W margin loss, whose gradient does not vanish on
confidently classified examples the way the cross-entropy's does.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from ..attacks import make_attack
from ..attacks.eot import LOSSES
from ..errors import ConfigError
from .rows import Protocol, Row, evaluate_attack, modes_for
from ..stochastic import is_stochastic

UNBOUNDED = 1.0
DEFAULT_EPS = tuple(k / 255 for k in (0, 1, 2, 4, 8, 16, 32, 64)) + (UNBOUNDED,)
DEFAULT_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
DEFAULT_EOT = (1, 2, 5, 10, 20, 50, 100)
KINDS = ("eps", "steps", "eot")
#: the loss each sweep attacks with unless told otherwise
DEFAULT_LOSS = {"eps": "ce", "steps": "cw", "eot": "cw"}


def sweep_loss(kind: str, loss: str | None = None) -> str:
    """The loss a sweep of ``kind`` uses: ``loss`` if given (validated), else the sweep's default."""
    if kind not in KINDS:
        raise ConfigError(f"unknown sweep {kind!r}; use eps, steps or eot")
    if loss is None:
        return DEFAULT_LOSS[kind]
    if loss not in LOSSES:
        raise ConfigError(f"unknown sweep loss {loss!r}; use one of {', '.join(LOSSES)} "
                          "(ce: cross-entropy, cw: C&W margin)")
    return loss


def _whole_numbers(vals: Sequence, what: str) -> list[int]:
    ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and int(v) == v and v >= 1
             for v in vals)
    if not ok:
        raise ConfigError(f"{what} sweep values must be whole numbers ≥ 1, got {', '.join(map(str, vals))}")
    return [int(v) for v in vals]


def sweep_points(kind: str, values: Sequence[float] | None, eps: float, eot: int, stochastic: bool,
                 loss: str | None = None):
    """(attack spec, gradient samples) for every point of a sweep; raises ConfigError on bad input."""
    loss = sweep_loss(kind, loss)
    if values is not None and len(values) == 0:
        raise ConfigError(f"the {kind} sweep needs at least one value")
    if kind == "eps":
        vals = list(values or DEFAULT_EPS)
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1 for v in vals):
            raise ConfigError("ε sweep values must lie in [0, 1]")
        specs = [make_attack("pgd", eps=float(v), steps=10, alpha=2.5 * float(v) / 10, loss=loss) for v in vals]
        return [(s, m) for s in specs for m in modes_for(s, stochastic, eot)]  # the one single/EOT rule
    if kind == "steps":
        vals = _whole_numbers(values or DEFAULT_STEPS, "steps")
        specs = [make_attack("pgd", eps=eps, steps=v, alpha=min(eps, 2.5 * eps / v), loss=loss) for v in vals]
        return [(s, m) for s in specs for m in modes_for(s, stochastic, eot)]  # the one single/EOT rule
    vals = _whole_numbers(values or DEFAULT_EOT, "EOT")
    if not stochastic:
        raise ConfigError("an EOT sweep needs a stochastic model; this run has no noise to average over")
    spec = make_attack("pgd10", eps=eps, loss=loss)
    return [(spec, v) for v in vals]


def run_sweep(model: torch.nn.Module, split, proto: Protocol, *, kind: str, device: torch.device, eps: float,
              values: Sequence[float] | None = None, on_row: Callable[[Row, object], None] | None = None,
              cancel=None, loss: str | None = None, on_progress: Callable[[str, float], None] | None = None
              ) -> list[Row]:
    """One row per point (and per gradient mode); ``loss`` None: the sweep's default (:data:`DEFAULT_LOSS`).
    ``on_progress(text, fraction)`` follows the whole sweep."""
    proto.validate()
    rows = []
    points = sweep_points(kind, values, eps, proto.eot_samples, is_stochastic(model), loss)
    for i, (spec, eot) in enumerate(points):
        def point_progress(text: str, frac: float, i=i) -> None:
            on_progress(f"{kind} sweep {i + 1}/{len(points)}: {text}", (i + frac) / len(points))

        row, gallery = evaluate_attack(model, split, spec, proto, eot=eot, device=device, cancel=cancel,
                                       on_progress=point_progress if on_progress else None)
        row.params["sweep"] = kind
        rows.append(row)
        if on_row:
            on_row(row, gallery)
    return rows
