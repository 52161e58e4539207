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

import contextlib
import contextvars
import hashlib
import json
import os
import random
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch

from ..errors import DataError
from .base import Split

#: Bump when the cached tensor layout changes so old cache files are ignored.
CACHE_FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: The environment variable that moves the cache folder.
CACHE_ENV = "MFDV_CACHE_DIR"
#: which splits the caller needs decoded ("train", "test"); an evaluation asks for the test split only
_WANTED: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar("wanted_splits",
                                                                        default=frozenset({"train", "test"}))
#: ``report(what, done, total)`` while images are decoded; None: a progress bar on standard error
Reporter = Callable[[str, int, int], None]
_REPORTER: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("decode_reporter", default=None)


_KEEP = object()


@contextlib.contextmanager
def decoding(*, splits: Iterable[str] | None = None, report: Reporter | None | object = _KEEP) -> Iterator[None]:
    """Inside the block, image loaders decode only ``splits`` (the others come back empty)
    and report their progress to ``report`` (None: a bar on standard error); either left
    out keeps what an outer block set."""
    t1 = _WANTED.set(frozenset(splits)) if splits is not None else None
    t2 = _REPORTER.set(report) if report is not _KEEP else None  # type: ignore[arg-type]
    try:
        yield
    finally:
        if t1 is not None:
            _WANTED.reset(t1)
        if t2 is not None:
            _REPORTER.reset(t2)


def decoding_events(on_event) -> contextlib.AbstractContextManager:
    """Decoding progress as :class:`~mfdv_engine.events.Progress` events to ``on_event`` (the API's
    sink); the default sink (``events.ignore``) leaves the progress bar on standard error."""
    from ..events import Progress, ignore

    if on_event is ignore:
        return contextlib.nullcontext()
    return decoding(report=lambda what, done, total: on_event(Progress(what, done / max(total, 1))))


def wanted(split: str) -> bool:
    """Whether the current load needs ``split`` ("train" or "test") decoded."""
    return split in _WANTED.get()


def _progress(what: str, total: int) -> Callable[[int], None]:
    """A function of the number of images done so far that reports about every 2 %."""
    report = _REPORTER.get()
    if report is None:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=what, unit="img", mininterval=1.0, leave=False)

        def step(done: int) -> None:
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        return step
    every = max(1, total // 50)
    return lambda done: report(what, done, total) if done % every == 0 or done >= total else None


def say(text: str) -> None:
    """One line of news about the cache (where it went, how large): to the reporter, else standard error."""
    report = _REPORTER.get()
    if report is not None:
        report(text, 1, 1)
    else:
        print(text, file=sys.stderr)


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


def read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
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


def write_cache(path: Path, x: torch.Tensor, y: torch.Tensor, folder: Path | str, *,
                 classes: list[str] | None = None) -> None:
    """The decoded tensors, and beside them a small JSON saying what they are (``mfdv datasets`` lists it)."""
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
        meta = {"source": str(folder), "images": int(len(x)), "shape": list(x.shape[1:]), "bytes": path.stat().st_size,
                **({"classes": classes} if classes is not None else {})}
        path.with_suffix(".json").write_text(json.dumps(meta))
        say(f"cached {len(x):,} decoded images of {folder} in {path} ({meta['bytes'] / 2**20:.0f} MiB); "
            "`mfdv datasets` lists the caches, `mfdv datasets --clear-cache` removes them")
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
    cached = read_cache(cache)
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
        x = decode_all(samples, decode, channels, size, what=f"decoding {folder} once")
    y = torch.tensor([label for _, label in samples], dtype=torch.int64)
    write_cache(cache, x, y, folder)
    return x, y


def decode_all(samples, decode, channels: str, size: int | None, what: str = "decoding images") -> torch.Tensor:
    mode, c, side = _layout(decode(samples[0][0], _unchanged()), channels, size)
    x = torch.empty((len(samples), c, side, side), dtype=torch.uint8)

    def work(i: int) -> None:
        x[i] = _fit(decode(samples[i][0], mode), side)

    workers = min(16, os.cpu_count() or 1)
    step = _progress(what, len(samples))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done, _ in enumerate(pool.map(work, range(len(samples)), chunksize=256), 1):
            step(done)
    return x


def _unchanged():
    from torchvision.io import ImageReadMode

    return ImageReadMode.UNCHANGED


def _layout(first: torch.Tensor, channels: str, size: int | None):
    """(read mode, channels, side) of a split whose first image (in the fixed order) is ``first``."""
    from torchvision.io import ImageReadMode

    if channels == "auto":
        mode = ImageReadMode.GRAY if first.shape[0] in (1, 2) else ImageReadMode.RGB
    else:
        mode = ImageReadMode.GRAY if channels == "gray" else ImageReadMode.RGB
    return mode, 1 if mode == ImageReadMode.GRAY else 3, size if size is not None else int(min(first.shape[-2:]))


def empty_split(samples: list[tuple[str, int]], *, size: int | None, channels: str) -> Split:
    """The split an evaluation does not need: no examples, but the shape decoding would give
    (only the first image in the fixed order is read, when size or channels depend on it)."""
    if size is not None and channels != "auto":
        c, side = (1 if channels == "gray" else 3), size
    else:
        order = list(samples)
        random.Random(0).shuffle(order)
        _, c, side = _layout(_decode_file(order[0][0], _unchanged()), channels, size)
    return Split(torch.empty((0, c, side, side), dtype=torch.uint8), torch.empty(0, dtype=torch.int64))


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
    if wanted("train"):
        train, classes = image_folder_split(train_dir, size=size, channels=channels)
    else:
        classes, train_samples = list_image_folder(train_dir)
        train = empty_split(train_samples, size=size, channels=channels)
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



def list_caches() -> list[dict]:
    """Every decoded split (and unpacked archive left by older versions) in the cache folder:
    ``{"path", "source", "images", "bytes"}``, largest first."""
    root = dataset_cache_dir()
    out = []
    for pt in sorted(root.glob("*.pt")) if root.is_dir() else []:
        try:
            meta = json.loads(pt.with_suffix(".json").read_text())
        except (OSError, ValueError):
            meta = {}
        out.append({"path": str(pt), "source": str(meta.get("source", "unknown (cached by an older version)")),
                    "images": meta.get("images"), "bytes": pt.stat().st_size})
    for d in sorted(root.glob("extracted-*")) if root.is_dir() else []:
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file() and not f.is_symlink())
        out.append({"path": str(d), "source": "an unpacked archive (no longer needed)", "images": None, "bytes": size})
    return sorted(out, key=lambda c: -c["bytes"])


def clear_caches() -> tuple[int, int]:
    """Remove every cache :func:`list_caches` shows: (entries removed, bytes freed). Data sets
    are decoded again on their next use; nothing else lives in the folder."""
    import shutil

    caches = list_caches()
    for c in caches:
        p = Path(c["path"])
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
            p.with_suffix(".json").unlink(missing_ok=True)
    return len(caches), sum(c["bytes"] for c in caches)
