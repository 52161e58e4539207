"""Built-in data set loaders, each through torchvision's own data set classes.

Every loader returns whole ``uint8`` ``(N, C, H, W)`` tensors and ``int64``
labels (``moons``: ``float32`` ``(N, 2)`` points). Image-folder data sets
(``tiny-imagenet``, ``imagenette``, ``imagefolder`` and CIFAR-10 stored as
JPEG folders) are decoded once with :func:`torchvision.io.decode_image` and
cached as a ``.pt`` file under :func:`dataset_cache_dir`, keyed by the
folder's absolute path, file count, newest modification time and the decode
settings, so later loads read one file.
"""
from __future__ import annotations

import hashlib
import os
import random
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, DataNotFound
from ..resources import resources_dir
from .base import Dataset, Split
from .registry import check_labels, register_dataset

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
SVHN_MEAN, SVHN_STD = (0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

#: Bump when the cached tensor layout changes so old cache files are ignored.
CACHE_FORMAT = 1
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

TINY_IMAGENET_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"
TINY_IMAGENET_MD5 = "90528d7ca1a48142e341f4ef8d21d0de"


# --------------------------------------------------------------------------- helpers


def _labels(values) -> torch.Tensor:
    return torch.as_tensor(np.asarray(values), dtype=torch.int64).clone()


def _download_failed(what: str, folder: Path, exc: BaseException) -> DataError:
    return DataError(
        f"could not download {what} into {folder} ({exc}); check the internet connection, "
        f"or place the files there yourself and load without downloading"
    )


def dataset_cache_dir() -> Path:
    """Folder of decoded image-folder caches: ``$MFDV_CACHE_DIR/datasets`` or ``<user cache dir>/datasets``."""
    override = os.environ.get("MFDV_CACHE_DIR")
    if override:
        return Path(override).expanduser() / "datasets"
    import platformdirs

    return Path(platformdirs.user_cache_dir("mfdv-studio")) / "datasets"


def _list_image_folder(folder: Path) -> tuple[list[str], list[tuple[str, int]]]:
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


def _image_folder_split(folder: Path, *, size: int | None, channels: str) -> tuple[Split, list[str]]:
    classes, samples = _list_image_folder(folder)
    x, y = decode_images(folder, samples, classes, size=size, channels=channels)
    return Split(x, y), classes


def _image_folder_pair(
    train_dir: Path, test_dir: Path, *, size: int | None, channels: str
) -> tuple[Split, Split, list[str]]:
    train, classes = _image_folder_split(train_dir, size=size, channels=channels)
    test_classes, test_samples = _list_image_folder(test_dir)
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


def _image_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``uint8`` images in [0, 1] (on at most 10,000 images)."""
    sample = x[:10000].double().div_(255)
    mean = sample.mean(dim=(0, 2, 3))
    std = sample.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(v), 4) for v in mean), tuple(round(float(v), 4) for v in std)


# --------------------------------------------------------------------------- MNIST family

IDX_IMAGES, IDX_LABELS = 0x0803, 0x0801  # idx magic: unsigned bytes, 3 or 1 dimensions


def check_idx(path: Path, magic: int, item_shape: tuple[int, ...]) -> int:
    """The item count of the idx file ``path`` after checking its magic number,
    item shape and size, so a damaged file is one DataError naming it (torchvision
    would fail an ``assert`` or reshape, or load nonsense)."""
    nd = 1 + len(item_shape)
    try:
        with open(path, "rb") as f:
            head = f.read(4 * (nd + 1))
        size = path.stat().st_size
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror}); check the file and its permissions") from None
    if len(head) < 4 * (nd + 1) or int.from_bytes(head[:4], "big") != magic:
        raise DataError(f"{path} is not an idx file of {nd}-dimensional unsigned bytes (its header does not start "
                        f"with 0x{magic:08x}); replace it with an intact copy")
    dims = tuple(int.from_bytes(head[4 * i:4 * i + 4], "big") for i in range(1, nd + 1))
    if dims[1:] != item_shape:
        raise DataError(f"{path} holds items of shape {'x'.join(map(str, dims[1:]))}, not "
                        f"{'x'.join(map(str, item_shape))}; replace it with an intact copy")
    expected = 4 * (nd + 1) + dims[0] * int(np.prod(item_shape, dtype=np.int64))
    if size != expected:
        raise DataError(f"{path} is {size} bytes, but its header announces {dims[0]} items ({expected} bytes); "
                        f"the file is truncated or damaged; replace it with an intact copy")
    return dims[0]


def check_idx_pair(images: Path, labels: Path, image_shape: tuple[int, ...]) -> None:
    """An idx image file and its label file, each intact and with as many labels as images."""
    n_images = check_idx(images, IDX_IMAGES, image_shape)
    n_labels = check_idx(labels, IDX_LABELS, ())
    if n_images != n_labels:
        raise DataError(f"{labels} has {n_labels} labels but {images} has {n_images} images; "
                        f"replace both with intact copies")


@register_dataset("mnist", "MNIST handwritten digits, 60,000 + 10,000 grayscale 28x28 images")
def load_mnist(root: Path, download: bool) -> Dataset:
    """MNIST through ``torchvision.datasets.MNIST``; ``root`` holds ``MNIST/raw``."""
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    if all((raw / f).is_file() for f in MNIST_FILES):
        for prefix in ("train", "t10k"):  # headers and sizes first: torchvision asserts, or crashes later
            check_idx_pair(raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte", (28, 28))
    splits = []
    for train in (True, False):
        try:
            ds = MNIST(str(root), train=train, download=download)
        except RuntimeError as exc:
            if download:
                raise _download_failed("MNIST", raw, exc) from None
            if all((raw / f).is_file() for f in MNIST_FILES):
                raise DataError(
                    f"cannot read MNIST from {raw} ({exc}); replace {', '.join(MNIST_FILES)} with intact copies "
                    f"or allow downloads"
                ) from None
            raise DataNotFound(
                f"MNIST not found in {raw} (expected {', '.join(MNIST_FILES)}); pass --data-root pointing "
                f"at the folder holding MNIST/raw, or allow downloads"
            ) from None
        except (OSError, ValueError, EOFError) as exc:
            if download:
                raise _download_failed("MNIST", raw, exc) from None
            raise DataError(
                f"cannot read MNIST from {raw} ({exc}); replace {', '.join(MNIST_FILES)} with intact copies "
                f"or allow downloads"
            ) from None
        x = ds.data.to(torch.uint8).unsqueeze(1).contiguous()
        labels = raw / f"{'train' if train else 't10k'}-labels-idx1-ubyte"
        splits.append(Split(x, check_labels(ds.targets.to(torch.int64), len(MNIST_CLASSES), labels)))
    return Dataset(
        name="mnist",
        train=splits[0],
        test=splits[1],
        num_classes=10,
        in_channels=1,
        input_size=28,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        classes=list(MNIST_CLASSES),
        augment="none",
    )


def demo_path() -> Path:
    return resources_dir() / "demo" / "mnist-demo.npz"


@register_dataset("demo", "a small class-balanced subset of real MNIST shipped with the program (no download)")
def load_demo(root: Path, download: bool) -> Dataset:
    """The MNIST subset in ``resources/demo/mnist-demo.npz``; ``root`` and ``download`` are ignored."""
    path = demo_path()
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except FileNotFoundError:
        raise DataError(
            f"demo data {path} is missing; reinstall the program, set MFDV_RESOURCES to the folder holding "
            f"demo/mnist-demo.npz, or rebuild it with resources/demo/make_demo.py"
        ) from None
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(
            f"demo data {path} is unreadable ({exc}); it must hold x_train, y_train, x_test, y_test — "
            f"rebuild it with resources/demo/make_demo.py"
        ) from None

    def split(x: np.ndarray, y: np.ndarray) -> Split:
        xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8))
        if xt.dim() == 3:
            xt = xt.unsqueeze(1)
        return Split(xt.contiguous(), _labels(y))

    return Dataset(
        name="demo",
        train=split(arrays["x_train"], arrays["y_train"]),
        test=split(arrays["x_test"], arrays["y_test"]),
        num_classes=10,
        in_channels=1,
        input_size=28,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        classes=list(MNIST_CLASSES),
        augment="none",
    )


# --------------------------------------------------------------------------- CIFAR / SVHN


def _cifar_pickled(cls, root: Path, download: bool, folder_name: str, what: str) -> tuple[Split, Split, list[str]]:
    splits = []
    classes: list[str] = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=download)
        except RuntimeError as exc:
            if download:
                raise _download_failed(what, root, exc) from None
            raise DataNotFound(
                f"{what} not found or corrupted in {root / folder_name}; pass --data-root pointing at the "
                f"folder holding {folder_name}, or allow downloads"
            ) from None
        except (OSError, ValueError, EOFError) as exc:
            if download:
                raise _download_failed(what, root, exc) from None
            raise DataError(f"cannot read {what} from {root / folder_name} ({exc}); allow downloads to refetch it") from None
        x = torch.from_numpy(np.asarray(ds.data, dtype=np.uint8)).permute(0, 3, 1, 2).contiguous()
        splits.append(Split(x, _labels(ds.targets)))
        classes = list(ds.classes)
    return splits[0], splits[1], classes


def _cifar10_folder_layout(root: Path) -> tuple[Path, Path] | None:
    for base in (root / "cifar10-jpeg", root):
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base / "train", base / "test"
    archive = root / "cifar10-jpeg.tar.gz"
    if archive.is_file():
        base = _extract_once(archive) / "cifar10-jpeg"
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base / "train", base / "test"
    return None


def _extract_once(archive: Path) -> Path:
    """Unpack an image-folder archive into the cache (once; keyed by its size and
    mtime), never beside the archive, with tarfile's 'data' filter (no links
    out of the folder, no device files)."""
    import hashlib
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


@register_dataset("cifar10", "CIFAR-10, 50,000 + 10,000 colour 32x32 images in 10 classes")
def load_cifar10(root: Path, download: bool) -> Dataset:
    """CIFAR-10 via ``torchvision.datasets.CIFAR10`` (``<root>/cifar-10-batches-py``).

    Without those files, an image-folder copy is used instead:
    ``<root>/cifar10-jpeg/{train,test}/<class>/*.jpg`` or ``<root>/{train,test}/<class>/``
    (decoded once and cached). The official files win when both exist, being lossless.
    """
    from torchvision.datasets import CIFAR10

    folders = _cifar10_folder_layout(root)
    if folders is not None and not (root / "cifar-10-batches-py").is_dir():
        train, test, classes = _image_folder_pair(*folders, size=32, channels="rgb")
        if len(classes) != 10:
            raise DataError(
                f"{folders[0]} has {len(classes)} class folders, CIFAR-10 needs 10 ({', '.join(CIFAR10_CLASSES)})"
            )
    elif (root / "cifar-10-batches-py").is_dir() or download:
        train, test, classes = _cifar_pickled(CIFAR10, root, download, "cifar-10-batches-py", "CIFAR-10")
    else:
        raise DataNotFound(
            f"CIFAR-10 not found in {root} (expected cifar-10-batches-py/ or cifar10-jpeg/train and "
            f"cifar10-jpeg/test with one folder per class); pass --data-root pointing at that folder, "
            f"or allow downloads"
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
        augment="crop-flip",
    )


@register_dataset("cifar100", "CIFAR-100, 50,000 + 10,000 colour 32x32 images in 100 classes")
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
        augment="crop-flip",
    )


@register_dataset("svhn", "SVHN street-view house numbers, 73,257 + 26,032 colour 32x32 digits")
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
                raise _download_failed("SVHN", folder, exc) from None
            raise DataNotFound(
                f"SVHN not found or corrupted in {folder} (expected train_32x32.mat and test_32x32.mat); "
                f"pass --data-root pointing at the folder holding SVHN/, or allow downloads"
            ) from None
        except (OSError, ValueError, EOFError, ImportError) as exc:
            if download:
                raise _download_failed("SVHN", folder, exc) from None
            raise DataError(f"cannot read SVHN from {folder} ({exc}); allow downloads to refetch it") from None
        x = torch.from_numpy(np.ascontiguousarray(ds.data, dtype=np.uint8))
        splits.append(Split(x, _labels(ds.labels)))
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
        augment="crop",
    )


# --------------------------------------------------------------------------- image folders


@register_dataset("tiny-imagenet", "Tiny ImageNet, 100,000 + 10,000 colour 64x64 images in 200 classes")
def load_tiny_imagenet(root: Path, download: bool) -> Dataset:
    """Tiny ImageNet from ``<root>/tiny-imagenet-200``; the test split is the labelled ``val`` split.

    Layout: ``train/<wnid>/images/*.JPEG``, ``val/images/*.JPEG`` and
    ``val/val_annotations.txt`` (file, wnid, box per line). Grayscale images
    are expanded to RGB. Decoded once and cached.
    """
    base = root / "tiny-imagenet-200"
    expected = "train/<wnid>/images/*.JPEG, val/images/*.JPEG and val/val_annotations.txt"
    if not base.is_dir() and download:
        from torchvision.datasets.utils import download_and_extract_archive

        try:
            download_and_extract_archive(TINY_IMAGENET_URL, str(root), md5=TINY_IMAGENET_MD5)
        except Exception as exc:
            raise _download_failed("Tiny ImageNet", root, exc) from None
    annotations = base / "val" / "val_annotations.txt"
    if not (base / "train").is_dir() or not annotations.is_file():
        raise DataNotFound(
            f"Tiny ImageNet not found in {base} (expected {expected}); pass --data-root pointing at the "
            f"folder holding tiny-imagenet-200, or allow downloads"
        )
    classes, train_samples = _list_image_folder(base / "train")
    index = {wnid: i for i, wnid in enumerate(classes)}
    test_samples = []
    try:
        lines = annotations.read_text().splitlines()
    except OSError as exc:
        raise DataError(f"cannot read {annotations} ({exc}); restore the file from the original archive") from None
    for line in lines:
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        if parts[1] not in index:
            raise DataError(
                f"{annotations} names class {parts[1]!r} that has no folder in {base / 'train'}; "
                f"restore the data set from the original archive"
            )
        test_samples.append((str(base / "val" / "images" / parts[0]), index[parts[1]]))
    missing = [p for p, _ in test_samples if not os.path.isfile(p)]
    if not test_samples or missing:
        raise DataError(
            f"Tiny ImageNet validation images missing in {base / 'val' / 'images'} "
            f"({len(missing)} of {len(test_samples)} listed); restore the data set from the original archive"
        )
    x_train, y_train = decode_images(base / "train", train_samples, classes, size=64, channels="rgb")
    x_test, y_test = decode_images(base / "val", test_samples, classes, size=64, channels="rgb")
    names = _tiny_imagenet_names(base, classes)
    return Dataset(
        name="tiny-imagenet",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        num_classes=len(classes),
        in_channels=3,
        input_size=64,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=names,
        augment="crop-flip",
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


IMAGENETTE_FOLDERS = (("imagenette2-160", "160px"), ("imagenette2-320", "320px"), ("imagenette2", "full"))


@register_dataset("imagenette", "Imagenette, 10 easy ImageNet classes, resized to 64x64")
def load_imagenette(root: Path, download: bool) -> Dataset:
    """Imagenette via ``torchvision.datasets.Imagenette`` from ``<root>/imagenette2-160``.

    ``imagenette2-320`` or the full-size ``imagenette2`` are used when the
    160-px copy is absent; downloads fetch the 160-px copy. Each image is
    resized (shorter side to 64 px, antialiased, with
    ``torchvision.transforms.functional.resize``) and centre-cropped to
    64x64 once at decode time; the result is cached, so training sees 64-px
    images only.
    """
    from torchvision.datasets import Imagenette
    from torchvision.datasets.folder import find_classes, make_dataset

    found = [(name, size) for name, size in IMAGENETTE_FOLDERS if (root / name).is_dir()]
    if not found and not download:
        raise DataNotFound(
            f"Imagenette not found in {root} (expected imagenette2-160/train/<class>/ and "
            f"imagenette2-160/val/<class>/); pass --data-root pointing at the folder holding imagenette2-160, "
            f"or allow downloads"
        )
    folder_name, size = found[0] if found else IMAGENETTE_FOLDERS[0]
    splits = []
    classes: list[str] = []
    for split in ("train", "val"):
        try:
            ds = Imagenette(str(root), split=split, size=size, download=download and not found)
            image_root = root / folder_name / split
            wnids, wnid_to_idx = find_classes(str(image_root))
            samples = make_dataset(str(image_root), wnid_to_idx, extensions=(".jpeg", ".jpg", ".png"))
        except RuntimeError as exc:
            if download and not found:
                raise _download_failed("Imagenette", root, exc) from None
            raise DataError(
                f"Imagenette is incomplete in {root / folder_name} (expected train/<class>/ and val/<class>/ "
                f"with JPEG files); restore it from the original archive or allow downloads"
            ) from None
        except (OSError, ValueError) as exc:
            if download and not found:
                raise _download_failed("Imagenette", root, exc) from None
            raise DataError(
                f"cannot read Imagenette from {root / folder_name} ({exc}); restore it from the original archive"
            ) from None
        if not samples:
            raise DataError(f"no images in {image_root}; restore Imagenette from the original archive")
        x, y = decode_images(image_root, samples, wnids, size=64, channels="rgb")
        splits.append(Split(x, y))
        classes = [names[0] for names in ds.classes]
    return Dataset(
        name="imagenette",
        train=splits[0],
        test=splits[1],
        num_classes=len(classes),
        in_channels=3,
        input_size=64,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        classes=classes,
        augment="crop-flip",
    )


@register_dataset("imagefolder", "your own images: <root>/train/<class>/ and <root>/test/<class>/")
def load_imagefolder(root: Path, download: bool) -> Dataset:
    """Any ``torchvision.datasets.ImageFolder`` pair: ``<root>/train/<class>/*`` and ``<root>/test/<class>/*``.

    ``val/`` is accepted in place of ``test/``. Images are square-cropped to
    the shorter side of the first training image (resized where they differ),
    kept grayscale if that image is grayscale, and cached after the first
    decode. ``mean``/``std`` are measured on the training images.
    """
    train_dir = root / "train"
    test_dir = root / "test" if (root / "test").is_dir() else root / "val"
    if not train_dir.is_dir() or not test_dir.is_dir():
        raise DataNotFound(
            f"image folder {root} needs train/ and test/ sub-folders with one folder of images per class; "
            f"pass --data-root pointing at such a folder"
        )
    train, test, classes = _image_folder_pair(train_dir, test_dir, size=None, channels="auto")
    if len(classes) < 2:
        raise DataError(f"{train_dir} has {len(classes)} class folder(s); put each class in its own folder, at least 2")
    mean, std = _image_stats(train.x)
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
        augment="crop-flip",
    )


# --------------------------------------------------------------------------- toy data


def make_moons(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaving half circles (label 0 upper, 1 lower) with Gaussian noise, deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    n_lower = n - n_upper
    t_upper = rng.uniform(0.0, np.pi, n_upper)
    t_lower = rng.uniform(0.0, np.pi, n_lower)
    upper = np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1)
    lower = np.stack([1.0 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.concatenate([np.zeros(n_upper, np.int64), np.ones(n_lower, np.int64)])
    order = rng.permutation(n)
    return torch.from_numpy(x[order].astype(np.float32)), torch.from_numpy(y[order])


@register_dataset("moons", "two interleaving half moons in 2-D (2,000 + 1,000 points, generated)")
def load_moons(root: Path, download: bool) -> Dataset:
    """Generated two-moons points (noise 0.1, fixed seeds); ``root`` and ``download`` are ignored."""
    x_train, y_train = make_moons(2000, 0.1, seed=0)
    x_test, y_test = make_moons(1000, 0.1, seed=1)
    return Dataset(
        name="moons",
        train=Split(x_train, y_train),
        test=Split(x_test, y_test),
        num_classes=2,
        in_channels=2,
        input_size=1,
        mean=None,
        std=None,
        classes=["upper", "lower"],
        augment="none",
    )
