"""ImageNet subsets: Tiny ImageNet (64x64, 200 classes) and Imagenette (10 classes, resized to 64x64).

Both are image folders, decoded once and cached (:mod:`.image_cache`). Per
the ``--data-root`` rule, ``<root>`` is the folder holding
``tiny-imagenet-200`` (or ``imagenette2-160``), or that folder itself.
"""
from __future__ import annotations

import os

import torch
from pathlib import Path

from ..errors import DataError, DataNotFound
from .base import Dataset, Split
from .image_cache import decode_images, list_image_folder, wanted
from .registry import download_failed, register_dataset

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"
TINY_IMAGENET_LAYOUT = ("<root>/tiny-imagenet-200/train/<wnid>/images/*.JPEG, "
                        "<root>/tiny-imagenet-200/val/images/*.JPEG and "
                        "<root>/tiny-imagenet-200/val/val_annotations.txt (the official zip, unpacked)")
IMAGENETTE_FOLDERS = (("imagenette2-160", "160px"), ("imagenette2-320", "320px"), ("imagenette2", "full"))
IMAGENETTE_LAYOUT = ("<root>/imagenette2-160/train/<wnid>/*.JPEG and <root>/imagenette2-160/val/<wnid>/*.JPEG "
                     "(or imagenette2-320/, imagenette2/)")


def _tiny_base(root: Path) -> Path:
    """``<root>/tiny-imagenet-200``, or ``root`` when it is that folder itself."""
    if not (root / "tiny-imagenet-200").is_dir() and (root / "val" / "val_annotations.txt").is_file():
        return root
    return root / "tiny-imagenet-200"


def _tiny_val_samples(base: Path, index: dict[str, int]) -> list[tuple[str, int]]:
    """``(path, label)`` of the labelled validation images listed in ``val/val_annotations.txt``."""
    annotations = base / "val" / "val_annotations.txt"
    try:
        lines = annotations.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {annotations} ({exc}); restore the file from the original archive") from None
    samples = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise DataError(
                f"{annotations} names class {parts[1]!r} that has no folder in {base / 'train'}; "
                f"restore the data set from the original archive"
            )
        samples.append((str(base / "val" / "images" / parts[0]), index[parts[1]]))
    missing = [p for p, _ in samples if not os.path.isfile(p)]
    if not samples or missing:
        raise DataError(
            f"Tiny ImageNet validation images missing in {base / 'val' / 'images'} "
            f"({len(missing)} of {len(samples)} listed); restore the data set from the original archive"
        )
    return samples


@register_dataset("tiny-imagenet", "Tiny ImageNet, 100,000 + 10,000 colour 64x64 images in 200 classes",
                  layout=TINY_IMAGENET_LAYOUT, augment="crop-flip", downloadable=True, cached=True, test_size=10000)
def load_tiny_imagenet(root: Path, download: bool) -> Dataset:
    """Tiny ImageNet from ``<root>/tiny-imagenet-200``; the test split is the labelled ``val`` split.

    Layout: ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` and
    ``val/val_annotations.txt`` (file, wnid, box per line). Grayscale images
    are expanded to RGB. Decoded once and cached.
    """
    base = _tiny_base(root)
    if not base.is_dir() and download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(TINY_IMAGENET_URL, str(root), md5=TINY_IMAGENET_MD5)
        except Exception as exc:
            raise download_failed("Tiny ImageNet", root, exc) from None
    if not (base / "train").is_dir() or not (base / "val" / "val_annotations.txt").is_file():
        raise DataNotFound(
            f"Tiny ImageNet not found: looked for {base}/train/<wnid>/images/*.JPEG, {base}/val/images/*.JPEG and "
            f"{base}/val/val_annotations.txt; pass --data-root pointing at the folder holding tiny-imagenet-200 "
            f"(see `mfdv datasets`), or set data.download=true"
        )
    classes, train_samples = list_image_folder(base / "train")
    test_samples = _tiny_val_samples(base, {wnid: i for i, wnid in enumerate(classes)})
    x_train, y_train = (decode_images(base / "train", train_samples, classes, size=64, channels="rgb") if wanted("train")
                        else (torch.empty((0, 3, 64, 64), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)))
    x_test, y_test = decode_images(base / "val", test_samples, classes, size=64, channels="rgb")
    return Dataset(
        name="tiny-imagenet",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        num_classes=len(classes),
        in_channels=3,
        input_size=64,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=_tiny_imagenet_names(base, classes),
    )


def _tiny_imagenet_names(base: Path, wnids: list[str]) -> list[str]:
    """Readable class names from ``words.txt`` (first synonym), falling back to the WordNet id."""
    words: dict[str, str] = {}
    try:
        for line in (base / "words.txt").read_text().splitlines():
            wnid, _, text = line.partition("\t")
            words[wnid] = text.split(",")[0].strip()
    except OSError:
        pass
    return [words.get(w) or w for w in wnids]


def _imagenette_source(root: Path) -> tuple[Path, str, str] | None:
    """torchvision's root, the folder name and size of the Imagenette copy found at or in ``root``."""
    for name, size in IMAGENETTE_FOLDERS:
        if (root / name).is_dir():
            return root, name, size
    for name, size in IMAGENETTE_FOLDERS:
        if root.name == name and root.is_dir():
            return root.parent, name, size
    return None


def _imagenette_split(tv_root: Path, folder_name: str, size: str, split: str, download: bool):
    """One split decoded to 64x64 (and cached), with the readable class names."""
    from torchvision.datasets import Imagenette
    from torchvision.datasets.folder import find_classes, make_dataset

    where = tv_root / folder_name
    try:
        ds = Imagenette(str(tv_root), split=split, size=size, download=download)
        image_root = where / split
        wnids, wnid_to_idx = find_classes(str(image_root))
        samples = make_dataset(str(image_root), wnid_to_idx, extensions=(".jpeg", ".jpg", ".png"))
    except RuntimeError as exc:
        if download:
            raise download_failed("Imagenette", tv_root, exc) from None
        raise DataError(
            f"Imagenette is incomplete in {where} (expected train/<class>/ and val/<class>/ with JPEG files); "
            f"restore it from the original archive or set data.download=true"
        ) from None
    except (OSError, ValueError) as exc:
        if download:
            raise download_failed("Imagenette", tv_root, exc) from None
        raise DataError(f"cannot read Imagenette from {where} ({exc}); restore it from the original archive") from None
    if not samples:
        raise DataError(f"no images in {image_root}; restore Imagenette from the original archive")
    x, y = decode_images(image_root, samples, wnids, size=64, channels="rgb")
    return Split(x, y), [names[0] for names in ds.classes]


@register_dataset("imagenette", "Imagenette, 10 easy ImageNet classes, resized to 64x64",
                  layout=IMAGENETTE_LAYOUT, augment="crop-flip", downloadable=True, cached=True, test_size=3925)
def load_imagenette(root: Path, download: bool) -> Dataset:
    """Imagenette via ``torchvision.datasets.Imagenette`` from ``<root>/imagenette2-160``.

    ``imagenette2-320`` or the full-size ``imagenette2`` are used when the
    160-px copy is absent; downloads fetch the 160-px copy. Each image is
    resized (shorter side to 64 px, antialiased, with
    ``torchvision.transforms.functional.resize``) and centre-cropped to
    64x64 once at decode time; the result is cached, so training sees 64-px
    images only.
    """
    found = _imagenette_source(root)
    if found is None and not download:
        raise DataNotFound(
            f"Imagenette not found: looked for {root}/imagenette2-160 (or imagenette2-320, imagenette2) holding "
            f"train/<class>/ and val/<class>/; pass --data-root pointing at the folder holding imagenette2-160 "
            f"(see `mfdv datasets`), or set data.download=true"
        )
    tv_root, folder_name, size = found or (root, *IMAGENETTE_FOLDERS[0])
    fetch = download and found is None
    test, classes = _imagenette_split(tv_root, folder_name, size, "val", fetch)
    train = (_imagenette_split(tv_root, folder_name, size, "train", fetch)[0] if wanted("train")
             else Split(torch.empty((0, 3, 64, 64), dtype=torch.uint8), torch.empty(0, dtype=torch.int64)))
    return Dataset(
        name="imagenette",
        train=train,
        test=test,
        num_classes=len(classes),
        in_channels=3,
        input_size=64,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=classes,
    )
