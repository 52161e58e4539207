"""Data sets held in memory as whole tensors, with vectorised batch augmentation."""
from __future__ import annotations

from .base import AUGMENTATIONS, Dataset, Split, augment_batch, iterate_batches
from .registry import (
    dataset_entry,
    default_data_root,
    describe_datasets,
    list_datasets,
    load_dataset,
    register_dataset,
)

from . import cifar, folders, imagenet, mnist, svhn, toy  # noqa: E402,F401  (register the built-in loaders)

__all__ = [
    "AUGMENTATIONS",
    "Dataset",
    "Split",
    "augment_batch",
    "dataset_entry",
    "default_data_root",
    "describe_datasets",
    "iterate_batches",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
