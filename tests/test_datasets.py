"""Data sets a newcomer can find: ``mfdv datasets``, the ``--data-root`` rule, ``data.augment``, the cache folder."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from mfdv_engine.cli import main
from mfdv_engine.config import RunConfig
from mfdv_engine.data import describe_datasets, list_datasets, load_dataset
from mfdv_engine.data.registry import dataset_entry
from mfdv_engine.errors import ConfigError, DataError

# the fixtures write images with torchvision.io, whose codecs torchvision 0.29 marks as deprecated
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities:DeprecationWarning")

#: what each data set trained with before ``data.augment`` existed; only image folders changed (to none)
DEFAULTS = {"mnist": "none", "demo": "none", "moons": "none", "imagefolder": "none", "svhn": "crop",
            "cifar10": "crop-flip", "cifar100": "crop-flip", "tiny-imagenet": "crop-flip", "imagenette": "crop-flip"}


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch) -> Path:
    """Every decode cache of these tests in the test's own folder, never the user's."""
    monkeypatch.setenv("MFDV_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def write_digits(root: Path, per_class: tuple[int, int] = (14, 6)) -> Path:
    """3 classes of 28x28 grayscale 'digits' (a ring, a bar, a seven) with noise: 60 PNGs in train/ and test/."""
    from torchvision.io import write_png

    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    ring = ((yy - 14) ** 2 + (xx - 14) ** 2 - 64).abs() < 20
    shapes = {"0": ring, "1": (xx - 14).abs() < 2, "7": ((yy - 5).abs() < 2) | ((xx + yy // 2 - 27).abs() < 2)}
    for split, n in zip(("train", "test"), per_class):
        for name, mask in shapes.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = torch.randint(0, 40, (1, 28, 28), generator=g, dtype=torch.uint8)
                img[0][mask] = 230
                write_png(img, str(folder / f"{i:03d}.png"))
    return root


# --------------------------------------------------------------------------- mfdv datasets


def test_datasets_lists_every_source_with_its_layout(capsys, cache):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for row in describe_datasets():
        assert f"{row['name']}: {row['description']}" in out
        assert row["layout"] in out
    assert "MFDV_CACHE_DIR" in out and str(cache / "datasets") in out
    assert "<root>/MNIST/raw/train-images-idx3-ubyte" in out
    assert "<root>/train/<class>/*.png and <root>/test/<class>/*.png" in out


def test_datasets_json_for_machines(capsys, cache):
    assert main(["datasets", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == list_datasets()
    by_name = {r["name"]: r for r in rows}
    assert {n: r["augment"] for n, r in by_name.items() if n in DEFAULTS} == DEFAULTS
    for r in rows:
        assert r["layout"] and r["description"] and isinstance(r["downloadable"], bool)
    assert by_name["mnist"]["downloadable"] and not by_name["imagefolder"]["downloadable"]
    assert by_name["imagefolder"]["cache"] == str(cache / "datasets") and by_name["mnist"]["cache"] is None


def test_train_help_points_at_datasets(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "`mfdv datasets`" in text and "imagefolder" in text and "data.augment" in text


def test_unknown_dataset_names_the_command():
    with pytest.raises(DataError, match="mfdv datasets"):
        load_dataset("digits")


# --------------------------------------------------------------------------- --data-root


def test_imagefolder_at_root_or_in_its_own_folder(tmp_path):
    write_digits(tmp_path / "data" / "imagefolder")
    nested = load_dataset("imagefolder", tmp_path / "data")
    direct = load_dataset("imagefolder", tmp_path / "data" / "imagefolder")
    assert nested.classes == direct.classes == ["0", "1", "7"]
    assert torch.equal(nested.train.x, direct.train.x) and nested.train.x.shape == (42, 1, 28, 28)


def test_missing_imagefolder_names_every_path_it_tried(tmp_path):
    (tmp_path / "train").mkdir()  # no test/ beside it
    with pytest.raises(DataError) as info:
        load_dataset("imagefolder", tmp_path)
    msg = str(info.value)
    assert f"{tmp_path}/train with {tmp_path}/test" in msg and f"{tmp_path / 'imagefolder'}/train" in msg
    assert "mfdv datasets" in msg and "\n" not in msg


def test_mnist_root_may_be_its_own_folder(tmp_path, data_root):
    (tmp_path / "MNIST").mkdir()
    os.symlink(data_root / "MNIST" / "raw", tmp_path / "MNIST" / "raw")
    usual = load_dataset("mnist", tmp_path, limit_train=50, limit_test=20)
    for root in (tmp_path / "MNIST", tmp_path / "MNIST" / "raw"):
        ds = load_dataset("mnist", root, limit_train=50, limit_test=20)
        assert torch.equal(ds.train.x, usual.train.x) and torch.equal(ds.test.y, usual.test.y)


def test_missing_mnist_names_every_path_it_tried(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("mnist", tmp_path)
    msg = str(info.value)
    for place in (tmp_path / "MNIST" / "raw", tmp_path / "raw"):
        assert str(place) in msg
    assert "t10k-labels-idx1-ubyte" in msg and "mfdv datasets" in msg


# --------------------------------------------------------------------------- data.augment


@pytest.fixture
def spy(monkeypatch) -> list[str]:
    """The augmentation of every training batch actually augmented (``none`` batches are never augmented)."""
    from mfdv_engine.data import base

    seen: list[str] = []
    real = base.augment_batch

    def record(x, kind, *args, **kwargs):
        seen.append(kind)
        return real(x, kind, *args, **kwargs)

    monkeypatch.setattr(base, "augment_batch", record)
    return seen


def train(tmp_path: Path, *sets: str) -> list[str]:
    argv = ["train", "--preset", "mnist-lenet-plain", "--epochs", "1", "--project", str(tmp_path / "p.mfdv.h5"),
            "--data-root", str(tmp_path / "digits"), "--set", "data.name=imagefolder", "--set", "train.device=cpu",
            "--set", "train.batch_size=16", "--json"]
    for s in sets:
        argv += ["--set", s]
    return argv


def test_digit_folder_trains_unaugmented_by_default(tmp_path, capsys, spy):
    write_digits(tmp_path / "digits")
    assert load_dataset("imagefolder", tmp_path / "digits").augment == "none"
    assert main(train(tmp_path)) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "finished"
    assert spy == []


def test_digit_folder_augment_setting_is_honoured(tmp_path, capsys, spy):
    write_digits(tmp_path / "digits")
    assert load_dataset("imagefolder", tmp_path / "digits", augment="crop-flip").augment == "crop-flip"
    assert main(train(tmp_path, "data.augment=crop-flip")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["status"] == "finished"
    assert spy and set(spy) == {"crop-flip"}
    assert main(["show", "--project", str(tmp_path / "p.mfdv.h5"), "--run", summary["run_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["config"]["data"]["augment"] == "crop-flip"


def test_bad_augment_is_one_sentence(tmp_path, capsys):
    write_digits(tmp_path / "digits")
    assert main(train(tmp_path, "data.augment=mirror")) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "data.augment" in err and "crop-flip" in err and "'mirror'" in err
    assert not (tmp_path / "p.mfdv.h5").exists()
    with pytest.raises(ConfigError, match="data.augment must be one of auto, none, crop, crop-flip"):
        load_dataset("moons", augment="flip")


def test_points_cannot_be_cropped():
    with pytest.raises(ConfigError, match="needs images.*set data.augment=none or auto"):
        load_dataset("moons", augment="crop")


def test_old_configs_load_as_auto_and_round_trip():
    old = RunConfig().to_dict()
    old["data"] = {"name": "mnist", "limit_train": None, "limit_test": None, "download": False}  # no augment key
    cfg = RunConfig.from_dict(old).validate()
    assert cfg.data.augment == "auto"
    assert cfg.to_dict() == old  # an auto config is stored as before the key, so stored runs still match it
    cfg = cfg.with_overrides(["data.augment=crop"])
    assert cfg.to_dict()["data"]["augment"] == "crop"
    assert RunConfig.from_json(cfg.to_json()).data.augment == "crop"
    for name, kind in DEFAULTS.items():
        assert dataset_entry(name).augment == kind


# --------------------------------------------------------------------------- cache folder


def test_cache_dir_env_redirects_the_decode_cache(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv("MFDV_CACHE_DIR", str(elsewhere))
    write_digits(tmp_path / "digits")
    load_dataset("imagefolder", tmp_path / "digits")
    assert len(list((elsewhere / "datasets").glob("*.pt"))) == 2  # one per split
    assert not (tmp_path / "cache").exists()


def test_docs_table_matches_the_registry():
    text = (Path(__file__).resolve().parents[1] / "docs" / "datasets.md").read_text()
    for row in describe_datasets():
        assert f"| `{row['name']}` | {row['description']} | `{row['layout']}` | `{row['augment']}` |" in text


def test_mfdv_data_dir_is_the_default_root(monkeypatch, tmp_path):
    from mfdv_engine.data import default_data_root

    monkeypatch.setenv("MFDV_DATA_DIR", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("MFDV_DATA_DIR")
    assert default_data_root().name == "datasets" and default_data_root() != tmp_path


# --------------------------------------------------------------------------- packed data sets (issue 19.5)

CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar_archive(root: Path, per_class: tuple[int, int] = (3, 2)) -> Path:
    """A small cifar10-jpeg.tar.gz (test members first, like the real one) and the same files unpacked."""
    import tarfile

    import torch
    from torchvision.io import encode_jpeg

    g = torch.Generator().manual_seed(0)
    unpacked = root / "unpacked" / "cifar10-jpeg"
    for split, n in (("test", per_class[1]), ("train", per_class[0])):
        for cls in CIFAR_CLASSES:
            folder = unpacked / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                img = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=g)
                (folder / f"{i:04d}.jpg").write_bytes(encode_jpeg(img).numpy().tobytes())
    packed = root / "packed"
    packed.mkdir()
    with tarfile.open(packed / "cifar10-jpeg.tar.gz", "w:gz") as tf:
        tf.add(unpacked, arcname="cifar10-jpeg")
    return packed


def test_an_evaluation_decodes_only_the_test_split_of_an_archive_and_unpacks_nothing(tmp_path, cache):
    from mfdv_engine.data import load_dataset
    from mfdv_engine.data.image_cache import decoding, list_caches

    packed = write_cifar_archive(tmp_path)
    seen: list[tuple[str, int, int]] = []
    with decoding(report=lambda what, done, total: seen.append((what, done, total))):
        ds = load_dataset("cifar10", packed, splits=("test",))
    assert len(ds.train) == 0 and len(ds.test) == 20 and ds.classes == CIFAR_CLASSES
    caches = list_caches()
    assert [c["images"] for c in caches] == [20] and "test" in caches[0]["source"]  # the training split untouched
    assert not list(cache.rglob("extracted-*")) and not list(cache.rglob("*.jpg"))
    assert any(what.startswith("decoding") and done == total == 20 for what, done, total in seen)  # progress
    assert any("cached 20 decoded images" in what and "MiB" in what for what, _, _ in seen)  # where, how large


def test_an_archive_decodes_to_the_same_examples_in_the_same_order_as_its_folders(tmp_path, monkeypatch):
    import torch

    from mfdv_engine.data import load_dataset

    packed = write_cifar_archive(tmp_path)
    monkeypatch.setenv("MFDV_CACHE_DIR", str(tmp_path / "c1"))
    from_archive = load_dataset("cifar10", packed)
    monkeypatch.setenv("MFDV_CACHE_DIR", str(tmp_path / "c2"))
    from_folders = load_dataset("cifar10", tmp_path / "unpacked")
    for a, b in ((from_archive.train, from_folders.train), (from_archive.test, from_folders.test)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert len(from_archive.train) == 30
    import torchvision.io

    monkeypatch.setenv("MFDV_CACHE_DIR", str(tmp_path / "c1"))
    monkeypatch.setattr(torchvision.io, "decode_image", lambda *a, **k: (_ for _ in ()).throw(AssertionError("decoded again")))
    again = load_dataset("cifar10", packed)  # both splits and the classes from the cache: the archive is not read
    assert torch.equal(again.train.x, from_archive.train.x) and again.classes == CIFAR_CLASSES


def test_datasets_lists_the_caches_with_sizes_and_clears_them(tmp_path, cache, capsys):
    from mfdv_engine.cli import main
    from mfdv_engine.data import load_dataset

    load_dataset("cifar10", write_cifar_archive(tmp_path))
    capsys.readouterr()
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "Decoded-image caches in" in out and "MiB" in out and "--clear-cache" in out
    assert "30 images" in out and "20 images" in out
    assert main(["datasets", "--caches", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["images"] for r in rows) == [20, 30] and all(r["bytes"] > 0 for r in rows)
    assert main(["datasets", "--clear-cache"]) == 0
    assert "removed 2 cache(s)" in capsys.readouterr().err
    assert not list(cache.rglob("*.pt"))
    assert main(["datasets"]) == 0 and "No decoded-image caches" in capsys.readouterr().out


def test_the_api_reports_a_first_decode_as_progress_events(tmp_path, cache):
    import mfdv_engine as mfdv
    from mfdv_engine.config import load_preset

    write_digits(tmp_path / "digits")
    cfg = load_preset("mnist-lenet-plain").with_overrides(
        ["data.name=imagefolder", "train.device=cpu", "train.batch_size=16", "train.epochs=1"])
    events = []
    mfdv.train(tmp_path / "p.mfdv.h5", cfg, data_root=tmp_path / "digits", on_event=events.append)
    phases = [e.phase for e in events if isinstance(e, mfdv.Progress)]
    assert any(p.startswith("decoding") and "train" in p for p in phases)
    assert any(p.startswith("cached 42 decoded images") for p in phases)
    assert any(isinstance(e, mfdv.TrainingEvent) and e.kind == "epoch" for e in events)
