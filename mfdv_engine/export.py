"""CSV export: one line per table cell, every protocol field spelled out."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

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
    path = Path(path)
    if not path.parent.is_dir():
        raise ProjectError(f"the folder {path.parent} for {path.name} does not exist; create it or choose another path")
    rows = table_rows(project, run_id)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)
    return len(rows)
