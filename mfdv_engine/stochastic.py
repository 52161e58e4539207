"""The MFDV stochastic layer, its regulariser and Monte-Carlo prediction.

Paper, section 3: a feature h is replaced by h + σ ⊙ ε with ε ~ N(0, I) drawn
fresh for every example, σ a learned per-feature scale initialised from
Uniform(0, 1). The loss adds −λ1·Σ ln σ_i so that σ keeps growing until the
cross-entropy pushes back (gradient −λ1/σ_i).
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

#: σ is projected back to at least this value after every optimiser step and
#: at initialisation, so ln σ stays finite (draws of U(0, 1) below it are rare).
SIGMA_FLOOR = 1e-3


class StochasticLayer(nn.Module):
    """Adds per-example zero-mean Gaussian noise with a learned per-feature σ.

    ``sigma`` itself is the parameter (not log σ), so the regulariser's
    gradient is exactly −λ1/σ_i as the paper states. Noise stays on in eval
    mode: the stochasticity *is* the defense. ``noise_enabled = False`` is the
    σ = 0 ablation. ``regularised`` says whether −λ1 ln σ covers this layer
    (Table 9's ``linear12(1)`` regularises only the penultimate one).
    """

    #: σ must not be weight-decayed: it would fight the term that makes it grow
    _no_weight_decay_params = ("sigma",)

    def __init__(self, dim: int, *, regularised: bool = True) -> None:
        super().__init__()
        if dim <= 0:
            raise ValueError(f"StochasticLayer needs a positive dimension, got {dim}")
        self.dim = dim
        self.sigma = nn.Parameter(torch.empty(dim))
        self.regularised = regularised
        self.noise_enabled = True
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.sigma.uniform_(0.0, 1.0).clamp_(min=SIGMA_FLOOR)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.noise_enabled:
            return h
        # (B, D): a fresh draw for every example; one fused op and one autograd
        # node, because next to a small network's step the extra nodes show
        return torch.addcmul(h, torch.randn_like(h), self.sigma.to(h.dtype))

    @torch.no_grad()
    def project_(self) -> None:
        """Keep σ strictly positive after an optimiser step."""
        self.sigma.clamp_(min=SIGMA_FLOOR)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, regularised={self.regularised}"


def stochastic_layers(model: nn.Module) -> list[StochasticLayer]:
    return [m for m in model.modules() if isinstance(m, StochasticLayer)]


def named_stochastic_layers(model: nn.Module) -> Iterator[tuple[str, StochasticLayer]]:
    for name, m in model.named_modules():
        if isinstance(m, StochasticLayer):
            yield name, m


def mfdv_regulariser(model: nn.Module, lambda1: float) -> torch.Tensor:
    """−λ1·Σ ln σ_i summed over *every* regularised stochastic layer of ``model``."""
    terms = [torch.log(layer.sigma).sum() for layer in stochastic_layers(model) if layer.regularised]
    if not terms:
        return torch.zeros((), device=_device_of(model))
    return -lambda1 * torch.stack(terms).sum()


def noise_modules(model: nn.Module) -> list[nn.Module]:
    """Every module that injects noise (MFDV layers and the baseline defenses' noise modules)."""
    return [m for m in model.modules() if hasattr(m, "noise_enabled")]


def set_noise(model: nn.Module, enabled: bool) -> None:
    """Switch every noise source on or off (off = the σ = 0 ablation)."""
    for m in noise_modules(model):
        m.noise_enabled = enabled


@contextlib.contextmanager
def noise_off(model: nn.Module) -> Iterator[nn.Module]:
    """The model with every noise source off (σ = 0) inside the block; each
    module's own switch is restored afterwards, whatever it was."""
    mods = noise_modules(model)
    before = [m.noise_enabled for m in mods]
    try:
        for m in mods:
            m.noise_enabled = False
        yield model
    finally:
        for m, was in zip(mods, before):
            m.noise_enabled = was


def project_sigmas(model: nn.Module) -> None:
    for layer in stochastic_layers(model):
        layer.project_()


@torch.no_grad()
def sigma_stats(model: nn.Module) -> dict[str, tuple[float, float, float]]:
    """(mean, min, max) of σ per stochastic layer, keyed by module name."""
    out = {}
    for name, layer in named_stochastic_layers(model):
        s = layer.sigma.detach().float()
        out[name] = (s.mean().item(), s.min().item(), s.max().item())
    return out


def is_stochastic(model: nn.Module) -> bool:
    return any(m.noise_enabled for m in noise_modules(model))


def mc_logprobs(model: nn.Module, x: torch.Tensor, samples: int = 15) -> torch.Tensor:
    """log of the Monte-Carlo averaged softmax, differentiable w.r.t. ``x``.

    One trunk pass serves all samples: the trunk's features are repeated
    ``samples`` times along the batch and the head runs once on the (S·B, D)
    block, each row getting its own noise. This is the exact distribution of
    S full forward passes when the trunk is deterministic. Models whose noise
    lives in the trunk (``noise_in_trunk``) fall back to S full passes.
    """
    if samples < 1:
        raise ValueError(f"samples must be at least 1, got {samples}")
    logp = torch.log_softmax(noise_draws(model, x, samples).float(), dim=-1)
    return torch.logsumexp(logp, dim=0) - torch.log(torch.tensor(float(samples), device=logp.device))


def noise_draws(model: nn.Module, x: torch.Tensor, samples: int) -> torch.Tensor:
    """(samples, B, C) logits, each draw with its own noise: one trunk pass and the head on the
    repeated features where the noise is all in the head, else a full pass per draw."""
    if getattr(model, "noise_in_trunk", False) or not hasattr(model, "trunk"):
        return torch.stack([model(x) for _ in range(samples)])
    h = model.trunk(x)
    return model.head(h.repeat((samples,) + (1,) * (h.dim() - 1))).view(samples, x.shape[0], -1)


def mc_predict(model: nn.Module, x: torch.Tensor, samples: int = 15) -> torch.Tensor:
    """Monte-Carlo averaged class probabilities (B, C) over ``samples`` noise draws."""
    with torch.no_grad():
        return mc_logprobs(model, x, samples).exp()


def _device_of(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")
