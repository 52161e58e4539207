"""SVHN (street-view house numbers) through ``torchvision.datasets.SVHN``.

Digits, so never flipped: the default augmentation is a random crop only.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, DataNotFound
from .base import Dataset, Split
from .mnist import MNIST_CLASSES
from .registry import as_labels, download_failed, register_dataset

SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
SVHN_LAYOUT = "<root>/SVHN/train_32x32.mat and <root>/SVHN/test_32x32.mat"


@register_dataset("svhn", "SVHN street-view house numbers, 73,257 + 26,032 colour 32x32 digits",
                  layout=SVHN_LAYOUT, augment="crop", downloadable=True, test_size=26032)
def load_svhn(root: Path, download: bool) -> Dataset:
    """SVHN via ``torchvision.datasets.SVHN``; files in ``<root>/SVHN/`` (or directly in ``root``)."""
    from torchvision.datasets import SVHN

    folder = root if (root / "train_32x32.mat").is_file() else root / "SVHN"
    splits = []
    for split in ("train", "test"):
        try:
            ds = SVHN(str(folder), split=split, download=download)
        except RuntimeError as exc:
            if download:
                raise download_failed("SVHN", folder, exc) from None
            raise DataNotFound(
                f"SVHN not found or corrupted: looked for train_32x32.mat and test_32x32.mat in {root / 'SVHN'} "
                f"and {root}; pass --data-root pointing at the folder holding SVHN/ (see `mfdv datasets`), "
                f"or set data.download=true"
            ) from None
        except (OSError, ValueError, EOFError, ImportError) as exc:
            if download:
                raise download_failed("SVHN", folder, exc) from None
            raise DataError(f"cannot read SVHN from {folder} ({exc}); set data.download=true to refetch it") from None
        x = torch.from_numpy(np.ascontiguousarray(ds.data, dtype=np.uint8))
        splits.append(Split(x, as_labels(ds.labels)))
    return Dataset(
        name="svhn",
        train=splits[0],
        test=splits[1],
        num_classes=10,
        in_channels=3,
        input_size=32,
        mean=SVHN_MEAN,
        std=SVHN_STD,
        classes=list(MNIST_CLASSES),
    )
