"""Generated toy data: ``moons``, two interleaving half circles in 2-D (for decision-boundary pictures)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import Dataset, Split
from .registry import register_dataset


def make_moons(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (label 0 upper, 1 lower) with Gaussian noise, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = rng.uniform(0.0, np.pi, n_upper)
    t_lower = rng.uniform(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    order = rng.permutation(n)
    return torch.from_numpy(x[order].astype(np.float32)), torch.from_numpy(y[order])


@register_dataset("moons", "two interleaving half moons in 2-D (2,000 + 1,000 points, generated)",
                  layout="none: generated on the fly (--data-root is ignored)", augment="none", test_size=1000)
def load_moons(root: Path, download: bool) -> Dataset:
    """Generated two-moons points (noise 0.1, fixed seeds); ``root`` and ``download`` are ignored."""
    x_train, y_train = make_moons(2000, 0.1, seed=0)
    x_test, y_test = make_moons(1000, 0.1, seed=1)
    return Dataset(
        name="moons",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        num_classes=2,
        in_channels=2,
        input_size=1,
        mean=None,
        std=None,
        classes=["upper", "lower"],
    )
