"""Where the learned noise sits: beside the features it is added to, and at the logits.

A large σ says little by itself. −λ1·Σ ln σ rewards σ on every feature, and on a
feature the next layer does not use (one that ReLU has switched off for every input)
noise costs the classifier nothing. So a run can report σ ≈ 5 and still predict as
if it had none. This measures, per stochastic layer, σ on the features that vary
across examples ("live": their standard deviation, with every noise off, above
:data:`LIVE_FRACTION` of the layer's mean) and on the others; and for the model,
how much the logits wobble across noise draws against how much they differ
between examples, with the accuracy of one draw, of the MC average and with σ = 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..attacks import rng_isolated
from ..errors import ConfigError
from ..stochastic import mc_predict, named_stochastic_layers, noise_draws
from .rows import to_float

#: a feature is live when its std over examples exceeds this fraction of its layer's mean std
LIVE_FRACTION = 0.05


@dataclass
class LayerNoise:
    name: str
    dim: int
    live: int                       # features that vary across examples
    sigma_mean: float
    sigma_live: float | None        # mean σ over the live features (None: none is live)
    sigma_dead: float | None        # mean σ over the others (None: every feature is live)
    noise_to_signal: float | None   # median over live features of σ / (their std over examples)


@dataclass
class NoiseReport:
    run_id: str
    n: int
    draws: int
    mc_samples: int
    seed: int
    layers: list[LayerNoise]
    acc_one_draw: float
    acc_mc: float
    acc_noise_off: float
    logit_noise_sd: float     # std of a logit across noise draws (mean over examples and classes)
    logit_spread_sd: float    # std of a noise-off logit across examples (mean over classes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as a reader wants it: one line per layer, then the logits and the accuracies."""
        out = [f"noise of run {self.run_id} on the first {self.n} test examples (seed {self.seed}); a feature is "
               f"live when its std over examples (noise off) exceeds {LIVE_FRACTION:.0%} of its layer's mean"]
        for L in self.layers:
            out.append(f"  {L.name}: {L.live}/{L.dim} features live; σ mean {L.sigma_mean:.3g} "
                       f"(live {_num(L.sigma_live)}, others {_num(L.sigma_dead)}); median σ/std over live features "
                       f"{_num(L.noise_to_signal)}")
        out.append(f"  logits: std across {self.draws} noise draws {self.logit_noise_sd:.3g}, across examples "
                   f"(noise off) {self.logit_spread_sd:.3g}")
        out.append(f"  accuracy: one draw {self.acc_one_draw:.1%}, MC-{self.mc_samples} {self.acc_mc:.1%}, "
                   f"σ = 0 {self.acc_noise_off:.1%}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.3g}"


def measure_noise(model: torch.nn.Module, split, *, run_id: str = "", draws: int = 20, mc_samples: int = 15,
                  seed: int = 0, device: torch.device, batch_size: int = 250) -> NoiseReport:
    """The noise report of ``model`` (eval mode) on ``split`` (all of it: subset it first)."""
    layers = list(named_stochastic_layers(model))
    if not layers:
        raise ConfigError(f"run {run_id or '(model)'} has no learned-variance layer, so there is no σ to measure "
                          "(a plain or adversarially trained network, or a defense with its own fixed noise)")
    if draws < 2 or mc_samples < 1:
        raise ConfigError(f"noise needs at least 2 draws and 1 MC sample; got draws={draws}, mc_samples={mc_samples}")
    stats = _Stats(len(layers))
    with rng_isolated(device, seed), torch.no_grad():
        for i in range(0, len(split), batch_size):
            x = to_float(split.x[i:i + batch_size]).to(device)
            y = split.y[i:i + batch_size].to(device)
            stats.add(model, layers, x, y, draws, mc_samples)
    return stats.report(run_id, layers, len(split), draws, mc_samples, seed)


class _Stats:
    """Running sums over batches (float64), so any n fits in memory."""

    def __init__(self, k: int) -> None:
        self.feat = [[0.0, 0.0, 0.0] for _ in range(k)]   # count, Σh, Σh² per layer (tensors once seen)
        self.logit = [0.0, 0.0, 0.0]                        # count, Σz, Σz² of noise-off logits
        self.wobble = 0.0                                   # Σ over examples of the mean per-class draw std
        self.right = {"one": 0, "mc": 0, "off": 0}

    def add(self, model, layers, x, y, draws: int, mc_samples: int) -> None:
        seen: dict[int, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda mod, inp, out, j=j: seen.__setitem__(j, inp[0]))
                 for j, (_, m) in enumerate(layers)]
        try:
            _set_noise(layers, False)
            off = model(x).double()
        finally:
            _set_noise(layers, True)
            for h in hooks:
                h.remove()
        for j, h in seen.items():
            h = h.double().reshape(-1, h.shape[-1])
            acc = self.feat[j]
            acc[0] += h.shape[0]
            acc[1] = acc[1] + h.sum(0)
            acc[2] = acc[2] + h.pow(2).sum(0)
        self.logit = [self.logit[0] + len(x), self.logit[1] + off.sum(0), self.logit[2] + off.pow(2).sum(0)]
        zs = noise_draws(model, x, draws).double()
        self.wobble += float(zs.std(0).mean(1).sum())
        self.right["one"] += int((zs[0].argmax(1) == y).sum())
        self.right["mc"] += int((mc_predict(model, x, mc_samples).argmax(1) == y).sum())
        self.right["off"] += int((off.argmax(1) == y).sum())

    def report(self, run_id, layers, n: int, draws: int, mc_samples: int, seed: int) -> NoiseReport:
        out = []
        for (name, layer), (cnt, s, ss) in zip(layers, self.feat):
            std = (ss / cnt - (s / cnt) ** 2).clamp_min(0).sqrt()
            live = std > LIVE_FRACTION * std.mean()
            sigma = layer.sigma.detach().double().cpu()
            std = std.cpu()
            live = live.cpu()
            out.append(LayerNoise(
                name=name, dim=int(sigma.numel()), live=int(live.sum()), sigma_mean=float(sigma.mean()),
                sigma_live=float(sigma[live].mean()) if live.any() else None,
                sigma_dead=float(sigma[~live].mean()) if (~live).any() else None,
                noise_to_signal=float((sigma[live] / std[live]).median()) if live.any() else None))
        cnt, s, ss = self.logit
        spread = (ss / cnt - (s / cnt) ** 2).clamp_min(0).sqrt().mean()
        return NoiseReport(run_id=run_id, n=n, draws=draws, mc_samples=mc_samples, seed=seed, layers=out,
                           acc_one_draw=self.right["one"] / n, acc_mc=self.right["mc"] / n,
                           acc_noise_off=self.right["off"] / n, logit_noise_sd=self.wobble / n,
                           logit_spread_sd=float(spread))


def _set_noise(layers, on: bool) -> None:
    for _, m in layers:
        m.noise_enabled = on
