"""Head-only Expectation over Transformation (EOT).

Every model is ``head(trunk(x))`` with all noise in the head, so the expected
loss over S noise draws needs the (expensive) trunk only once: its features
are repeated S times along the batch and the head runs on the (S·B, D) block,
each row drawing its own noise. Backpropagating the averaged loss gives the
EOT gradient at the cost of one trunk forward/backward. Models with
``noise_in_trunk`` fall back to S full passes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..stochastic import mc_logprobs

LOSSES = ("ce", "cw", "dlr")


def per_example_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce", kappa: float = 0.0) -> torch.Tensor:
    """Loss to *maximise*, one value per row: cross-entropy; the C&W margin
    ``max_{j≠y} z_j − z_y`` clamped at ``kappa`` from above (as in C&W's f); or
    AutoAttack's DLR margin ``−(z_y − max_{j≠y} z_j) / (z_π1 − z_π3)``."""
    if loss == "ce":
        return F.cross_entropy(logits.float(), y, reduction="none")
    if loss in ("cw", "dlr"):
        z = logits.float()
        real = z.gather(1, y[:, None]).squeeze(1)
        other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
        if loss == "cw":
            return torch.clamp(other - real, max=kappa)
        top = z.sort(dim=1, descending=True).values
        return (other - real) / (top[:, 0] - top[:, 2] + 1e-12)
    raise ConfigError(f"EOT loss {loss!r} is unknown; use one of {', '.join(LOSSES)}")


def draw_logits(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """(S, B, C) logits of ``samples`` noise draws: one trunk pass and the head on
    the (S·B, D) block, or S full passes for models with ``noise_in_trunk``."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"EOT samples {samples!r} is invalid; it must be an integer ≥ 1")
    if getattr(model, "noise_in_trunk", False):
        return torch.stack([model(x) for _ in range(samples)])
    h = model.trunk(x)
    hs = h.repeat((samples,) + (1,) * (h.dim() - 1)) if samples > 1 else h
    return model.head(hs).view(samples, x.shape[0], -1)


def eot_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int, loss: str = "ce",
              kappa: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits of all draws (S, B, C), per-example loss averaged over the draws (B,),
    ∂(Σ loss)/∂x): the EOT gradient at the cost of one trunk forward/backward."""
    x = x.detach().requires_grad_(True)
    if getattr(model, "noise_in_trunk", False):  # S full passes: one graph at a time
        draws, losses, grad = [], [], torch.zeros_like(x)
        for _ in range(samples):
            with torch.enable_grad():
                z = model(x)
                per = per_example_loss(z, y, loss, kappa)
                grad += torch.autograd.grad(per.sum(), x)[0] / samples
            draws.append(z.detach())
            losses.append(per.detach())
        return torch.stack(draws), torch.stack(losses).mean(0), grad
    with torch.enable_grad():
        z = draw_logits(model, x, samples)
        s, b = z.shape[0], z.shape[1]
        per = per_example_loss(z.flatten(0, 1), y.repeat(s), loss, kappa).view(s, b).mean(0)
        (grad,) = torch.autograd.grad(per.sum(), x)
    return z.detach(), per.detach(), grad.detach()


def eot_loss_and_grad(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int, loss: str = "ce", kappa: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, ∂loss/∂x) of the mean over ``samples`` noise draws of the
    batch-summed per-draw loss. The trunk runs once (unless ``noise_in_trunk``)."""
    _, per, grad = eot_terms(model, x, y, samples, loss, kappa)
    return per.sum(), grad


class ExpectationModel(nn.Module):
    """``forward(x)`` = log of the Monte-Carlo averaged softmax over ``samples``
    draws (one trunk pass). Feeds the *expected* prediction to third-party
    attacks (C&W, Square, ...); its outputs are log-probabilities, which every
    logit-based attack accepts since softmax(log p) = p."""

    def __init__(self, model: nn.Module, samples: int) -> None:
        super().__init__()
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ConfigError(f"EOT samples {samples!r} is invalid; it must be an integer ≥ 1")
        self.model = model
        self.samples = samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return mc_logprobs(self.model, x, self.samples)


class EOTGradients:
    """What pyautoattack's APGD calls instead of the model when ``is_tf_model``
    is set: ``get_logits_loss_grad_*(x, y)`` returning (logits, per-example
    loss, gradient). Here the loss is averaged over ``samples`` noise draws with
    one trunk pass (the EOT gradient), so APGD runs with ``eot_iter = 1``.

    ``judge`` picks the logits APGD uses to record successes: 'draw' (one noisy
    draw, as AutoAttack's ``rand`` version sees the model) or 'mean' (the
    MC-averaged prediction of the same draws). ``margin`` is the loss behind
    APGD's 'dlr' slot: 'dlr' itself or the C&W margin 'cw'."""

    def __init__(self, model: nn.Module, samples: int, *, judge: str = "draw", margin: str = "dlr") -> None:
        self.model, self.samples, self.judge, self.margin = model, samples, judge, margin

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # one draw is all the 'draw' judge looks at
            return self._judged(draw_logits(self.model, x, 1 if self.judge == "draw" else self.samples))

    def get_logits_loss_grad_xent(self, x, y):
        return self._terms(x, y, "ce")

    def get_logits_loss_grad_dlr(self, x, y):
        return self._terms(x, y, self.margin)

    def _terms(self, x, y, loss):
        # the C&W margin unclamped (κ = ∞), as PGD's: clamped at 0 it stops pulling once every draw is fooled
        z, per, grad = eot_terms(self.model, x, y, self.samples, loss, kappa=math.inf)
        return self._judged(z), per, grad

    def _judged(self, z: torch.Tensor) -> torch.Tensor:
        if self.judge == "draw":
            return z[-1]
        return torch.logsumexp(torch.log_softmax(z.float(), -1), 0)  # log-mean-softmax up to a constant


def head_only_apgd(apgd, model: nn.Module, samples: int, *, judge: str = "draw", margin: str = "dlr") -> None:
    """Point a pyautoattack APGD object at head-only EOT gradients over ``samples`` draws."""
    apgd.model = EOTGradients(model, samples, judge=judge, margin=margin)
    apgd.is_tf_model = True
    apgd.eot_iter = 1
