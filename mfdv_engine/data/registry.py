"""Data set registry: ``load_dataset(name, root, download=..., limit_train=..., limit_test=..., augment=...)``.

Each entry says, besides its loader, what a newcomer needs to find the data:
the folder layout expected under ``--data-root``, the default training
augmentation and whether it can be downloaded (``mfdv datasets`` prints them).

The ``--data-root`` rule, the same for every data set: it is the folder that
holds the data set's usual folder (``MNIST/raw``, ``cifar-10-batches-py``,
``SVHN``, ``tiny-imagenet-200``, ``imagefolder`` …); pointing it at that
folder itself works too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..registry import Registry
from .base import AUGMENTATIONS, Dataset, check_augment

#: ``data.augment`` values: a kind of :data:`AUGMENTATIONS`, or ``auto`` (the data set's own default).
AUGMENT_CHOICES = ("auto", *AUGMENTATIONS)

#: A loader takes the data root and the download flag and returns the full data set.
Loader = Callable[[Path, bool], Dataset]


@dataclass(frozen=True)
class DatasetEntry:
    """A registered data set. ``layout``: the files expected under ``--data-root``, written out
    (``<root>/...``); ``augment``: the training augmentation ``data.augment=auto`` means;
    ``downloadable``: whether ``data.download=true`` can fetch it; ``cached``: whether its
    decoded images go to the decode cache (:func:`~.image_cache.dataset_cache_dir`);
    ``test_size``: its test split's examples where fixed (None: known only once loaded), so
    a request for more can be told before anything loads."""

    name: str
    loader: Loader
    description: str
    layout: str = ""
    augment: str = "none"
    downloadable: bool = False
    cached: bool = False
    test_size: int | None = None


#: the data sources, filled by the loader modules ``data/__init__`` imports
DATASETS: Registry[DatasetEntry] = Registry("dataset", DataError, " (`mfdv datasets` shows each one's folder layout)")


def register_dataset(name: str, description: str, *, layout: str = "", augment: str = "none",
                     downloadable: bool = False, cached: bool = False, test_size: int | None = None):
    """Decorator registering ``loader(root: Path, download: bool) -> Dataset`` as ``name``
    (the keywords are the :class:`DatasetEntry` fields)."""
    check_augment(augment)
    return DATASETS.decorator(name, lambda fn: DatasetEntry(name, fn, description, layout, augment, downloadable,
                                                            cached, test_size))


def known_test_size(name: str, limit_test: int | None = None) -> int | None:
    """How many test examples a run on data set ``name`` (with ``data.limit_test``) can be
    evaluated on, where that is known without loading it; None where it is not."""
    size = DATASETS.get(name).test_size if name in DATASETS else None
    if limit_test is None:
        return size
    return limit_test if size is None else min(size, limit_test)


def list_datasets() -> list[str]:
    """Names of all registered data sets, sorted."""
    return DATASETS.names()


def dataset_entry(name: str) -> DatasetEntry:
    return DATASETS.get(name)


def describe_datasets() -> list[dict[str, Any]]:
    """Every registered data set as plain data (for ``mfdv datasets`` and the API): name,
    description, layout under ``--data-root``, default augmentation, whether it can be
    downloaded, and the decode-cache folder it uses (``None`` if it is read directly)."""
    from .image_cache import dataset_cache_dir

    cache = str(dataset_cache_dir())
    return [
        {"name": e.name, "description": e.description, "layout": e.layout, "augment": e.augment,
         "downloadable": e.downloadable, "cache": cache if e.cached else None}
        for e in (dataset_entry(n) for n in list_datasets())
    ]


def format_datasets(rows: list[dict[str, Any]]) -> str:
    """:func:`describe_datasets` as text for a terminal: one block per data set, then the
    ``--data-root`` rule and where the decode cache is (and how to move it)."""
    from .image_cache import CACHE_ENV, dataset_cache_dir

    lines = ["Data sets (choose with --set data.name=NAME; <root> is --data-root, "
             f"default {default_data_root()}):", ""]
    for r in rows:
        lines += [f"{r['name']}: {r['description']}",
                  f"  layout:   {r['layout']}",
                  f"  augment:  {r['augment']} (what data.augment=auto means; or --set data.augment=none|crop|crop-flip)",
                  f"  download: {'yes, with --set data.download=true' if r['downloadable'] else 'no'}"]
        if r["cache"]:
            lines.append(f"  cache:    decoded images kept in {r['cache']}")
        lines.append("")
    lines += ["--data-root is the folder holding a data set's usual folder (as above), or that folder itself.",
              f"Decoded images are cached in {dataset_cache_dir()}; set {CACHE_ENV}=DIR to use DIR/datasets instead."]
    return "\n".join(lines)


def format_caches(caches: list[dict[str, Any]]) -> str:
    """The decode caches (:func:`~.image_cache.list_caches`) as text, with the way to remove them."""
    from .image_cache import dataset_cache_dir

    if not caches:
        return f"No decoded-image caches in {dataset_cache_dir()}."
    lines = [f"Decoded-image caches in {dataset_cache_dir()} ({sum(c['bytes'] for c in caches) / 2**20:.0f} MiB "
             "in all; `mfdv datasets --clear-cache` removes them, the data sets are decoded again on next use):"]
    for c in caches:
        n = f"{c['images']:,} images, " if c.get("images") else ""
        lines.append(f"  {c['bytes'] / 2**20:7.1f} MiB  {n}{c['source']}  ({Path(c['path']).name})")
    return "\n".join(lines)


#: a folder of data sets for every command and the studio when no root is given (a lab's shared disk)
DATA_ENV = "MFDV_DATA_DIR"


def default_data_root() -> Path:
    """Where data sets live unless a root is given: ``$MFDV_DATA_DIR``, else ``<user data dir>/datasets``."""
    import os

    import platformdirs

    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
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
    augment: str = "auto",
    splits: tuple[str, ...] = ("train", "test"),
) -> Dataset:
    """Load data set ``name`` from ``root`` (default :func:`default_data_root`).

    Images come back as ``uint8`` ``(N, C, H, W)`` CPU tensors, labels as
    ``int64``. ``limit_train``/``limit_test`` keep the first N examples of
    each split. ``augment`` sets :attr:`Dataset.augment` (``auto``: the entry's
    default). ``splits=("test",)``: an evaluation's load, whose training split
    comes back empty and, for data sets decoded from images, is not decoded at all.
    Raises :class:`DataError` when the name is unknown or the files
    are missing or unreadable, :class:`ConfigError` for a bad limit or augmentation.
    """
    from .image_cache import decoding

    entry = dataset_entry(name)
    check_augment_setting(augment)
    limit_train = _check_limit("limit_train", limit_train)
    limit_test = _check_limit("limit_test", limit_test)
    root_path = Path(root).expanduser() if root is not None else default_data_root()
    with decoding(splits=splits):
        ds = entry.loader(root_path, bool(download))
    if "train" not in splits:
        ds = ds.limit(train=0)
    for split, which in ((ds.train, "training"), (ds.test, "test")):  # before a label crashes a loss mid-run
        if not split.y.is_floating_point():
            check_labels(split.y, ds.num_classes, f"the {which} split of data set {name!r} in {root_path}")
    ds = ds.with_augment(entry.augment if augment == "auto" else augment)
    return ds.limit(limit_train, limit_test)


def check_augment_setting(value: Any) -> str:
    """``value`` if it is a ``data.augment`` choice, else one ConfigError listing them."""
    if not isinstance(value, str) or value not in AUGMENT_CHOICES:
        raise ConfigError(f"data.augment must be one of {', '.join(AUGMENT_CHOICES)} "
                          f"(auto = the data set's own, see `mfdv datasets`); got {value!r}")
    return value


def as_labels(values: Any) -> torch.Tensor:
    """Labels from a list or array as a fresh ``int64`` tensor."""
    return torch.as_tensor(np.asarray(values), dtype=torch.int64).clone()


def download_failed(what: str, folder: Path, exc: BaseException) -> DataError:
    """The one sentence for a failed download: what, where, and the offline way out."""
    return DataError(
        f"could not download {what} into {folder} ({exc}); check the internet connection, "
        f"or place the files there yourself (see `mfdv datasets`) and load without downloading"
    )


def check_labels(y: torch.Tensor, num_classes: int, source: Path | str) -> torch.Tensor:
    """``y`` if every label is a class index 0 … num_classes − 1, else a DataError naming ``source``."""
    bad = ((y < 0) | (y >= num_classes)).nonzero().flatten()
    if bad.numel():
        i = int(bad[0])
        raise DataError(f"{source} holds label {int(y[i])} at position {i}, but the classes are "
                        f"0 to {num_classes - 1}; replace it with an intact copy")
    return y
