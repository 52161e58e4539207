"""Per-data-set defaults, in one table: what a 28×28 grey digit and a 32×32
colour photo need differs (MNIST's pixels are mostly exactly 0 or 1).

Data sets are recognised by their input shape, so a data set the registry
does not know gets the defaults of the family it looks like.
"""
from __future__ import annotations

from typing import Sequence

from .errors import ConfigError

#: family → (default Linf ε, C&W learning rate). MNIST-like: 1 channel, 28×28.
#: C&W: the paper's lr 5e-4 cannot move MNIST's saturated pixels within 1,000
#: steps (a plain LeNet stays 89.5 % "robust"); 0.01 fools every plain example.
DEFAULTS = {
    "mnist-like": {"eps": 0.3, "cw_lr": 0.01},
    "cifar-like": {"eps": 8 / 255, "cw_lr": 5e-4},
}


def family(shape: Sequence[int]) -> str:
    """'mnist-like' for (…, 1, 28, 28) inputs (or (…, 28, 28) without a channel axis), else 'cifar-like'."""
    dims = tuple(int(d) for d in shape)
    if dims[-2:] == (28, 28) and (len(dims) < 3 or dims[-3] == 1):
        return "mnist-like"
    return "cifar-like"


#: data sets known by name (the demo set is MNIST digits)
MNIST_LIKE = ("mnist", "demo")


def default_eps(shape: Sequence[int]) -> float:
    return DEFAULTS[family(shape)]["eps"]


def default_eps_for(dataset: str) -> float:
    """The default Linf ε of a data set named in a run's config (before its data is loaded)."""
    return DEFAULTS["mnist-like" if dataset in MNIST_LIKE else "cifar-like"]["eps"]


def cw_lr(shape: Sequence[int]) -> float:
    return DEFAULTS[family(shape)]["cw_lr"]


def eps_text(eps: float | None, norm: str = "Linf") -> str:
    """ε as people write it: a short decimal where one says it exactly (``0.3``, ``0.6``, ``1``),
    else ``8/255`` where it is a whole number of 255ths (L∞ only), else 4 significant digits."""
    if eps is None:
        return ""
    eps = float(eps)
    short = f"{eps:.3g}"
    if abs(float(short) - eps) < 1e-12:
        return short
    k = eps * 255
    if norm == "Linf" and eps > 0 and abs(k - round(k)) < 1e-6:
        return f"{int(round(k))}/255"
    return f"{eps:.4g}"


#: the rule as users read it, wherever ε is asked (CLI help, the studio's attack wizard)
EPS_RULE = "default: 0.3 for MNIST-like data (1×28×28), 8/255 for CIFAR-like"


def parse_eps(text: str | None, name: str = "--eps") -> float | None:
    """ε as typed by a user (``0.3``, ``8/255``); None for empty (the data set's default)."""
    from .config import parse_value

    if text is None or not str(text).strip():
        return None
    v = parse_value(str(text))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{name} must be a number or a fraction such as 8/255, got {text!r}")
    if not 0 <= v <= 1:
        raise ConfigError(f"{name} {text} is outside [0, 1]; inputs are in [0, 1], so use e.g. 8/255 or 0.3")
    return float(v)
