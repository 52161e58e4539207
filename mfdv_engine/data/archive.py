"""Image-folder data sets shipped as one archive (``cifar10-jpeg.tar.gz``), decoded
straight from it: nothing is unpacked to disk, only the split a command needs is
decoded, and each decoded split is cached (:mod:`.image_cache`) with its class names.

The examples come in the order :func:`.image_cache.decode_images` gives the same
files unpacked (classes sorted, files sorted within a class, then one fixed
shuffle with seed 0), so a run trained on the folder and one on the archive see
the same ``limit_train``/``limit_test`` examples.
"""
from __future__ import annotations

import hashlib
import json
import tarfile
import warnings
from pathlib import Path

import torch

from ..errors import DataError
from .base import Split
from .image_cache import CACHE_FORMAT, decode_all, read_cache, write_cache, dataset_cache_dir, wanted

SPLITS = ("train", "test")


def archive_pair(archive: Path, prefix: str, *, size: int, channels: str) -> tuple[Split, Split, list[str]]:
    """Train and test of ``archive`` (``<prefix>/{train,test}/<class>/<file>``) as uint8 splits and the
    class names; a split the current load does not want comes back empty (see :func:`.image_cache.decoding`)."""
    st = archive.stat()
    ident = f"v{CACHE_FORMAT}|archive={archive.resolve()}|{st.st_size}|{st.st_mtime_ns}|{prefix}|size={size}|{channels}"
    paths = {sp: dataset_cache_dir() / f"{hashlib.sha256(f'{ident}|{sp}'.encode()).hexdigest()[:32]}.pt"
             for sp in SPLITS}
    need = [sp for sp in SPLITS if wanted(sp) or sp == "test"]
    cached = {sp: read_cache(paths[sp]) for sp in need}
    classes = _cached_classes(paths[need[0]])
    if classes is None or any(v is None for v in cached.values()):
        members, classes = _read_members(archive, prefix, [sp for sp in need if cached[sp] is None])
        for sp, files in members.items():
            cached[sp] = _decode(files, classes, size, channels, f"{archive.name}:{prefix}/{sp}", paths[sp])
    c = 1 if channels == "gray" else 3
    empty = (torch.empty((0, c, size, size), dtype=torch.uint8), torch.empty(0, dtype=torch.int64))
    train, test = (Split(*(cached.get(sp) or empty)) for sp in SPLITS)
    return train, test, classes


def _cached_classes(path: Path) -> list[str] | None:
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        return list(meta["classes"]) if isinstance(meta.get("classes"), list) else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_members(archive: Path, prefix: str, splits: list[str]) -> tuple[dict[str, list], list[str]]:
    """The bytes of every file of ``splits`` ({split: [(class, name, bytes)]}) and the training classes
    (from the member names: the training split's bytes are read only when it is wanted)."""
    out: dict[str, list] = {sp: [] for sp in splits}
    classes: set[str] = set()
    try:
        with tarfile.open(archive) as tf:
            for m in tf:
                parts = m.name.split("/")
                if not m.isfile() or len(parts) != 4 or parts[0] != prefix or parts[1] not in SPLITS:
                    continue
                if parts[1] == "train":
                    classes.add(parts[2])
                if parts[1] in out:
                    out[parts[1]].append((parts[2], m.name, tf.extractfile(m).read()))
    except (OSError, tarfile.TarError, EOFError) as e:
        raise DataError(f"cannot read {archive} ({e}); replace it with an intact copy") from None
    if not classes or any(not files for files in out.values()):
        raise DataError(f"{archive} holds no {prefix}/train/<class>/ and {prefix}/test/<class>/ images")
    return out, sorted(classes)


def _decode(files: list, classes: list[str], size: int, channels: str, what: str, cache: Path):
    """Decode one split's files in the fixed order and cache them (with the class names)."""
    import random

    from torchvision.io import decode_image

    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({c for c, _, _ in files} - set(index))
    if unknown:
        raise DataError(f"{what} has classes the training split lacks ({', '.join(unknown[:5])})")
    files = sorted(files, key=lambda f: (index[f[0]], f[1]))
    samples = [(f[1], index[f[0]]) for f in files]
    random.Random(0).shuffle(samples)
    blobs = {name: data for _, name, data in files}

    def decode(name: str, mode) -> torch.Tensor:
        try:
            return decode_image(torch.frombuffer(bytearray(blobs[name]), dtype=torch.uint8), mode=mode)
        except RuntimeError as exc:
            raise DataError(f"cannot decode {name} in the archive ({exc}); replace the archive") from None

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*decoding and encoding capabilities of TorchVision",
                                category=DeprecationWarning)
        x = decode_all(samples, decode, channels, size, what=f"decoding {what} once")
    y = torch.tensor([label for _, label in samples], dtype=torch.int64)
    write_cache(cache, x, y, what, classes=classes)
    return x, y
