"""AutoAttack and Square from pyautoattack, the official implementation.

AutoAttack's ``rand`` version takes our EOT gradient (one trunk pass per
step) through APGD's hook for models that supply loss and gradient
themselves (:mod:`.adaptive`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .base import AttackSpec, capture_messages, check_int, check_range, register_attack
from .eot import ExpectationModel, head_only_apgd


@register_attack("autoattack", version="standard")
@register_attack("autoattack-rand", version="rand")
@dataclass(frozen=True)
class AutoAttackSpec(AttackSpec):
    """pyautoattack.AutoAttack on the raw model. 'standard' = APGD-CE, APGD-T,
    FAB-T, Square; 'rand' = APGD-CE + APGD-DLR with its own EOT (``eot_iter``
    draws). Its randomised-defense checks and log lines land in ``last_messages``.
    ``n_iter``/``n_queries`` override AutoAttack's 100 iterations / 5000 queries
    (only for quick tests; the protocol records them)."""

    norms = ("Linf", "L2")

    version: str = "standard"
    eot_iter: int = 20
    #: 'rand' only: the EOT gradient from one trunk pass per step (exact for a
    #: deterministic trunk) instead of ``eot_iter`` whole-model passes
    head_only: bool = True
    n_iter: int = 100
    n_queries: int = 5000
    batch_size: int = 250

    def validate(self) -> None:
        super().validate()
        if self.version not in ("standard", "rand"):
            raise ConfigError(f"attack {self.name!r}: version {self.version!r} is unknown; use 'standard' or 'rand'")
        for k in ("eot_iter", "n_iter", "n_queries", "batch_size"):
            check_int(self.name, k, getattr(self, k), 1)
        if not isinstance(self.head_only, bool):
            raise ConfigError(f"attack {self.name!r}: head_only {self.head_only!r} must be true or false")

    def gradient_text(self, eot: int) -> str | None:
        if self.version != "rand":
            return None
        # ours: one trunk pass per step (S full passes for noise in the trunk); its own: eot_iter model calls
        return f"EOT-{self.eot_iter} (AutoAttack rand, {'our EOT gradient' if self.head_only else 'its own EOT loop'})"

    def gradient_samples(self, eot: int) -> int:
        return self.eot_iter if self.version == "rand" else eot

    def adaptive_counterpart(self) -> "AutoAttackSpec | None":
        # AutoAttack's own answer to randomised models: APGD with EOT
        return dataclasses.replace(self, name="autoattack-rand", version="rand") if self.version == "standard" else None

    def _run(self, model, x, y, eot_samples):
        from pyautoattack import AutoAttack

        with capture_messages(self.last_messages, ("auto-attack",)):
            aa = AutoAttack(model, device=x.device, eps=float(self.eps), norm=self.norm, seed=self.seed, version=self.version)
            aa.apgd.n_iter = self.n_iter
            aa.apgd_targeted.n_iter = self.n_iter
            aa.fab.n_iter = self.n_iter
            aa.square.n_queries = self.n_queries
            if self.version == "rand" and self.head_only:
                head_only_apgd(aa.apgd, model, self.eot_iter, judge="draw")
            elif self.version == "rand":
                aa.apgd.eot_iter = self.eot_iter
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=self.batch_size)
        # its announcement of the version we asked for is no message about this row
        self.last_messages[:] = [m for m in self.last_messages if "setting parameters for" not in m]
        return x_adv


@register_attack("square")
@dataclass(frozen=True)
class SquareSpec(AttackSpec):
    """pyautoattack's Square attack (score-based, margin loss), 5000 queries."""

    n_queries: int = 5000
    p_init: float = 0.8
    n_restarts: int = 1

    supports_eot = True
    norms = ("Linf", "L2")

    def validate(self) -> None:
        super().validate()
        check_int(self.name, "n_queries", self.n_queries, 1)
        check_int(self.name, "n_restarts", self.n_restarts, 1)
        check_range(self.name, "p_init", self.p_init, 1e-6, 1.0)

    def _run(self, model, x, y, eot_samples):
        from pyautoattack.square import SquareAttack

        target = ExpectationModel(model, eot_samples) if eot_samples > 1 else model
        with capture_messages(self.last_messages, ("auto-attack",)), torch.no_grad():
            atk = SquareAttack(target, norm=self.norm, n_queries=self.n_queries, eps=float(self.eps), p_init=self.p_init,
                               n_restarts=self.n_restarts, seed=self.seed, verbose=False, device=x.device)
            return atk.perturb(x, y)
