"""CSV export: one line per table cell, every protocol field spelled out; training curves one line per point."""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np

from . import fsio
from .errors import ProjectError
from .store_records import DAMAGED

COLUMNS = [
    "run_id", "run_name", "dataset", "model", "defense", "attack", "norm", "eps", "steps", "gradient",
    "eot_samples", "mc_samples", "n", "seed", "reeval", "clean_acc", "robust_acc", "robust_acc_mean",
    "ci_low", "ci_high", "time_s", "params", "messages",
]


def table_rows(project, run_id: str | None = None) -> list[dict]:
    runs = [project.run(run_id)] if run_id else project.runs()
    out = []
    for info in runs:
        c = info.config
        for r in project.eval_rows(info.run_id):
            row = {k: r.get(k) for k in COLUMNS}
            row.update(run_id=info.run_id, run_name=info.name, dataset=c["data"]["name"], model=c["model"]["name"],
                       defense=c["defense"]["name"], params=json.dumps(r.get("params", {}), sort_keys=True),
                       messages=" | ".join(r.get("messages", [])))
            out.append(row)
    return out


def export_csv(project, path: str | os.PathLike, run_id: str | None = None) -> int:
    """Write the table to ``path`` (``-``: standard output). The file is replaced
    atomically through :mod:`.fsio`: a symlink is written through, a read-only
    file, folder or device is refused, and no temporary is ever left behind."""
    rows = table_rows(project, run_id)
    _write_csv(path, COLUMNS, rows, "table.csv")
    return len(rows)


def curve_table(project, run_ids: list[str] | None = None) -> tuple[list[str], list[dict]]:
    """(columns, rows) of the runs' stored curves: run_id, kind (step or epoch), step, epoch,
    then every metric any of them recorded, sorted; a point without a metric leaves it empty."""
    ids = list(run_ids) if run_ids else [i.run_id for i in project.runs() if i.status != DAMAGED]
    rows, metrics = [], set()
    for rid in ids:
        curves = project.curves(rid)
        for kind in ("step", "epoch"):
            cols = curves.get(kind, {})
            metrics |= set(cols) - {"run_id", "kind", "step", "epoch"}
            n = len(next(iter(cols.values()))) if cols else 0
            for i in range(n):
                row = {k: _cell(v[i]) for k, v in cols.items()}
                rows.append(dict(row, run_id=rid, kind=kind))
    return ["run_id", "kind", "step", "epoch", *sorted(metrics)], rows


def export_curves(project, run_ids: list[str] | None, path: str | os.PathLike) -> int:
    """Write :func:`curve_table` to ``path`` (``-``: standard output), replaced like :func:`export_csv`."""
    columns, rows = curve_table(project, run_ids)
    _write_csv(path, columns, rows, "curves.csv")
    return len(rows)


def _cell(v: float) -> float | int | str:
    """A curve value as the CSV shows it: empty where the point lacks it, whole steps without '.0'."""
    if not np.isfinite(v):
        return "" if np.isnan(v) else float(v)
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def _write_csv(path: str | os.PathLike, columns: list[str], rows: list[dict], example: str) -> None:
    if str(path) == "-":
        _write(sys.stdout, columns, rows)
        return
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise ProjectError(f"the folder {path.parent} for {path.name} does not exist; create it or choose another path")
    if path.is_dir():
        raise ProjectError(f"{path} is a folder; give a file name for the CSV, such as {path / example}")
    need = 4096 + sum(len(json.dumps(r)) for r in rows)
    with fsio.replacing(path, need=need) as tmp:
        with open(tmp, "w", newline="") as f:
            _write(f, columns, rows)


def _write(stream, columns: list[str], rows: list[dict]) -> None:
    w = csv.DictWriter(stream, fieldnames=columns)
    w.writeheader()
    w.writerows(rows)
