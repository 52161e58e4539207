"""Per-data-set defaults, in one table: what a 28×28 grey digit and a 32×32
colour photo need differs (MNIST's pixels are mostly exactly 0 or 1).

Data sets are recognised by their input shape, so a data set the registry
does not know gets the defaults of the family it looks like.
"""
from __future__ import annotations

from typing import Sequence

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
