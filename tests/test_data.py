"""Tests of the data layer: loaders, cache, augmentation and batching."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from mfdv_engine.data import (
    Dataset,
    Split,
    augment_batch,
    iterate_batches,
    list_datasets,
    load_dataset,
)
from mfdv_engine.data.base import random_crop
from mfdv_engine.data.mnist import demo_path
from mfdv_engine.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("MFDV_DATA_DIR", REPO.parent / "shared" / "datasets"))
# the fixtures write images with torchvision.io, whose codecs torchvision 0.29 marks as deprecated
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")

HAVE_MNIST = (DATA_DIR / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()


# --------------------------------------------------------------------------- loaders


def test_registry_lists_builtins():
    names = list_datasets()
    for name in ("mnist", "demo", "moons", "cifar10", "cifar100", "svhn", "tiny-imagenet", "imagenette", "imagefolder"):
        assert name in names


def test_demo_is_small_real_mnist():
    assert demo_path().stat().st_size <= 2 * 1024 * 1024
    ds = load_dataset("demo")
    assert isinstance(ds, Dataset)
    assert ds.train.x.dtype == torch.uint8 and ds.train.x.shape[1:] == (1, 28, 28)
    assert ds.test.x.dtype == torch.uint8 and ds.test.x.shape[1:] == (1, 28, 28)
    assert ds.train.y.dtype == torch.int64
    assert (ds.num_classes, ds.in_channels, ds.input_size) == (10, 1, 28)
    assert len(ds.train) > 1000 and len(ds.test) > 100
    counts = torch.bincount(ds.train.y, minlength=10)
    assert counts.min() == counts.max()  # class-balanced
    assert ds.train.x.float().mean() / 255 == pytest.approx(0.13, abs=0.02)


def test_moons_shapes_and_determinism():
    a = load_dataset("moons")
    b = load_dataset("moons")
    assert a.train.x.shape == (2000, 2) and a.test.x.shape == (1000, 2)
    assert a.train.x.dtype == torch.float32 and a.train.y.dtype == torch.int64
    assert (a.in_channels, a.input_size, a.augment, a.classes) == (2, 1, "none", ["upper", "lower"])
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.y, b.test.y)
    assert not torch.equal(a.train.x[:1000], a.test.x)
    assert set(a.train.y.tolist()) == {0, 1}


@pytest.mark.skipif(not HAVE_MNIST, reason=f"real MNIST not found in {DATA_DIR}")
def test_real_mnist_and_limits():
    ds = load_dataset("mnist", DATA_DIR)
    assert len(ds.train) == 60000 and len(ds.test) == 10000
    assert ds.train.x.shape == (60000, 1, 28, 28) and ds.train.x.dtype == torch.uint8
    assert ds.train.y.dtype == torch.int64
    assert ds.train.x[:5000].float().mean() / 255 == pytest.approx(0.1307, abs=0.01)
    small = load_dataset("mnist", DATA_DIR, limit_train=100, limit_test=30)
    assert len(small.train) == 100 and len(small.test) == 30
    assert torch.equal(small.train.x, ds.train.x[:100]) and torch.equal(small.test.y, ds.test.y[:30])


def test_missing_mnist_names_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        load_dataset("mnist", missing)
    message = str(info.value)
    assert str(missing / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message


def test_missing_image_folder_names_folder(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path)):
        load_dataset("imagefolder", tmp_path)
    with pytest.raises(DataError, match="tiny-imagenet-200"):
        load_dataset("tiny-imagenet", tmp_path)


def test_unknown_dataset():
    with pytest.raises(DataError, match="mnist"):
        load_dataset("no-such-data")


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_limit(bad):
    with pytest.raises(ConfigError):
        load_dataset("moons", limit_train=bad)


# --------------------------------------------------------------------------- augmentation


def _images(n=64, c=3, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, c, size, size), generator=g) + 0.01  # strictly positive: padding shows as zeros


def test_crop_matches_manual_pad_and_slice():
    x = _images()
    oy = torch.randint(0, 9, (64,), generator=torch.Generator().manual_seed(1))
    ox = torch.randint(0, 9, (64,), generator=torch.Generator().manual_seed(2))
    out = random_crop(x, 4, offsets=(oy, ox))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in (0, 17, 63):
        expected = padded[i, :, oy[i] : oy[i] + 8, ox[i] : ox[i] + 8]
        assert torch.equal(out[i], expected)


def test_crop_is_shifted_copy_and_reproducible():
    x = _images()
    a = augment_batch(x, "crop", torch.Generator().manual_seed(5))
    b = augment_batch(x, "crop", torch.Generator().manual_seed(5))
    assert a.shape == x.shape
    assert torch.equal(a, b)
    assert (a.sum(dim=(1, 2, 3)) <= x.sum(dim=(1, 2, 3)) + 1e-4).all()
    # offsets differ between examples: some stay centred, most do not
    moved = (a != x).flatten(1).any(1)
    assert 0 < int(moved.sum()) <= 64
    assert augment_batch(x, "none") is x


def test_flip_is_per_example():
    x = _images(size=6)
    out = augment_batch(x, "crop-flip", torch.Generator().manual_seed(3))
    # undo the crop by comparing against each example's crop without flipping
    g = torch.Generator().manual_seed(3)
    cropped = augment_batch(x, "crop", g)
    flipped = torch.tensor([torch.equal(out[i], cropped[i].flip(-1)) for i in range(64)])
    same = torch.tensor([torch.equal(out[i], cropped[i]) for i in range(64)])
    assert (flipped | same).all()
    assert 0 < int((flipped & ~same).sum()) < 64
    assert 0 < int((same & ~flipped).sum()) < 64


def test_augment_on_uint8_converted_batches():
    ds = load_dataset("demo", limit_train=64)
    x = ds.train.x.float().div_(255)
    out = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    raw = augment_batch(ds.train.x, "crop", torch.Generator().manual_seed(0))
    assert raw.dtype == torch.uint8


def test_bad_augment_kind():
    with pytest.raises(ConfigError):
        augment_batch(_images(), "rotate")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_augment_on_cuda():
    x = _images().cuda()
    out = augment_batch(x, "crop-flip", torch.Generator().manual_seed(0))
    assert out.device.type == "cuda" and out.shape == x.shape


# --------------------------------------------------------------------------- batching


def test_iterate_batches_covers_epoch_once():
    x = torch.arange(103, dtype=torch.uint8).view(103, 1, 1, 1).expand(103, 1, 4, 4).contiguous()
    split = Split(x, torch.arange(103))
    g = torch.Generator().manual_seed(0)
    seen = []
    for xb, yb in iterate_batches(split, 10, shuffle=True, generator=g):
        assert xb.dtype == torch.float32 and float(xb.max()) <= 1.0
        assert torch.allclose(xb[:, 0, 0, 0] * 255, yb.float())
        seen.append(yb)
    order = torch.cat(seen)
    assert sorted(order.tolist()) == list(range(103))
    assert order.tolist() != list(range(103))
    batches = list(iterate_batches(split, 10, shuffle=False, drop_last=True))
    assert len(batches) == 10 and torch.equal(batches[0][1], torch.arange(10))


def test_iterate_batches_float_and_augment():
    ds = load_dataset("moons")
    xb, yb = next(iterate_batches(ds.train, 32, shuffle=False))
    assert torch.equal(xb, ds.train.x[:32]) and torch.equal(yb, ds.train.y[:32])
    demo = load_dataset("demo", limit_train=50)
    batches = list(iterate_batches(demo.train, 16, shuffle=True, augment="crop", generator=torch.Generator().manual_seed(1)))
    assert sum(len(y) for _, y in batches) == 50
    assert all(x.shape[1:] == (1, 28, 28) for x, _ in batches)


def test_split_helpers():
    split = Split(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10))
    assert len(split.subset(3)) == 3 and torch.equal(split.subset(3).y, torch.arange(3))
    assert len(split.subset(50)) == 10
    moved = split.to("cpu")
    assert isinstance(moved, Split) and moved is not split


# --------------------------------------------------------------------------- image folders and cache


def _write_folder(root: Path) -> None:
    from torchvision.io import write_png

    g = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for label, cls in enumerate(("cat", "dog")):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(3):
                img = torch.randint(0, 256, (3, 12, 12), generator=g, dtype=torch.uint8)
                img[0] = label * 200  # red channel tells the class
                write_png(img, str(folder / f"{i:04d}.png"))


def test_imagefolder_decodes_once_and_caches(tmp_path, monkeypatch):
    data = tmp_path / "data"
    cache = tmp_path / "cache"
    monkeypatch.setenv("MFDV_CACHE_DIR", str(cache))
    _write_folder(data)

    ds = load_dataset("imagefolder", data)
    assert ds.classes == ["cat", "dog"] and ds.num_classes == 2
    assert ds.train.x.shape == (6, 3, 12, 12) and ds.train.x.dtype == torch.uint8
    assert ds.test.x.shape == (6, 3, 12, 12) and ds.input_size == 12 and ds.in_channels == 3
    assert sorted(ds.train.y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert ds.train.y.tolist() != [0, 0, 0, 1, 1, 1]  # one fixed mixed order, not class by class
    assert (ds.train.x[:, 0, 0, 0] == ds.train.y * 200).all()
    cached = sorted(cache.rglob("*.pt"))
    assert len(cached) == 2  # one per split

    import torchvision.io

    def boom(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")

    monkeypatch.setattr(torchvision.io, "decode_image", boom)
    again = load_dataset("imagefolder", data)
    assert torch.equal(again.train.x, ds.train.x) and torch.equal(again.test.y, ds.test.y)
    assert sorted(cache.rglob("*.pt")) == cached
    assert not list(cache.rglob("*.tmp"))


def test_cifar10_jpeg_layout(tmp_path, monkeypatch):
    from torchvision.io import encode_jpeg

    monkeypatch.setenv("MFDV_CACHE_DIR", str(tmp_path / "cache"))
    base = tmp_path / "cifar10-jpeg"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    for split in ("train", "test"):
        for cls in classes:
            folder = base / split / cls
            folder.mkdir(parents=True)
            (folder / "0000.jpg").write_bytes(encode_jpeg(torch.full((3, 32, 32), 100, dtype=torch.uint8)).numpy().tobytes())
    ds = load_dataset("cifar10", tmp_path)
    assert ds.train.x.shape == (10, 3, 32, 32) and ds.classes == classes and ds.augment == "crop-flip"
