"""Tensor trees and curves as HDF5 datasets, read back without running code.

A checkpoint (nested dicts/lists of tensors and plain values) is stored as one
dataset per tensor plus the skeleton as a JSON attribute, so reading it back
never unpickles. Reading checks every dataset with :mod:`.h5guard` and every
dtype name against a fixed list before anything is allocated.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable

import h5py
import numpy as np
import torch

from .h5guard import attr_text, check_dataset, damaged, hard_child, parse_json

#: the tensor dtypes a checkpoint holds (names as stored: ``str(dtype)`` without ``torch.``)
TENSOR_DTYPES = {name: getattr(torch, name) for name in (
    "float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool")}

#: the names :func:`write_tree` gives tensors (t0, t1, ...): anything else is not ours
_TENSOR_NAME = re.compile(r"t[0-9]{1,9}")
#: ``shape_of(path) -> expected shape or None``; ``path`` is the tuple of keys from the root
ShapeCheck = Callable[[tuple], "tuple[int, ...] | None"]


def write_tree(group: h5py.Group, obj: Any) -> None:
    """Store a nested dict/list of tensors and plain values: tensors as datasets,
    the skeleton as a JSON attribute (so reading back runs no code)."""
    counter = [0]

    def enc(o: Any) -> Any:
        if isinstance(o, torch.Tensor):
            name = f"t{counter[0]}"
            counter[0] += 1
            t = o.detach().cpu()
            dtype = str(t.dtype).removeprefix("torch.")
            if t.dtype == torch.bfloat16:
                t = t.float()
            group.create_dataset(name, data=t.numpy())
            return {"__tensor__": name, "dtype": dtype}
        if isinstance(o, dict):
            if all(isinstance(k, str) for k in o):
                return {"__dict__": {k: enc(v) for k, v in o.items()}}
            return {"__items__": [[k, enc(v)] for k, v in o.items()]}
        if isinstance(o, (list, tuple)):
            return {"__list__": [enc(v) for v in o], "tuple": isinstance(o, tuple)}
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"cannot store a {type(o).__name__} in a project file")

    group.attrs["tree"] = json.dumps(enc(obj))


def read_tree(group: h5py.Group, map_location: str | torch.device = "cpu", shape_of: ShapeCheck | None = None) -> Any:
    """The tree :func:`write_tree` stored; ``shape_of`` checks tensor shapes (e.g. against a
    model) before any tensor is read."""
    where = f"{group.file.filename}:{group.name}"
    skeleton = parse_json(attr_text(group.attrs, "tree", ""), dict, f"the checkpoint tree of {where}")

    def tensor(o: dict, path: tuple) -> torch.Tensor:
        name, dtype = o.get("__tensor__"), o.get("dtype")
        if not isinstance(name, str) or not _TENSOR_NAME.fullmatch(name) or dtype not in TENSOR_DTYPES:
            raise damaged(where, f"names a tensor {str(name)[:40]!r} of type {str(dtype)[:20]!r}, not one the store writes")
        ds = hard_child(group, name, h5py.Dataset)
        if ds is None:
            raise damaged(where, f"lacks the tensor {name!r} its tree names")
        check_dataset(ds, shape_of(path) if shape_of else None)
        return torch.from_numpy(np.asarray(ds[()])).to(device=map_location, dtype=TENSOR_DTYPES[dtype])

    def dec(o: Any, path: tuple) -> Any:
        if not isinstance(o, dict):
            return o
        if "__tensor__" in o:
            return tensor(o, path)
        if isinstance(o.get("__dict__"), dict):
            return {k: dec(v, path + (k,)) for k, v in o["__dict__"].items()}
        if isinstance(o.get("__items__"), list):
            pairs = [p for p in o["__items__"] if isinstance(p, list) and len(p) == 2]
            return {_key(k): dec(v, path + (k,)) for k, v in pairs}
        if isinstance(o.get("__list__"), list):
            items = [dec(v, path + (i,)) for i, v in enumerate(o["__list__"])]
            return tuple(items) if o.get("tuple") else items
        raise damaged(where, "holds a checkpoint tree entry the store never writes")

    try:
        return dec(skeleton, ())
    except RecursionError:
        raise damaged(where, "holds a checkpoint tree nested too deeply") from None


def _key(k: Any) -> Any:
    """Dict keys from ``__items__``: JSON scalars only (lists are not hashable)."""
    return k if isinstance(k, (str, int, float, bool)) or k is None else str(k)


def write_curves(group: h5py.Group, rows: list[dict[str, float]]) -> None:
    """Curves as growable float64 datasets, one per field (NaN where a row lacks it)."""
    keys = sorted({k for r in rows for k in r})
    for k in keys:
        data = np.array([float(r.get(k, np.nan)) for r in rows], dtype=np.float64)
        group.create_dataset(k, data=data, maxshape=(None,), chunks=(max(1, min(len(data), 1024)),) if len(data) else (1,))


def read_curves(group: h5py.Group | None) -> dict[str, np.ndarray]:
    if group is None:
        return {}
    out = {}
    for k in group:
        ds = hard_child(group, k, h5py.Dataset)
        check_dataset(ds)
        if ds.ndim != 1:
            raise damaged(f"{group.file.filename}:{ds.name}", "is not a one-dimensional curve")
        out[k] = np.asarray(ds[()], dtype=np.float64)
    if len({len(v) for v in out.values()}) > 1:
        raise damaged(f"{group.file.filename}:{group.name}", "holds curves of different lengths")
    return out


def curve_rows(curves: dict[str, np.ndarray]) -> list[dict[str, float]]:
    if not curves:
        return []
    n = len(next(iter(curves.values())))
    return [{k: float(v[i]) for k, v in curves.items() if not np.isnan(v[i])} for i in range(n)]
