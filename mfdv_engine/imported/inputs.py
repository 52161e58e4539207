"""Data in whatever form a researcher has it, as the test split an evaluation attacks.

:func:`as_split` takes a registry name (``"mnist"``), a loaded ``Dataset`` or
``Split``, an ``(x, y)`` pair of tensors or arrays, a ``TensorDataset``, any
map-style ``torch.utils.data.Dataset`` or a ``DataLoader`` (read until n
examples), and returns the first n examples. Inputs must be images in [0, 1]
(or ``uint8``): the attack's ε is measured there. Normalised inputs are refused
with the way out: pass the raw images and ``normalize=(mean, std)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data import Dataset, Split
from ..errors import ConfigError


def as_split(data: Any, n: int, data_root=None) -> tuple[Split, int | None, float, str]:
    """(the first ``n`` examples, class count or None, the data's default ε, a name for messages)."""
    from ..data import load_dataset
    from ..defaults import default_eps, default_eps_for

    if isinstance(data, str):
        data = load_dataset(data, data_root, limit_test=n, splits=("test",))
    if isinstance(data, Dataset):
        return data.test.subset(n), data.num_classes, default_eps_for(data.name), data.name
    split = data if isinstance(data, Split) else _tensors(data, n)
    split = _checked(split.subset(n))
    return split, None, default_eps(tuple(split.x.shape)), type(data).__name__


def _tensors(data: Any, n: int) -> Split:
    from torch.utils.data import DataLoader, TensorDataset

    if isinstance(data, (tuple, list)) and len(data) == 2:
        return Split(_tensor(data[0], "x"), _labels(data[1]))
    if isinstance(data, TensorDataset):
        if len(data.tensors) < 2:
            raise ConfigError("data: a TensorDataset needs two tensors, inputs and labels")
        return Split(data.tensors[0], _labels(data.tensors[1]))
    if isinstance(data, DataLoader):
        return _from_batches(iter(data), n)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        items = [data[i] for i in range(min(n, len(data)))]
        return _from_batches(iter([_collate(items)]), n)
    raise ConfigError(f"data must be a data-set name ('mnist'), (x, y) tensors, a TensorDataset, a Dataset or a "
                      f"DataLoader; got a {type(data).__name__}")


def _from_batches(batches, n: int) -> Split:
    xs, ys, have = [], [], 0
    for batch in batches:
        if isinstance(batch, dict):
            batch = (batch.get("image", batch.get("x")), batch.get("label", batch.get("y")))
        if not isinstance(batch, (tuple, list)) or len(batch) < 2:
            raise ConfigError("data: each batch must be (inputs, labels)")
        xs.append(_tensor(batch[0], "x"))
        ys.append(_labels(batch[1]))
        have += len(ys[-1])
        if have >= n:
            break
    if not xs:
        raise ConfigError("data: the loader gave no batches")
    return Split(torch.cat(xs)[:n], torch.cat(ys)[:n])


def _collate(items: list) -> tuple:
    try:
        return torch.stack([_tensor(i[0], "x") for i in items]), _labels([int(i[1]) for i in items])
    except (TypeError, IndexError, ValueError) as e:
        raise ConfigError(f"data: each item must be (image tensor, label) ({e})") from None


def _tensor(v: Any, what: str) -> torch.Tensor:
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(v)
    if not isinstance(v, torch.Tensor):
        raise ConfigError(f"data: {what} must be a tensor or a numpy array, got {type(v).__name__}")
    return v.detach().cpu()


def _labels(v: Any) -> torch.Tensor:
    y = _tensor(torch.as_tensor(v) if isinstance(v, (list, tuple)) else v, "y")
    if y.dim() != 1 or y.is_floating_point() or y.is_complex():
        raise ConfigError(f"data: labels must be a 1-D tensor of class indices, got shape {tuple(y.shape)} "
                          f"of {str(y.dtype).replace('torch.', '')}")
    return y.long()


def _checked(split: Split) -> Split:
    """Inputs as the protocol needs them: uint8 images, or floats in [0, 1]."""
    x = split.x
    if x.dtype == torch.uint8:
        return split
    if not x.is_floating_point():
        raise ConfigError(f"data: inputs must be float images in [0, 1] or uint8, got {str(x.dtype).replace('torch.', '')}")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ConfigError(f"data: inputs range from {lo:.3g} to {hi:.3g}, not [0, 1]; they look normalised (or "
                          "scaled to 0..255): pass the images in [0, 1] and normalize=(mean, std), so that ε is "
                          "measured in pixel space and the model still sees normalised inputs")
    return Split(x.float(), split.y)
