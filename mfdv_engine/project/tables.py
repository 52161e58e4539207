"""The robustness table and the other stored results of a run (a mixin of Project).

Rows are a JSON list attribute (each row with its protocol) plus a gzip'd gallery
group per row; other results (checklist, decision boundaries) are a JSON ``meta``
attribute plus numeric datasets. Everything read back goes through h5guard.
"""
from __future__ import annotations

import json
from typing import Any

import h5py
import numpy as np

from ..errors import ProjectError
from .h5guard import attr_json, check_tree, damaged, hard_child
from .records import run_of


class TablesMixin:
    """Needs ``run``, ``_read`` and ``transaction`` from :class:`~mfdv_engine.project.store.Project`."""

    def add_eval_row(self, run_id: str, row: dict[str, Any], gallery: dict[str, np.ndarray] | None = None) -> None:
        """Append one robustness row (replacing a row with the same key) and its gallery."""
        rows = self.eval_rows(run_id)  # refuses a damaged table before anything is written
        rows = [r for r in rows if r.get("key") != row["key"]] + [row]
        grow = sum(v.nbytes for v in (gallery or {}).values()) + 8192
        with self.transaction(grow=grow) as f:
            g = f["runs"][run_id].require_group("robustness")
            g.attrs["rows"] = json.dumps(rows, sort_keys=True)
            if gallery is not None:
                gal = g.require_group("gallery")
                name = row["key"].replace("/", "_")
                if name in gal:
                    del gal[name]
                sub = gal.create_group(name)
                for k, v in gallery.items():
                    sub.create_dataset(k, data=v, compression="gzip")

    def eval_rows(self, run_id: str) -> list[dict[str, Any]]:
        """The run's robustness rows; a damaged table raises its sentence."""
        self.run(run_id)
        with self._read() as f:
            g = hard_child(run_of(f, run_id), "robustness", h5py.Group)
            rows = attr_json(g.attrs, "rows", [], list) if g is not None else []
        if not all(isinstance(r, dict) and isinstance(r.get("key"), str) for r in rows):
            raise damaged(f"the robustness table of run {run_id!r}", "holds an entry that is not a row")
        return rows

    def gallery(self, run_id: str, key: str) -> dict[str, np.ndarray]:
        self.run(run_id)
        with self._read() as f:
            run = run_of(f, run_id)
            check_tree(run)  # every level, before anything of it is read
            gal = hard_child(run, "robustness/gallery/" + key.replace("/", "_"), h5py.Group) if _safe_key(key) else None
            if gal is None:
                raise ProjectError(f"run {run_id!r} has no gallery for {key!r}; attack it first")
            return {k: gal[k][()] for k in gal}

    # -- other stored results (checklist, decision boundaries) -------------
    def put_result(self, run_id: str, name: str, meta: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> None:
        """Store (replacing) one named result of a run: JSON ``meta`` plus numeric arrays."""
        arrays = arrays or {}
        grow = sum(np.asarray(v).nbytes for v in arrays.values()) + len(json.dumps(meta)) + 8192
        self.run(run_id)
        with self.transaction(grow=grow) as f:
            g = f["runs"][run_id].require_group("results")
            if name in g:
                del g[name]
            sub = g.create_group(name)
            sub.attrs["meta"] = json.dumps(meta, sort_keys=True)
            for k, v in arrays.items():
                sub.create_dataset(k, data=np.asarray(v), compression="gzip")

    def result_names(self, run_id: str) -> list[str]:
        self.run(run_id)
        with self._read() as f:
            g = hard_child(run_of(f, run_id), "results", h5py.Group)
            return sorted(g) if g is not None else []

    def result(self, run_id: str, name: str, *, arrays: bool = True) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A stored result's ``meta`` and (unless ``arrays`` is False) its arrays; ProjectError
        when the run has none by that name."""
        self.run(run_id)
        with self._read() as f:
            g = hard_child(run_of(f, run_id), "results", h5py.Group)
            sub = hard_child(g, name, h5py.Group) if g is not None else None
            if sub is None:
                raise ProjectError(f"run {run_id!r} has no stored {name} result yet; compute it first")
            check_tree(sub)
            return attr_json(sub.attrs, "meta", {}, dict), ({k: sub[k][()] for k in sub} if arrays else {})


def _safe_key(key: str) -> bool:
    """A row key as the store names its gallery group (never a path that climbs out)."""
    name = key.replace("/", "_")
    return bool(name) and name not in (".", "..")
