"""Head-only Expectation over Transformation (EOT).

Every model is ``head(trunk(x))`` with all noise in the head, so the expected
loss over S noise draws needs the (expensive) trunk only once: its features
are repeated S times along the batch and the head runs on the (S·B, D) block,
each row drawing its own noise. Backpropagating the averaged loss gives the
EOT gradient at the cost of one trunk forward/backward. Models with
``noise_in_trunk`` fall back to S full passes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..stochastic import mc_logprobs

LOSSES = ("ce", "cw")


def per_example_loss(logits: torch.Tensor, y: torch.Tensor, loss: str = "ce", kappa: float = 0.0) -> torch.Tensor:
    """Loss to *maximise*, one value per row: cross-entropy, or the C&W margin
    ``max_{j≠y} z_j − z_y`` clamped at ``kappa`` from above (as in C&W's f)."""
    if loss == "ce":
        return F.cross_entropy(logits.float(), y, reduction="none")
    if loss == "cw":
        z = logits.float()
        real = z.gather(1, y[:, None]).squeeze(1)
        other = z.masked_fill(F.one_hot(y, z.shape[1]).bool(), float("-inf")).amax(1)
        return torch.clamp(other - real, max=kappa)
    raise ConfigError(f"EOT loss {loss!r} is unknown; use one of {', '.join(LOSSES)}")


def eot_loss_and_grad(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, samples: int, loss: str = "ce", kappa: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, ∂loss/∂x) of the mean over ``samples`` noise draws of the
    batch-summed per-draw loss. The trunk runs once (unless ``noise_in_trunk``)."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"EOT samples {samples!r} is invalid; it must be an integer ≥ 1")
    x = x.detach().requires_grad_(True)
    if getattr(model, "noise_in_trunk", False):
        total = sum(per_example_loss(model(x), y, loss, kappa).sum() for _ in range(samples)) / samples
    else:
        h = model.trunk(x)
        hs = h.repeat((samples,) + (1,) * (h.dim() - 1)) if samples > 1 else h
        logits = model.head(hs)
        ys = y.repeat(samples) if samples > 1 else y
        total = per_example_loss(logits, ys, loss, kappa).sum() / samples
    (grad,) = torch.autograd.grad(total, x)
    return total.detach(), grad.detach()


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
