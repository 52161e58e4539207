"""``imagefolder``: your own images, one sub-folder per class, as torchvision's ``ImageFolder`` reads them.

Per the ``--data-root`` rule, ``<root>`` is the folder holding ``train/`` and
``test/`` (``val/`` also works), or the folder holding that one as
``imagefolder/``. No augmentation unless ``data.augment`` asks: a mirrored
digit or letter is another class, and nothing is known about your images.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError, DataNotFound
from .base import Dataset
from .image_cache import IMAGE_EXTENSIONS, image_folder_pair, image_stats
from .registry import register_dataset

IMAGEFOLDER_LAYOUT = ("<root>/train/<class>/*.png and <root>/test/<class>/*.png (val/ for test/ also works; "
                      f"any of {' '.join(IMAGE_EXTENSIONS)}; or the same under <root>/imagefolder/)")


def imagefolder_bases(root: Path) -> list[Path]:
    """The folders that may hold ``train/`` and ``test/``, in the order they are tried."""
    return [root, root / "imagefolder"]


def _find_pair(root: Path) -> tuple[Path, Path]:
    """The first ``train``/``test`` (or ``train``/``val``) pair under :func:`imagefolder_bases`."""
    for base in imagefolder_bases(root):
        test = base / "test" if (base / "test").is_dir() else base / "val"
        if (base / "train").is_dir() and test.is_dir():
            return base / "train", test
    looked = " and ".join(f"{b}/train with {b}/test (or {b}/val)" for b in imagefolder_bases(root))
    raise DataNotFound(
        f"no image folder found: looked for {looked}, each with one sub-folder of images per class; "
        f"pass --data-root pointing at the folder holding train/ and test/ (see `mfdv datasets`)"
    )


@register_dataset("imagefolder", "your own images: one sub-folder per class, in train/ and test/",
                  layout=IMAGEFOLDER_LAYOUT, augment="none", cached=True)
def load_imagefolder(root: Path, download: bool) -> Dataset:
    """Any ``torchvision.datasets.ImageFolder`` pair: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``.

    ``val/`` is accepted in place of ``test/``. Images are square-cropped to
    the shorter side of the first training image (resized where they differ),
    kept grayscale if that image is grayscale, and cached after the first
    decode. ``mean``/``std`` are measured on the training images.
    """
    train_dir, test_dir = _find_pair(root)
    train, test, classes = image_folder_pair(train_dir, test_dir, size=None, channels="auto")
    if len(classes) < 2:
        raise DataError(f"{train_dir} has {len(classes)} class folder(s); put each class in its own folder, at least 2")
    mean, std = image_stats(train.x if len(train) else test.x)  # an evaluation's load decodes no training images
    return Dataset(
        name="imagefolder",
        train=train,
        test=test,
        num_classes=len(classes),
        in_channels=int(train.x.shape[1]),
        input_size=int(train.x.shape[-1]),
        mean=mean,
        std=std,
        classes=classes,
    )
