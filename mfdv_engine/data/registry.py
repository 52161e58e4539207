"""Data set registry: ``load_dataset(name, root, download=..., limit_train=..., limit_test=...)``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..errors import ConfigError, DataError
from .base import Dataset

#: A loader takes the data root and the download flag and returns the full data set.
Loader = Callable[[Path, bool], Dataset]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    loader: Loader
    description: str


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(name: str, description: str):
    """Decorator registering ``loader(root: Path, download: bool) -> Dataset`` as ``name``."""

    def deco(fn: Loader) -> Loader:
        if name in _REGISTRY:
            raise RuntimeError(f"dataset {name!r} registered twice")
        _REGISTRY[name] = DatasetEntry(name, fn, description)
        return fn

    return deco


def _ensure_builtins() -> None:
    from . import sources  # noqa: F401  (registers the built-in loaders)


def list_datasets() -> list[str]:
    """Names of all registered data sets, sorted."""
    _ensure_builtins()
    return sorted(_REGISTRY)


def dataset_entry(name: str) -> DatasetEntry:
    _ensure_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(list_datasets())}") from None


def default_data_root() -> Path:
    """Where data sets live unless a root is given: ``<user data dir>/datasets``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("mfdv-studio")) / "datasets"


def _check_limit(what: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a positive whole number of examples, got {value!r}")
    return value


def load_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    download: bool = False,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load data set ``name`` from ``root`` (default :func:`default_data_root`).

    Images come back as ``uint8`` ``(N, C, H, W)`` CPU tensors, labels as
    ``int64``. ``limit_train``/``limit_test`` keep the first N examples of
    each split. Raises :class:`DataError` when the name is unknown or the files
    are missing or unreadable, :class:`ConfigError` for a bad limit.
    """
    entry = dataset_entry(name)
    limit_train = _check_limit("limit_train", limit_train)
    limit_test = _check_limit("limit_test", limit_test)
    root_path = Path(root).expanduser() if root is not None else default_data_root()
    ds = entry.loader(root_path, bool(download))
    for split, which in ((ds.train, "training"), (ds.test, "test")):  # before a label crashes a loss mid-run
        if not split.y.is_floating_point():
            check_labels(split.y, ds.num_classes, f"the {which} split of data set {name!r} in {root_path}")
    return ds.limit(limit_train, limit_test)


def check_labels(y: torch.Tensor, num_classes: int, source: Path | str) -> torch.Tensor:
    """``y`` if every label is a class index 0 … num_classes − 1, else a DataError naming ``source``."""
    bad = ((y < 0) | (y >= num_classes)).nonzero().flatten()
    if bad.numel():
        i = int(bad[0])
        raise DataError(f"{source} holds label {int(y[i])} at position {i}, but the classes are "
                        f"0 to {num_classes - 1}; replace it with an intact copy")
    return y
