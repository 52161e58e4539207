"""CIFAR-10 and CIFAR-100 through torchvision's own classes (the official pickled batches).

CIFAR-10 may also come as an image-folder copy (``cifar10-jpeg/{train,test}``
or its ``.tar.gz``, read without unpacking), decoded once and cached (:mod:`.image_cache`). Per the
``--data-root`` rule, ``<root>`` is the folder holding ``cifar-10-batches-py``
(or ``cifar-100-python``, ``cifar10-jpeg``), or that folder itself.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, DataNotFound
from .base import Dataset, Split
from .archive import archive_pair
from .image_cache import image_folder_pair
from .registry import as_labels, download_failed, register_dataset

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
#: an image-folder copy of CIFAR-10 in one file, decoded straight from it (:mod:`.archive`)
ARCHIVE = "cifar10-jpeg.tar.gz"
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_LAYOUT = ("<root>/cifar-10-batches-py/ (data_batch_1 … data_batch_5, test_batch, batches.meta), or "
                  "<root>/cifar10-jpeg/train/<class>/*.jpg and <root>/cifar10-jpeg/test/<class>/*.jpg "
                  "(also <root>/cifar10-jpeg.tar.gz, decoded straight from the archive)")
CIFAR100_LAYOUT = "<root>/cifar-100-python/ (train, test, meta)"


def _pickled_source(cls, root: Path, folder_name: str):
    """torchvision's class and the root to give it: ``<root>/<folder_name>`` as usual, or, when
    ``root`` is that folder itself, a subclass reading the batches straight from ``root``."""
    if not (root / folder_name).is_dir() and all((root / f).is_file() for f, _ in cls.test_list):
        return type(cls.__name__, (cls,), {"base_folder": ""}), root
    return cls, root


def _cifar_pickled(cls, root: Path, download: bool, folder_name: str, what: str) -> tuple[Split, Split, list[str]]:
    """Both splits of a pickled CIFAR set as ``uint8`` ``(N, 3, 32, 32)`` tensors, and its class names."""
    source, tv_root = _pickled_source(cls, root, folder_name)
    splits = []
    classes: list[str] = []
    for train in (True, False):
        try:
            ds = source(str(tv_root), train=train, download=download)
        except RuntimeError as exc:
            if download:
                raise download_failed(what, root, exc) from None
            raise DataNotFound(
                f"{what} not found or corrupted in {root / folder_name} (nor directly in {root}); pass --data-root "
                f"pointing at the folder holding {folder_name} (see `mfdv datasets`), or set data.download=true"
            ) from None
        except (OSError, ValueError, EOFError) as exc:
            if download:
                raise download_failed(what, root, exc) from None
            raise DataError(f"cannot read {what} from {root / folder_name} ({exc}); "
                            f"set data.download=true to refetch it") from None
        x = torch.from_numpy(np.asarray(ds.data, dtype=np.uint8)).permute(0, 3, 1, 2).contiguous()
        splits.append(Split(x, as_labels(ds.targets)))
        classes = list(ds.classes)
    return splits[0], splits[1], classes


def _cifar10_folder_layout(root: Path) -> tuple[Path, Path] | None:
    """The ``train`` and ``test`` folders of an image-folder copy of CIFAR-10, if there is one."""
    for base in (root / "cifar10-jpeg", root):
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base / "train", base / "test"
    return None


def _has_pickled_cifar10(root: Path) -> bool:
    return (root / "cifar-10-batches-py").is_dir() or (root / "batches.meta").is_file()


@register_dataset("cifar10", "CIFAR-10, 50,000 + 10,000 colour 32x32 images in 10 classes",
                  layout=CIFAR10_LAYOUT, augment="crop-flip", downloadable=True, cached=True, test_size=10000)
def load_cifar10(root: Path, download: bool) -> Dataset:
    """CIFAR-10 via ``torchvision.datasets.CIFAR10`` (``<root>/cifar-10-batches-py``).

    Without those files, an image-folder copy is used instead:
    ``<root>/cifar10-jpeg/{train,test}/<class>/*.jpg`` or ``<root>/{train,test}/<class>/``
    (decoded once and cached). The official files win when both exist, being lossless.
    """
    from torchvision.datasets import CIFAR10

    pickled = _has_pickled_cifar10(root)
    folders = _cifar10_folder_layout(root) if not pickled else None
    archive = root / ARCHIVE
    if folders is not None or (not pickled and archive.is_file()):
        train, test, classes = (image_folder_pair(*folders, size=32, channels="rgb") if folders is not None
                                else archive_pair(archive, "cifar10-jpeg", size=32, channels="rgb"))
        if len(classes) != 10:
            raise DataError(f"{folders[0] if folders else archive} has {len(classes)} class folders, "
                            f"CIFAR-10 needs 10 ({', '.join(CIFAR10_CLASSES)})")
    elif pickled or download:
        train, test, classes = _cifar_pickled(CIFAR10, root, download, "cifar-10-batches-py", "CIFAR-10")
    else:
        raise DataNotFound(
            f"CIFAR-10 not found: looked for {root / 'cifar-10-batches-py'}, {root / 'cifar10-jpeg'}/train and /test "
            f"(one folder per class), {root / 'cifar10-jpeg.tar.gz'} and {root}/train and /test; pass --data-root "
            f"pointing at the folder holding them (see `mfdv datasets`), or set data.download=true"
        )
    return Dataset(
        name="cifar10",
        train=train,
        test=test,
        num_classes=10,
        in_channels=3,
        input_size=32,
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        classes=classes,
    )


@register_dataset("cifar100", "CIFAR-100, 50,000 + 10,000 colour 32x32 images in 100 classes",
                  layout=CIFAR100_LAYOUT, augment="crop-flip", downloadable=True, test_size=10000)
def load_cifar100(root: Path, download: bool) -> Dataset:
    """CIFAR-100 via ``torchvision.datasets.CIFAR100`` (``<root>/cifar-100-python``)."""
    from torchvision.datasets import CIFAR100

    train, test, classes = _cifar_pickled(CIFAR100, root, download, "cifar-100-python", "CIFAR-100")
    return Dataset(
        name="cifar100",
        train=train,
        test=test,
        num_classes=100,
        in_channels=3,
        input_size=32,
        mean=CIFAR100_MEAN,
        std=CIFAR100_STD,
        classes=classes,
    )
