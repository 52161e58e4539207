"""Data sets held in memory as whole tensors, with vectorised batch augmentation."""
from __future__ import annotations

from .base import AUGMENTATIONS, Dataset, Split, augment_batch, iterate_batches
from .registry import dataset_entry, default_data_root, list_datasets, load_dataset, register_dataset
from . import sources as _sources  # noqa: F401  (registers the built-in data sets)

__all__ = [
    "AUGMENTATIONS",
    "Dataset",
    "Split",
    "augment_batch",
    "dataset_entry",
    "default_data_root",
    "iterate_batches",
    "list_datasets",
    "load_dataset",
    "register_dataset",
]
