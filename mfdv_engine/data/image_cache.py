"""Image folders: listing, decoding, and the on-disk decode cache.

Image-folder data sets (``tiny-imagenet``, ``imagenette``, ``imagefolder`` and
CIFAR-10 stored as JPEG folders) are decoded once with
:func:`torchvision.io.decode_image` and cached as a ``.pt`` file under
:func:`dataset_cache_dir` (``$MFDV_CACHE_DIR/datasets``, else the user cache
folder), keyed by the folder's absolute path, file count, newest modification
time and the decode settings, so later loads read one file. Archives of image
folders are unpacked there too, never beside the archive.
"""
from __future__ import annotations

import hashlib
import os
import random
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import DataError
from .base import Split

#: Bump when the cached tensor layout changes so old cache files are ignored.
CACHE_FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: The environment variable that moves the cache folder.
CACHE_ENV = "MFDV_CACHE_DIR"


def dataset_cache_dir() -> Path:
    """Folder of decoded image-folder caches: ``$MFDV_CACHE_DIR/datasets`` or ``<user cache dir>/datasets``."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser() / "datasets"
    import platformdirs

    return Path(platformdirs.user_cache_dir("mfdv-studio")) / "datasets"


def list_image_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """Classes (sorted sub-folder names) and ``(path, label)`` samples via torchvision's ImageFolder scan."""
    from torchvision.datasets.folder import find_classes, make_dataset

    try:
        classes, class_to_idx = find_classes(str(folder))
        samples = make_dataset(str(folder), class_to_idx, extensions=IMAGE_EXTENSIONS, allow_empty=True)
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise DataError(
            f"cannot read image folder {folder} ({exc}); it must hold one sub-folder of images per class"
        ) from None
    if not samples:
        raise DataError(
            f"no images found in {folder}; it must hold one sub-folder per class with "
            f"{', '.join(IMAGE_EXTENSIONS)} files"
        )
    return classes, samples


def _fit(img: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` (antialiased) and centre-crop to ``size`` x ``size``."""
    from torchvision.transforms import functional as TF

    if tuple(img.shape[-2:]) == (size, size):
        return img
    img = TF.resize(img, size, antialias=True)
    return TF.center_crop(img, [size, size])


def _decode_file(path: str, mode) -> torch.Tensor:
    from torchvision.io import decode_image, read_file

    try:
        return decode_image(read_file(path), mode=mode)
    except RuntimeError:
        # formats torchvision.io cannot decode (bmp, tiff, ppm): fall back to Pillow
        from PIL import Image
        from torchvision.io import ImageReadMode
        from torchvision.transforms.functional import pil_to_tensor

        with Image.open(path) as im:
            pil_mode = {ImageReadMode.GRAY: "L", ImageReadMode.RGB: "RGB"}.get(mode)
            return pil_to_tensor(im.convert(pil_mode) if pil_mode else im)


def _cache_key(folder: Path, samples: list[tuple[str, int]], classes: list[str], settings: str) -> str:
    newest = 0
    total = 0
    for path, _ in samples:
        st = os.stat(path)
        newest = max(newest, st.st_mtime_ns)
        total += st.st_size
    text = "|".join(
        [f"v{CACHE_FORMAT}", str(folder.resolve()), str(len(samples)), str(newest), str(total), settings, *classes]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        x, y = blob["x"], blob["y"]
        if x.dtype != torch.uint8 or x.dim() != 4 or y.dtype != torch.int64 or len(x) != len(y):
            raise ValueError("unexpected tensor layout")
        return x, y
    except Exception as exc:  # a damaged cache file is rebuilt, never fatal
        warnings.warn(f"ignoring unreadable data cache {path}: {exc}", stacklevel=3)
        return None


def _write_cache(path: Path, x: torch.Tensor, y: torch.Tensor, folder: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save({"x": x, "y": y, "folder": str(folder)}, fh)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:  # caching is an optimisation: a read-only cache folder is not an error
        warnings.warn(f"could not write data cache {path}: {exc}", stacklevel=3)


def decode_images(
    folder: Path,
    samples: list[tuple[str, int]],
    classes: list[str],
    *,
    size: int | None = None,
    channels: str = "rgb",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode ``samples`` into ``uint8`` ``(N, C, size, size)`` and ``int64`` labels, cached on disk.

    ``channels`` is ``"rgb"`` (3 channels always), ``"gray"`` (1 channel) or
    ``"auto"`` (1 channel if the first image is grayscale, else 3).
    ``size=None`` uses the shorter side of the first image. Images of another size are resized (shorter
    side) and centre-cropped to ``size`` x ``size`` once, here.

    Folder listings come sorted by class; the samples are put in one fixed
    pseudo-random order (seed 0) so that ``limit_train``/``limit_test``, which
    take the first N, give every class rather than the first few.
    """
    samples = list(samples)
    random.Random(0).shuffle(samples)
    settings = f"size={size}|channels={channels}|order=seed0"
    cache = dataset_cache_dir() / f"{_cache_key(folder, samples, classes, settings)}.pt"
    cached = _read_cache(cache)
    if cached is not None:
        return cached

    def decode(path: str, mode) -> torch.Tensor:
        try:
            return _decode_file(path, mode)
        except Exception as exc:
            raise DataError(f"cannot decode image {path} ({exc}); delete or replace the damaged file") from None

    with warnings.catch_warnings():
        # torchvision >= 0.29 flags its image codecs as deprecated in favour of TorchCodec
        warnings.filterwarnings(
            "ignore", message=".*decoding and encoding capabilities of TorchVision", category=DeprecationWarning
        )
        x = _decode_all(samples, decode, channels, size)
    y = torch.tensor([label for _, label in samples], dtype=torch.int64)
    _write_cache(cache, x, y, folder)
    return x, y


def _decode_all(samples, decode, channels: str, size: int | None) -> torch.Tensor:
    from torchvision.io import ImageReadMode

    first = decode(samples[0][0], ImageReadMode.UNCHANGED)
    if channels == "auto":
        mode = ImageReadMode.GRAY if first.shape[0] in (1, 2) else ImageReadMode.RGB
    elif channels == "gray":
        mode = ImageReadMode.GRAY
    else:
        mode = ImageReadMode.RGB
    c = 1 if mode == ImageReadMode.GRAY else 3
    side = size if size is not None else int(min(first.shape[-2:]))
    x = torch.empty((len(samples), c, side, side), dtype=torch.uint8)

    def work(i: int) -> None:
        x[i] = _fit(decode(samples[i][0], mode), side)

    workers = min(16, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(work, range(len(samples)), chunksize=256):
            pass
    return x


def image_folder_split(folder: Path, *, size: int | None, channels: str) -> tuple[Split, list[str]]:
    """One class-per-sub-folder ``folder`` as a decoded (and cached) split with its class names."""
    classes, samples = list_image_folder(folder)
    x, y = decode_images(folder, samples, classes, size=size, channels=channels)
    return Split(x, y), classes


def image_folder_pair(
    train_dir: Path, test_dir: Path, *, size: int | None, channels: str
) -> tuple[Split, Split, list[str]]:
    """Train and test folders decoded alike; test labels follow the training folder's class order,
    so a test folder lacking a class still lines up (one with an extra class is refused)."""
    train, classes = image_folder_split(train_dir, size=size, channels=channels)
    test_classes, test_samples = list_image_folder(test_dir)
    extra = sorted(set(test_classes) - set(classes))
    if extra:
        raise DataError(
            f"test folder {test_dir} has classes missing from {train_dir} ({', '.join(extra[:5])}); "
            f"use the same class sub-folders in both"
        )
    index = {name: i for i, name in enumerate(classes)}
    test_samples = [(p, index[test_classes[label]]) for p, label in test_samples]
    side = size if size is not None else int(train.x.shape[-1])
    channel_mode = "rgb" if train.x.shape[1] == 3 else "gray"
    x, y = decode_images(test_dir, test_samples, classes, size=side, channels=channel_mode)
    return train, Split(x, y), classes


def image_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``uint8`` images in [0, 1] (on at most 10,000 images)."""
    sample = x[:10000].double().div_(255)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


def extract_once(archive: Path) -> Path:
    """Unpack an image-folder archive into the cache (once; keyed by its size and
    mtime), never beside the archive, with tarfile's 'data' filter (no links
    out of the folder, no device files)."""
    import shutil
    import tarfile

    st = archive.stat()
    key = hashlib.sha1(f"{archive.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    dest = dataset_cache_dir() / f"extracted-{key}"
    if (dest / ".complete").exists():
        return dest
    tmp = dest.with_name(dest.name + f".tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
    except (OSError, tarfile.TarError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"cannot unpack {archive} ({e}); check the file or unpack it yourself next to it") from None
    (tmp / ".complete").touch()
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    return dest
