"""Adaptive attacks on stochastic models: the members of the adaptive suite
that torchattacks and pyautoattack do not provide as such.

* ``eot-apgd``: pyautoattack's APGD (its step-size schedule, restarts and
  checkpoints unchanged) fed with head-only EOT gradients through APGD's own
  hook for models that supply loss and gradient themselves.
* ``eot-square``: pyautoattack's Square attack with every query's loss
  averaged over S noise draws and its stopping margin taken from the
  MC-averaged prediction, so one lucky draw neither stops an example nor
  locks in a candidate (AutoAttack issue #56).
* ``transfer-sigma0`` / ``transfer-expectation``: APGD-CE crafted on the same
  network with its noise switched off, or on its expectation (log of the
  MC-averaged softmax), then judged on the stochastic model as usual.

The EOT members are registered with ``eot_samples=20`` (like ``eot-pgd``): on
their own they give one EOT row, and ``--eot`` sets their S.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..stochastic import noise_off
from .base import AttackSpec, capture_messages, check_int, register_attack
from .autoattack import SquareSpec
from .eot import ExpectationModel, draw_logits, head_only_apgd

APGD_LOSSES = ("ce", "cw", "dlr")


@register_attack("eot-apgd-ce", loss="ce", eot_samples=20)
@register_attack("eot-apgd-cw", loss="cw", eot_samples=20)
@register_attack("eot-apgd-dlr", loss="dlr", eot_samples=20)
@dataclass(frozen=True)
class EOTAPGDSpec(AttackSpec):
    """APGD (pyautoattack) with head-only EOT gradients over ``eot_samples`` draws and
    APGD's step-size schedule, from ``restarts`` random starts; successes are
    recorded on the MC-averaged prediction of the same draws."""

    loss: str = "ce"
    n_iter: int = 100
    restarts: int = 2

    supports_eot = True
    norms = ("Linf", "L2")
    choices = {"loss": APGD_LOSSES}

    def validate(self) -> None:
        super().validate()
        check_int(self.name, "n_iter", self.n_iter, 1)
        check_int(self.name, "restarts", self.restarts, 1)

    def _run(self, model, x, y, eot_samples):
        from pyautoattack.autopgd_base import APGDAttack

        with capture_messages(self.last_messages, ("auto-attack",)):
            apgd = APGDAttack(model, n_iter=self.n_iter, norm=self.norm, n_restarts=self.restarts, eps=float(self.eps),
                              seed=self.seed, loss="ce" if self.loss == "ce" else "dlr", device=x.device)
            head_only_apgd(apgd, model, eot_samples, judge="mean", margin=self.loss)
            return apgd.perturb(x, y)


@functools.cache
def _eot_square_class():
    """pyautoattack's SquareAttack whose margin and loss are means over S draws
    (built on first use: pyautoattack is imported lazily)."""
    from pyautoattack.square import SquareAttack

    class EOTSquareAttack(SquareAttack):
        def __init__(self, model: nn.Module, samples: int, **kw) -> None:
            super().__init__(model, **kw)  # its predict() is never called: attack_single_run only
            self.net, self.samples = model, samples

        def margin_and_loss(self, x, y):
            return eot_margin_and_loss(self.net, x, y, self.samples, self.loss)

    return EOTSquareAttack


def eot_margin_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int,
                        loss: str = "ce") -> tuple[torch.Tensor, torch.Tensor]:
    """Square's (margin, loss) per example over ``samples`` draws.

    margin = log p̄_y − max_{j≠y} log p̄_j of the MC-averaged softmax p̄: what
    the protocol judges, so an example stops only when the averaged
    prediction is wrong (neither one lucky draw nor a negative mean logit
    margin while most draws still vote right). loss, which Square lowers, is
    the mean over the draws of the per-draw value: −CE ('ce') or the logit
    margin z_y − max_{j≠y} z_j ('margin')."""
    with torch.no_grad():
        z = draw_logits(model, x, samples).float()
        s = z.shape[0]
        ys = y.expand(s, -1)
        mask = F.one_hot(y, z.shape[-1]).bool()
        logp = torch.logsumexp(torch.log_softmax(z, -1), 0)  # log p̄ + log S: the constant cancels
        margin = logp.gather(1, y[:, None]).squeeze(1) - logp.masked_fill(mask, float("-inf")).amax(1)
        if loss == "ce":
            return margin, -F.cross_entropy(z.flatten(0, 1), ys.flatten(), reduction="none").view(s, -1).mean(0)
        real = z.gather(2, ys[..., None]).squeeze(-1)
        return margin, (real - z.masked_fill(mask.expand_as(z), float("-inf")).amax(-1)).mean(0)


@register_attack("eot-square", eot_samples=20)
@dataclass(frozen=True)
class EOTSquareSpec(SquareSpec):
    """Square (pyautoattack) whose every query is scored on ``eot_samples`` draws:
    the loss it lowers is the per-draw ``loss`` (−CE or the logit margin)
    averaged over the draws, and an example stops only once the MC-averaged
    prediction is wrong (:func:`eot_margin_and_loss`). Returns every example's
    best point, so the MC re-judging decides; a restart retries the examples
    the averaged prediction still gets right."""

    loss: str = "ce"

    choices = {"loss": ("ce", "margin")}

    def _run(self, model, x, y, eot_samples):
        best = x.clone()
        todo = torch.ones(len(x), dtype=torch.bool, device=x.device)
        with capture_messages(self.last_messages, ("auto-attack",)), torch.no_grad():
            atk = _eot_square_class()(model, eot_samples, norm=self.norm, n_queries=self.n_queries, eps=float(self.eps),
                                      p_init=self.p_init, n_restarts=1, seed=self.seed, verbose=False, device=x.device,
                                      loss=self.loss)
            atk.init_hyperparam(x)
            for _ in range(self.n_restarts):
                idx = todo.nonzero().flatten()
                if idx.numel() == 0:
                    break
                _, best[idx] = atk.attack_single_run(x[idx], y[idx])
                margin, _ = eot_margin_and_loss(model, best[idx], y[idx], eot_samples, self.loss)
                todo[idx[margin <= 0]] = False
        return best


@dataclass(frozen=True)
class _TransferSpec(AttackSpec):
    """APGD-CE (``n_iter`` steps, the highest-loss point of every example)
    crafted on a surrogate of the same network, judged on the stochastic model."""

    norms = ("Linf", "L2")
    n_iter: int = 100

    def validate(self) -> None:
        super().validate()
        check_int(self.name, "n_iter", self.n_iter, 1)

    def _apgd(self, source: nn.Module, x, y):
        from pyautoattack.autopgd_base import APGDAttack

        with capture_messages(self.last_messages, ("auto-attack",)):
            apgd = APGDAttack(source, n_iter=self.n_iter, norm=self.norm, n_restarts=1, eps=float(self.eps),
                              seed=self.seed, loss="ce", device=x.device)
            return apgd.perturb(x, y, best_loss=True)


@register_attack("transfer-sigma0")
@dataclass(frozen=True)
class TransferSigma0Spec(_TransferSpec):
    """Transfer from the same network with every noise source switched off (σ = 0)."""

    def gradient_text(self, eot: int) -> str:
        return "transfer from σ=0"

    def _run(self, model, x, y, eot_samples):
        with noise_off(model):
            return self._apgd(model, x, y)


@register_attack("transfer-expectation", eot_samples=20)
@dataclass(frozen=True)
class TransferExpectationSpec(_TransferSpec):
    """Transfer from the model's expectation: the log of the softmax averaged over
    ``eot_samples`` draws (fresh draws at every APGD step)."""

    supports_eot = True

    def gradient_text(self, eot: int) -> str:
        return f"transfer from EOT-{eot} expectation"

    def _run(self, model, x, y, eot_samples):
        return self._apgd(ExpectationModel(model, eot_samples), x, y)
