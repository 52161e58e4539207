"""CSV export: one line per table cell, every protocol field spelled out."""
from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from . import fsio
from .errors import ProjectError

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
    if str(path) == "-":
        _write(sys.stdout, rows)
        return len(rows)
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise ProjectError(f"the folder {path.parent} for {path.name} does not exist; create it or choose another path")
    if path.is_dir():
        raise ProjectError(f"{path} is a folder; give a file name for the CSV, such as {path / 'table.csv'}")
    need = 4096 + sum(len(json.dumps(r)) for r in rows)
    with fsio.replacing(path, need=need) as tmp:
        with open(tmp, "w", newline="") as f:
            _write(f, rows)
    return len(rows)


def _write(stream, rows: list[dict]) -> None:
    w = csv.DictWriter(stream, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
