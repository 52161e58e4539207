"""MNIST and the embedded ``demo`` subset of it.

MNIST is read from torchvision's layout (``<root>/MNIST/raw``, the four
unpacked idx files) with torchvision's own idx readers, after checking each
file's header and size so a damaged file is one sentence naming it. Per the
``--data-root`` rule, ``<root>`` may also be the ``MNIST`` folder itself or
the folder holding the idx files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import DataError, DataNotFound
from ..resources import resources_dir
from .base import Dataset, Split
from .registry import as_labels, check_labels, download_failed, register_dataset

MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
MNIST_LAYOUT = ("<root>/MNIST/raw/train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                "t10k-labels-idx1-ubyte (unpacked, as torchvision stores them)")

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


def mnist_folders(root: Path) -> list[Path]:
    """Where MNIST's idx files are looked for, in order: ``<root>/MNIST/raw``, ``<root>/raw``, ``<root>``."""
    return [root / "MNIST" / "raw", root / "raw", root]


def _find_raw(root: Path, download: bool) -> Path:
    """The first folder holding all four idx files (downloading them into ``<root>/MNIST/raw`` if allowed)."""
    for folder in mnist_folders(root):
        if all((folder / f).is_file() for f in MNIST_FILES):
            return folder
    raw = root / "MNIST" / "raw"
    if download:
        from torchvision.datasets import MNIST

        try:
            MNIST(str(root), train=True, download=True)
        except (RuntimeError, OSError, ValueError, EOFError) as exc:
            raise download_failed("MNIST", raw, exc) from None
        return raw
    zipped = [f for f in mnist_folders(root) if (f / f"{MNIST_FILES[0]}.gz").is_file()]
    hint = f"; unpack the .gz files in {zipped[0]} with gunzip" if zipped else ""
    places = ", ".join(str(f) for f in mnist_folders(root))
    raise DataNotFound(
        f"MNIST not found: looked for {', '.join(MNIST_FILES)} in {places}{hint}; pass --data-root pointing "
        f"at the folder holding MNIST/raw (see `mfdv datasets`), or set data.download=true"
    )


def _read_split(raw: Path, prefix: str) -> Split:
    """One split's images ``(N, 1, 28, 28)`` and checked labels, read with torchvision's idx readers."""
    from torchvision.datasets.mnist import read_image_file, read_label_file

    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    check_idx_pair(images, labels, (28, 28))  # headers and sizes first: torchvision asserts, or crashes later
    try:
        x, y = read_image_file(str(images)), read_label_file(str(labels))
    except (RuntimeError, OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read MNIST from {raw} ({exc}); replace {', '.join(MNIST_FILES)} with intact "
                        f"copies or set data.download=true") from None
    x = x.to(torch.uint8).unsqueeze(1).contiguous()
    return Split(x, check_labels(y.to(torch.int64), len(MNIST_CLASSES), labels))


@register_dataset("mnist", "MNIST handwritten digits, 60,000 + 10,000 grayscale 28x28 images",
                  layout=MNIST_LAYOUT, augment="none", downloadable=True, test_size=10000)
def load_mnist(root: Path, download: bool) -> Dataset:
    """MNIST from the idx files torchvision downloads into ``<root>/MNIST/raw``."""
    raw = _find_raw(root, download)
    return _digits("mnist", _read_split(raw, "train"), _read_split(raw, "t10k"))


def demo_path() -> Path:
    """The embedded MNIST subset (moves with ``$MFDV_RESOURCES``)."""
    return resources_dir() / "demo" / "mnist-demo.npz"


@register_dataset("demo", "a small class-balanced subset of real MNIST shipped with the program (no download)",
                  layout="none: shipped in resources/demo/mnist-demo.npz (--data-root is ignored)", augment="none",
                  test_size=850)
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
        return Split(xt.contiguous(), as_labels(y))

    return _digits("demo", split(arrays["x_train"], arrays["y_train"]), split(arrays["x_test"], arrays["y_test"]))


def _digits(name: str, train: Split, test: Split) -> Dataset:
    """A 28×28 grey-digit data set with MNIST's classes and normalisation."""
    return Dataset(name=name, train=train, test=test, num_classes=10, in_channels=1, input_size=28,
                   mean=MNIST_MEAN, std=MNIST_STD, classes=list(MNIST_CLASSES))
