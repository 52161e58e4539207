"""Helpers shared by the baseline defenses: parameter checks, PGD adversarial
batches, module surgery, per-example weight noise and shape inference."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..validate import COUNT_MAX, finite_in, whole_in


# ------------------------------------------------------------------ checks

def check_number(defense: str, name: str, v: Any, *, lo: float, hi: float, lo_open: bool = False,
                 integer: bool = False) -> None:
    """A defense parameter: finite and in [lo, hi] ((lo, hi] with ``lo_open``), or a whole
    number lo … hi with ``integer``; the ranges are listed in :mod:`mfdv_engine.validate`."""
    if integer:
        whole_in(f"defense {defense!r}: {name}", v, int(lo), int(hi))
    else:
        finite_in(f"defense {defense!r}: {name}", v, lo, hi, low_open=lo_open)


def check_choice(defense: str, name: str, v: Any, choices: tuple[str, ...]) -> None:
    if v not in choices:
        raise ConfigError(f"defense {defense!r}: {name} must be one of {', '.join(choices)}; got {v!r}")


def check_bool(defense: str, name: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise ConfigError(f"defense {defense!r}: {name} must be true or false, got {v!r}")


def no_decay(module: nn.Module, *names: str) -> None:
    """Exclude ``module``'s parameters ``names`` from weight decay (see training.param_groups)."""
    module._no_weight_decay_params = tuple(getattr(module, "_no_weight_decay_params", ())) + names


# --------------------------------------------------------- adversarial batches

@dataclass
class AdvTrainParams:
    """Madry-style adversarial training in the L∞ ball (inputs in [0, 1])."""

    eps: float = 8 / 255
    alpha: float = 2 / 255
    steps: int = 10
    random_start: bool = True
    #: "pgd" (Madry et al. 2018) or "fgsm-rs" (Wong et al. 2020: one FGSM
    #: step of 1.25·eps from a uniform random start; alpha and steps unused)
    variant: str = "pgd"
    #: loss = clean_weight·CE(x) + (1 − clean_weight)·CE(x_adv); 0 is Madry's
    clean_weight: float = 0.0

    _defense_name = "pgd-at"
    #: the parameters that take one of a few words (the wizard offers them as a list)
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {"variant": ("pgd", "fgsm-rs")}

    def validate(self) -> None:
        d = self._defense_name
        check_number(d, "eps", self.eps, lo=0, hi=1)
        check_number(d, "alpha", self.alpha, lo=0, lo_open=True, hi=1)
        check_number(d, "steps", self.steps, lo=1, hi=COUNT_MAX, integer=True)
        check_bool(d, "random_start", self.random_start)
        check_choice(d, "variant", self.variant, self.CHOICES["variant"])
        check_number(d, "clean_weight", self.clean_weight, lo=0, hi=1)


def adversarial_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, p: AdvTrainParams) -> torch.Tensor:
    """L∞ PGD / FGSM-RS examples for ``(x, y)``, detached, in [0, 1].

    The model stays in its current mode (train mode during training, as in
    Madry et al.: batch norm normalises with batch statistics). Gradients are
    taken w.r.t. the input only (``torch.autograd.grad``), so parameter
    ``.grad`` is never touched.
    """
    x = x.detach()
    if p.eps == 0:
        return x
    eps = float(p.eps)
    if p.variant == "fgsm-rs":
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp_(0, 1).requires_grad_(True)
        loss = F.cross_entropy(model(x_adv).float(), y)
        (g,) = torch.autograd.grad(loss, x_adv)
        delta = (x_adv.detach() + 1.25 * eps * g.sign() - x).clamp_(-eps, eps)
        return (x + delta).clamp_(0, 1).detach()
    if p.random_start:
        x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp_(0, 1)
    else:
        x_adv = x.clone()
    for _ in range(p.steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv).float(), y)
        (g,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + p.alpha * g.sign()
        x_adv = (x + (x_adv - x).clamp_(-eps, eps)).clamp_(0, 1)
    return x_adv.detach()


def adversarial_ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor, p: AdvTrainParams,
                   adversarial: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, logits) of the AT objective; logits are those of the adversarial batch."""
    if not adversarial:
        logits = model(x)
        return F.cross_entropy(logits.float(), y), logits
    x_adv = adversarial_batch(model, x, y, p)
    logits = model(x_adv)
    ce = F.cross_entropy(logits.float(), y)
    if p.clean_weight > 0:
        ce = p.clean_weight * F.cross_entropy(model(x).float(), y) + (1 - p.clean_weight) * ce
    return ce, logits


# --------------------------------------------------------------- surgery

def replace_modules(root: nn.Module, pick: Callable[[str, nn.Module], bool],
                    make: Callable[[str, nn.Module], nn.Module]) -> list[str]:
    """Replace every submodule for which ``pick(qualified_name, module)`` holds by
    ``make(name, module)`` (in module order, no recursion into replaced ones)."""
    done: list[str] = []

    def visit(parent: nn.Module, prefix: str) -> None:
        for name, child in list(parent.named_children()):
            q = f"{prefix}.{name}" if prefix else name
            if pick(q, child):
                setattr(parent, name, make(q, child))
                done.append(q)
            else:
                visit(child, q)

    visit(root, "")
    return done


_BLOCK_RE = re.compile(r"Block|Bottleneck|Inception")


def is_block(m: nn.Module) -> bool:
    return bool(_BLOCK_RE.search(type(m).__name__))


@torch.no_grad()
def output_shapes(model: nn.Module, names: Iterable[str], dataset: Any) -> dict[str, tuple[int, ...]]:
    """Per-example output shape of the named submodules (one dummy eval forward)."""
    names = set(names)
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for n, m in model.named_modules():
        if n in names:
            hooks.append(m.register_forward_hook(
                lambda _m, _i, out, n=n: shapes.__setitem__(n, tuple(out.shape[1:]))))
    was = model.training
    model.eval()
    try:
        model(torch.zeros(1, dataset.in_channels, dataset.input_size, dataset.input_size))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return shapes


@functools.lru_cache(maxsize=None)
def backbone_has_conv(model_name: str) -> bool:
    from ..models import model_entry

    entry = model_entry(model_name)
    parts = entry.builder(in_channels=1, input_size=entry.default_input_size, mean=(0.5,), std=(0.5,))
    return any(isinstance(m, nn.Conv2d) for m in parts.body.modules())


def require_conv(defense: str, model_name: str) -> None:
    if not backbone_has_conv(model_name):
        raise ConfigError(
            f"defense {defense!r} injects noise at convolution layers, and backbone {model_name!r} has none; "
            "use a convolutional backbone (lenet, resnet20, ...) or a linear-layer defense (mfdv, se-snn, wca)"
        )


# ------------------------------------------------------ per-example weights

def conv2d_per_example(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    """``conv`` applied to each example b with its own ``weight[b]`` (B, O, I/g, k, k)
    and ``bias[b]`` (B, O) or a shared bias (O,): one grouped convolution."""
    if conv.padding_mode != "zeros":
        raise ConfigError(f"per-example weight noise supports zero padding only, got padding_mode={conv.padding_mode!r}")
    B, C, H, W = x.shape
    O = weight.shape[1]
    out = F.conv2d(x.reshape(1, B * C, H, W), weight.reshape(B * O, *weight.shape[2:]), None,
                   conv.stride, conv.padding, conv.dilation, conv.groups * B)
    out = out.view(B, O, out.shape[-2], out.shape[-1])
    if bias is not None:
        out = out + (bias.view(B, O, 1, 1) if bias.dim() == 2 else bias.view(1, O, 1, 1))
    return out


