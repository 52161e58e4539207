"""A network this tool did not build, as the protocol sees it: honest about its mode, its
device and its noise.

:func:`wrap_model` sets the mode the caller chose (``eval``, ``train`` or
``as-is``) and restores every module's own mode afterwards; it never moves the
model (:func:`model_device` refuses a ``device`` that is not where the model
is). Whether the model is stochastic is measured: its own noise modules, or two
passes on the same inputs that differ (dropout left on, ``torch.randn`` in
``forward``). A ``stochastic=`` declaration that contradicts the measurement is
refused in one sentence, so a row's label ("single pass" or "EOT-20") is always
what happened.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn

from ..attacks import rng_isolated
from ..errors import ConfigError
from ..stochastic import noise_modules

#: inputs the checks feed the model (its shape, its noise)
PROBE = 8
MODES = ("eval", "train", "as-is")


class OpaqueNoise(nn.Module):
    """Marks a network whose noise is inside its own ``forward``: it counts as
    stochastic, but its noise cannot be switched off (σ = 0 surrogates refuse)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    @property
    def noise_enabled(self) -> bool:
        return True

    @noise_enabled.setter
    def noise_enabled(self, on: bool) -> None:
        if not on:
            from ..evaluation.suite import STOCHASTIC_MEMBERS

            others = ",".join(m for m in STOCHASTIC_MEMBERS if m != "transfer-sigma0")
            raise ConfigError(f"{self.label}'s noise lives inside its own forward and cannot be switched off, so "
                              "σ = 0 transfer does not apply; give its noise modules a `noise_enabled` switch, or leave "
                              f"transfer-sigma0 out (for the suite: --param adaptive.members={others})")


class ForeignModel(nn.Module):
    """A user's network (after an optional preprocessing step) with full-pass MC and EOT. Its
    ``train()``/``eval()`` leave the network's modes alone: they were chosen once, by ``mode``."""

    #: no trunk/head split: MC prediction and EOT average full forward passes
    noise_in_trunk = True

    def __init__(self, net: nn.Module, *, stochastic: bool, label: str = "the model",
                 preprocess: nn.Module | None = None) -> None:
        super().__init__()
        self.net = net
        self.pre = preprocess
        if stochastic and not any(m.noise_enabled for m in noise_modules(net)):
            self.opaque_noise = OpaqueNoise(label)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pre(x) if self.pre is not None else x)

    def train(self, mode: bool = True) -> "ForeignModel":
        self.training = mode
        return self


def model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """Where ``model`` is; a different ``device`` is refused rather than moving the caller's model."""
    t = next(iter(model.parameters()), None)
    t = t if t is not None else next(iter(model.buffers()), None)
    here = t.device if t is not None else torch.device("cpu")
    if device is not None and torch.device(device) != here and not (
            torch.device(device).type == here.type and torch.device(device).index is None):
        raise ConfigError(f"the model is on {here} but device={str(device)!r}; move it yourself (model.to(...)) "
                          "or leave device out: the evaluation runs where the model is")
    return here


def _set_mode(net: nn.Module, mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)} (eval: dropout and batch norm as deployed; "
                          f"as-is: the modes the model has now), got {mode!r}")
    if mode != "as-is":
        net.train(mode == "train")


def preprocessing(normalize: tuple | None, preprocess: nn.Module | None, device: torch.device) -> nn.Module | None:
    """``normalize=(mean, std)`` as a module (per channel), or the caller's own ``preprocess`` module."""
    if normalize is not None and preprocess is not None:
        raise ConfigError("give normalize=(mean, std) or preprocess=, not both")
    if normalize is None:
        return preprocess
    from ..models.base import Normalize

    try:
        mean, std = (tuple(float(v) for v in part) for part in normalize)
    except (TypeError, ValueError):
        raise ConfigError(f"normalize must be (mean, std), one number per channel each, e.g. "
                          f"((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)); got {normalize!r}") from None
    if len(mean) != len(std) or not mean or min(std) <= 0:
        raise ConfigError(f"normalize needs as many means as positive stds, got {normalize!r}")
    return Normalize(mean, std).to(device)


def prepare(net: nn.Module, x: torch.Tensor, num_classes: int | None, stochastic: bool | None, label: str, *,
            mode: str = "eval", normalize: tuple | None = None, preprocess: nn.Module | None = None) -> ForeignModel:
    """``net`` in ``mode``, checked on ``x`` (logits of the right shape), its noise measured."""
    if isinstance(net, ForeignModel):
        return net
    _set_mode(net, mode)
    pre = preprocessing(normalize, preprocess, x.device)
    first, second = _two_passes(lambda v: net(pre(v) if pre is not None else v), x, label)
    if first.dim() != 2 or first.shape[0] != x.shape[0] or (num_classes and first.shape[1] != num_classes):
        want = f"({x.shape[0]}, {num_classes or 'classes'})"
        raise ConfigError(f"{label} returned {tuple(first.shape)} for {x.shape[0]} inputs of shape "
                          f"{tuple(x.shape[1:])}; it must return logits of shape {want}")
    measured = any(m.noise_enabled for m in noise_modules(net)) or not torch.equal(first, second)
    if stochastic is not None and bool(stochastic) != measured:
        raise ConfigError(_contradiction(label, bool(stochastic), mode))
    return ForeignModel(net, stochastic=measured, label=label, preprocess=pre)


def _contradiction(label: str, declared: bool, mode: str) -> str:
    if declared:
        return (f"stochastic=True, but two passes of {label} on the same inputs gave identical logits in mode "
                f"{mode!r}: it is deterministic there (dropout is off in eval mode: use mode='as-is' or 'train' "
                "to keep it on), so its rows would be mislabelled; leave stochastic out to let the measurement decide")
    return (f"stochastic=False, but two passes of {label} on the same inputs differ in mode {mode!r} (noise in "
            "forward, or dropout left on): use mode='eval' to switch dropout off, or leave stochastic out")


@contextlib.contextmanager
def wrap_model(net: nn.Module, x: torch.Tensor, num_classes: int | None, stochastic: bool | None, label: str,
               **kw) -> Iterator[ForeignModel]:
    """:func:`prepare` for the block; afterwards every module of ``net`` has its own mode back."""
    modes = [(m, m.training) for m in net.modules()]
    try:
        yield prepare(net, x, num_classes, stochastic, label, **kw)
    finally:
        for m, was in modes:
            m.training = was


def _two_passes(fn, x: torch.Tensor, label: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two forward passes on the same input with different noise seeds (caller's RNG untouched)."""
    outs = []
    try:
        with torch.no_grad():
            for seed in (1, 2):
                with rng_isolated(x.device, seed):
                    outs.append(fn(x))
    except Exception as e:  # the user's code: its failure is one sentence naming the input it got
        raise ConfigError(f"{label} failed on inputs of shape {tuple(x.shape)} in [0, 1] "
                          f"({type(e).__name__}: {str(e)[:160]})") from None
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise ConfigError(f"{label} returned a {type(outs[0]).__name__}, not a tensor of logits")
    return outs[0].float(), outs[1].float()
