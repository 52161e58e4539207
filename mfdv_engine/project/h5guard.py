"""What the store accepts from an HDF5 file: only what it writes itself.

A project file is data from a stranger. HDF5 can make a dataset read another
local file (external raw storage), make a name point elsewhere (soft and
external links), assemble data from other files (virtual datasets), or
declare a shape far larger than the file. Any of those would let ``mfdv
train --resume`` copy a local file into the project, or exhaust memory. So
before the store reads a part of a file it walks that part and refuses
everything it never writes, with one sentence naming the path inside the
file. Attributes are read through typed accessors for the same reason: text
where a number belongs, or JSON nested 100,000 deep, is "damaged", never a
traceback.
"""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np
from h5py import h5d, h5z

from ..errors import ProjectError

#: bool, signed and unsigned integers, floats: every dtype the store writes
ALLOWED_KINDS = "biuf"
ALLOWED_LAYOUTS = (h5d.COMPACT, h5d.CONTIGUOUS, h5d.CHUNKED)
ALLOWED_FILTERS = (h5z.FILTER_DEFLATE, h5z.FILTER_SHUFFLE, h5z.FILTER_FLETCHER32)
MAX_NDIM = 8
#: 2**31 elements: ~8 GiB of float32, beyond any checkpoint or gallery we write
MAX_ELEMENTS = 2**31
#: a compressed dataset may expand at most this much over the whole file's size
MAX_EXPANSION = 1024
MAX_ATTR_TEXT = 64 * 2**20


def damaged(where: str, what: str) -> ProjectError:
    return ProjectError(f"{where} {what}; the project file is damaged or was not written by MFDV Studio — "
                        "restore a backup or delete that run")


def _where(obj: h5py.HLObject | h5py.File, name: str = "") -> str:
    path = obj.name if not name else f"{obj.name.rstrip('/')}/{name}"
    return f"{obj.file.filename}:{path}" if isinstance(obj.file, h5py.File) else path


def hard_child(group: h5py.Group, name: str, kind: type | None = None) -> Any:
    """``group[name]`` only when every step of ``name`` is a plain (hard) link inside this
    file, of ``kind`` at the end. An absolute name or ``..`` is refused: HDF5 would
    resolve it from the file's root, outside the part that was checked."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise damaged(_where(group, name), "is a path that leaves its group, which a project never names")
    obj: Any = group
    for i, part in enumerate(parts):
        if not isinstance(obj, h5py.Group):
            raise damaged(_where(group, "/".join(parts[:i])), "is not a group")
        link = obj.get(part, getlink=True)
        if link is None:
            return None
        if not isinstance(link, h5py.HardLink):
            raise damaged(_where(obj, part), f"is a {type(link).__name__} (a pointer to other data), which a project never holds")
        obj = obj[part]
    if kind is not None and not isinstance(obj, kind):
        raise damaged(_where(group, name), f"is a {type(obj).__name__} where a {kind.__name__} belongs")
    return obj


def check_tree(group: h5py.Group) -> None:
    """Refuse anything under ``group`` the store would not have written."""
    for name in group:
        obj = hard_child(group, name)
        if isinstance(obj, h5py.Group):
            check_tree(obj)
        elif isinstance(obj, h5py.Dataset):
            check_dataset(obj)
        else:
            raise damaged(_where(group, name), f"is a {type(obj).__name__}, which a project never holds")


def check_dataset(ds: h5py.Dataset, shape: tuple[int, ...] | None = None) -> None:
    """A plain numeric dataset stored inside this file, of a size the file can hold."""
    where = _where(ds)
    dcpl = ds.id.get_create_plist()
    if dcpl.get_layout() not in ALLOWED_LAYOUTS:
        raise damaged(where, "is a virtual dataset (it reads other files)")
    if dcpl.get_external_count():
        raise damaged(where, "keeps its data in an external file")
    filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
    if any(f not in ALLOWED_FILTERS for f in filters):
        raise damaged(where, f"uses an HDF5 filter the store never writes ({filters})")
    if ds.dtype.kind not in ALLOWED_KINDS or ds.dtype.names is not None or ds.dtype.subdtype is not None:
        raise damaged(where, f"has data type {ds.dtype}, not a plain number type")
    if ds.ndim > MAX_NDIM or ds.shape is None:
        raise damaged(where, f"has {ds.ndim} dimensions")
    if shape is not None and tuple(ds.shape) != tuple(shape):
        raise damaged(where, f"has shape {tuple(ds.shape)} where the model needs {tuple(shape)}")
    n = int(np.prod(ds.shape, dtype=object))
    size = ds.file.id.get_filesize()
    limit = size * (MAX_EXPANSION if filters else 1) + 4096
    if n > MAX_ELEMENTS or n * ds.dtype.itemsize > limit:
        raise damaged(where, f"declares shape {tuple(ds.shape)}, more data than the file ({size} bytes) can hold")


def attr_text(attrs: h5py.AttributeManager, key: str, default: str = "") -> str:
    """A text attribute (variable- or fixed-length UTF-8), or ``default`` when absent."""
    if key not in attrs:
        return default
    v = _raw(attrs, key)
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            v = None
    if not isinstance(v, str) or len(v) > MAX_ATTR_TEXT:
        raise damaged(_attr_where(attrs, key), "is not text")
    return v


def attr_int(attrs: h5py.AttributeManager, key: str, default: int = 0, *, low: int = 0, high: int = 2**31) -> int:
    """A whole-number attribute within [low, high]."""
    if key not in attrs:
        return default
    v = _raw(attrs, key)
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not low <= int(v) <= high:
        raise damaged(_attr_where(attrs, key), f"is not a whole number from {low} to {high}")
    return int(v)


def _raw(attrs: h5py.AttributeManager, key: str) -> Any:
    """The attribute's value, or None when HDF5 cannot even decode it (a damaged type)."""
    try:
        return attrs[key]
    except (OSError, TypeError, ValueError):
        return None


def attr_json(attrs: h5py.AttributeManager, key: str, default: Any, kind: type) -> Any:
    """A JSON attribute whose top level is a ``kind`` (dict or list)."""
    text = attr_text(attrs, key, "")
    if not text:
        return default
    return parse_json(text, kind, _attr_where(attrs, key))


def parse_json(text: str, kind: type, where: str) -> Any:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise damaged(where, "is not valid JSON (or is nested too deeply)") from None
    if not isinstance(value, kind):
        raise damaged(where, f"holds a JSON {type(value).__name__} where a JSON {'object' if kind is dict else 'list'} belongs")
    return value


def _attr_where(attrs: h5py.AttributeManager, key: str) -> str:
    try:
        owner = attrs._id  # the object the attributes belong to
        name = h5py.h5i.get_name(owner).decode(errors="replace")
    except Exception:  # noqa: BLE001 - only for the message
        name = "?"
    return f"attribute {key!r} of {name}"
