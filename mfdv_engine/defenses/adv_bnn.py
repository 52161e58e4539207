"""``adv-bnn``: Adversarially trained Bayesian neural network (Liu, Li, Wu & Hsieh, ICLR 2019).

Every ``nn.Conv2d`` and ``nn.Linear`` of the model becomes a Bayesian layer
with a factorised Gaussian posterior q(w) = N(μ, σ²), σ = exp(log σ), prior
p(w) = N(0, σ0²). μ starts from the backbone's initialisation, log σ at
``init_log_sigma``. The loss is the adversarial ELBO

    CE(f_w(x_adv), y) + kl_weight · KL(q ‖ p) / N_train,
    KL(q ‖ p) = Σ_layers Σ_i [ ln(σ0/σ_i) + (σ_i² + μ_i²)/(2σ0²) − 1/2 ],

w ~ q drawn independently for every example: convolutions as one grouped
convolution with per-example kernels, linear layers with the local
reparameterisation (exact per-example: the outputs of one linear layer are
independent given its input). log σ gets no weight decay.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..validate import SCALE_MAX, WEIGHT_MAX
from ._common import (AdvTrainParams, adversarial_ce, check_number, conv2d_per_example,
                      no_decay, replace_modules)
from .base import Defense, register_defense


class _Bayes(nn.Module):
    noise_enabled: bool

    def _init_bayes(self, weight: torch.Tensor, bias: torch.Tensor | None, init_log_sigma: float,
                    prior_sigma: float) -> None:
        self.weight_mu = nn.Parameter(weight.detach().clone())
        self.weight_log_sigma = nn.Parameter(torch.full_like(weight.detach(), float(init_log_sigma)))
        names = ["weight_log_sigma"]
        if bias is not None:
            self.bias_mu = nn.Parameter(bias.detach().clone())
            self.bias_log_sigma = nn.Parameter(torch.full_like(bias.detach(), float(init_log_sigma)))
            names.append("bias_log_sigma")
        else:
            self.bias_mu = None
            self.bias_log_sigma = None
        no_decay(self, *names)
        self.prior_sigma = float(prior_sigma)
        self.noise_enabled = True

    def kl(self) -> torch.Tensor:
        """KL(N(μ, σ²) ‖ N(0, σ0²)) summed over this layer's weights and bias."""
        total = _gauss_kl(self.weight_mu, self.weight_log_sigma, self.prior_sigma)
        if self.bias_mu is not None:
            total = total + _gauss_kl(self.bias_mu, self.bias_log_sigma, self.prior_sigma)
        return total


def _gauss_kl(mu: torch.Tensor, log_sigma: torch.Tensor, sigma0: float) -> torch.Tensor:
    mu, log_sigma = mu.float(), log_sigma.float()
    return (math.log(sigma0) - log_sigma + (torch.exp(2 * log_sigma) + mu.pow(2)) / (2 * sigma0 ** 2) - 0.5).sum()


class BayesConv2d(_Bayes):
    def __init__(self, conv: nn.Conv2d, *, init_log_sigma: float, prior_sigma: float) -> None:
        super().__init__()
        self.conv = conv  # geometry only (stride, padding, groups)
        self._init_bayes(conv.weight, conv.bias, init_log_sigma, prior_sigma)
        # the wrapped conv's own tensors are replaced by μ; drop them from the parameter list
        del conv.weight
        conv.register_parameter("weight", None)
        if conv.bias is not None:
            del conv.bias
            conv.register_parameter("bias", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if not self.noise_enabled:
            return F.conv2d(x, self.weight_mu.to(x.dtype), None if self.bias_mu is None else self.bias_mu.to(x.dtype),
                            c.stride, c.padding, c.dilation, c.groups)
        B = x.shape[0]
        eps = torch.randn((B,) + tuple(self.weight_mu.shape), device=x.device, dtype=self.weight_mu.dtype)
        w = self.weight_mu + torch.exp(self.weight_log_sigma) * eps
        b = None
        if self.bias_mu is not None:
            b = self.bias_mu + torch.exp(self.bias_log_sigma) * torch.randn(
                (B,) + tuple(self.bias_mu.shape), device=x.device, dtype=self.bias_mu.dtype)
            b = b.to(x.dtype)
        return conv2d_per_example(x, w.to(x.dtype), b, c)

    def extra_repr(self) -> str:
        return f"prior_sigma={self.prior_sigma}"


class BayesLinear(_Bayes):
    def __init__(self, lin: nn.Linear, *, init_log_sigma: float, prior_sigma: float) -> None:
        super().__init__()
        self.in_features, self.out_features = lin.in_features, lin.out_features
        self._init_bayes(lin.weight, lin.bias, init_log_sigma, prior_sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu_b = None if self.bias_mu is None else self.bias_mu.to(x.dtype)
        mean = F.linear(x, self.weight_mu.to(x.dtype), mu_b)
        if not self.noise_enabled:
            return mean
        # local reparameterisation: out_o ~ N(x·μ_o + b_o, Σ_i x_i² σ_oi² + σ_bo²), one draw per example
        var = F.linear(x.float().pow(2), torch.exp(2 * self.weight_log_sigma.float()))
        if self.bias_log_sigma is not None:
            var = var + torch.exp(2 * self.bias_log_sigma.float())
        return mean + (torch.sqrt(var + 1e-16) * torch.randn_like(var)).to(mean.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, prior_sigma={self.prior_sigma}"


def bayes_layers(model: nn.Module) -> list[_Bayes]:
    return [m for m in model.modules() if isinstance(m, _Bayes)]


def model_kl(model: nn.Module) -> torch.Tensor:
    """KL(q ‖ p) summed over *all* Bayesian layers of ``model``."""
    terms = [m.kl() for m in bayes_layers(model)]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


def bayesify(model: nn.Module, *, init_log_sigma: float, prior_sigma: float) -> list[str]:
    def make(_n: str, m: nn.Module) -> nn.Module:
        if isinstance(m, nn.Conv2d):
            return BayesConv2d(m, init_log_sigma=init_log_sigma, prior_sigma=prior_sigma)
        return BayesLinear(m, init_log_sigma=init_log_sigma, prior_sigma=prior_sigma)

    return replace_modules(model, lambda n, m: type(m) in (nn.Conv2d, nn.Linear), make)


@dataclass
class AdvBnnParams(AdvTrainParams):
    #: prior standard deviation σ0 of every weight
    prior_sigma: float = 0.1
    #: initial log σ of the posterior
    init_log_sigma: float = -5.0
    #: weight of KL / N_train in the loss (the authors' ``alpha``)
    kl_weight: float = 1.0

    _defense_name = "adv-bnn"

    def validate(self) -> None:
        super().validate()
        check_number("adv-bnn", "prior_sigma", self.prior_sigma, lo=0, lo_open=True, hi=SCALE_MAX)
        check_number("adv-bnn", "init_log_sigma", self.init_log_sigma, lo=-20, hi=5)  # σ from 2e-9 to 148
        check_number("adv-bnn", "kl_weight", self.kl_weight, lo=0, hi=WEIGHT_MAX)


@register_defense
class AdvBnnDefense(Defense):
    name = "adv-bnn"
    description = "Adv-BNN: Bayesian conv/linear layers (learned σ per weight), PGD-AT + KL/N_train."
    Params = AdvBnnParams
    divergence_hint = "kl_weight or the learning rate is probably too large; lower them"

    placement, noise_in_trunk = "none", True

    def add_noise(self, model: nn.Module, dataset: Any, p: AdvBnnParams) -> None:
        bayesify(model, init_log_sigma=p.init_log_sigma, prior_sigma=p.prior_sigma)
        model.n_train = max(len(dataset.train), 1)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, params: AdvBnnParams):
        ce, logits = adversarial_ce(model, x, y, params)
        reg = params.kl_weight * model_kl(model).to(ce.device) / getattr(model, "n_train", 1)
        return ce + reg, {"ce": ce, "reg": reg, "logits": logits}
