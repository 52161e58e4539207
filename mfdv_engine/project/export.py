"""CSV export: one line per table cell, every protocol field spelled out; training curves one line per point."""
from __future__ import annotations

import json
import os

import numpy as np

from .csvsafe import write_csv
from .outputs import marked, write_output
from .records import DAMAGED

COLUMNS = [
    "run_id", "run_name", "dataset", "model", "defense", "attack", "norm", "eps", "steps", "gradient",
    "eot_samples", "mc_samples", "n", "seed", "reeval", "clean_acc", "robust_acc", "robust_acc_mean",
    "ci_low", "ci_high", "time_s", "params", "messages",
]


def table_rows(project, run_id: str | None = None) -> list[dict]:
    runs = [project.run(run_id)] if run_id else project.runs()
    return [tidy_row(r, info) for info in runs for r in project.eval_rows(info.run_id)]


def tidy_row(r: dict, info=None) -> dict:
    """One stored row as a CSV line: numbers as numbers, the protocol spelled out in its own columns,
    the run's data set, model and defense from its record (``info``, a RunInfo) where given."""
    row = {k: r.get(k) for k in COLUMNS}
    c = info.config if info is not None else {}
    row.update(run_id=r.get("run_id") or (info.run_id if info else ""), run_name=info.name if info else r.get("run_name", ""),
               dataset=c.get("data", {}).get("name", ""), model=c.get("model", {}).get("name", ""),
               defense=c.get("defense", {}).get("name", ""),
               params=json.dumps(r.get("params", {}), sort_keys=True),
               messages=" | ".join(map(str, r.get("messages", []))))
    return row


def export_rows(rows: list[dict], path: str | os.PathLike, *, infos: dict | None = None,
                overwrite: bool = False) -> int:
    """Stored row dicts (as a view shows them: filtered, in its order) as the same tidy CSV as
    :func:`export_csv`; ``infos`` maps run ids to RunInfo for the data set, model and defense columns."""
    infos = infos or {}
    _write_csv(path, COLUMNS, [tidy_row(r, infos.get(r.get("run_id"))) for r in rows], "table.csv", overwrite)
    return len(rows)


def export_csv(project, path: str | os.PathLike, run_id: str | None = None, *, overwrite: bool = False) -> int:
    """Write the table to ``path`` (``-``: standard output) under the one output rule
    (:mod:`.outputs`): never onto a project, its lock or live files; an existing file
    that is not a table we wrote only with ``overwrite``; written atomically."""
    rows = table_rows(project, run_id)
    _write_csv(path, COLUMNS, rows, "table.csv", overwrite)
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


def export_curves(project, run_ids: list[str] | None, path: str | os.PathLike, *, overwrite: bool = False) -> int:
    """Write :func:`curve_table` to ``path`` (``-``: standard output), under the same rule as :func:`export_csv`."""
    columns, rows = curve_table(project, run_ids)
    _write_csv(path, columns, rows, "curves.csv", overwrite)
    return len(rows)


def _cell(v: float) -> float | int | str:
    """A curve value as the CSV shows it: empty where the point lacks it, whole steps without '.0'."""
    if not np.isfinite(v):
        return "" if np.isnan(v) else float(v)
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)


def _write_csv(path: str | os.PathLike, columns: list[str], rows: list[dict], example: str, overwrite: bool) -> None:
    what = "a training-curves CSV" if example == "curves.csv" else "a robustness-table CSV"
    need = 4096 + sum(len(json.dumps(r)) for r in rows)
    write_output(path, lambda f: _write(f, columns, rows), what=what, overwrite=overwrite, example=example,
                 ours=marked(",".join(columns[:4])), need=need)


def _write(stream, columns: list[str], rows: list[dict]) -> None:
    write_csv(stream, columns, rows)
