"""Read jobs: what the views show, read from the project file on the reader thread.

The GUI thread never opens the project: it submits one of these jobs to the
studio's reader (:class:`~mfdv_studio.worker.Worker`, its own QThread, so a
read never waits behind a training run) and renders the typed, read-only
result the reader's ``returned`` signal delivers. Like :mod:`.jobs`, no Qt
here: each job is a few calls of :mod:`mfdv_engine.api` (``runs``, ``show``)
and of :class:`~mfdv_engine.project.store.Project`'s readers.
"""
from __future__ import annotations

import enum
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mfdv_engine import api
from mfdv_engine.errors import MfdvError
from mfdv_engine.evaluation import Row
from mfdv_engine.project.store import RunInfo

from .jobs import Job, JobContext

ROW_FIELDS = set(Row.__dataclass_fields__)


def protocol_of(d: dict) -> str:
    """The engine's own protocol sentence for a stored row (a dict, or the engine's Row itself)."""
    if hasattr(d, "protocol_line") and "protocol" in d.keys():  # a whole Row (a partial one has no protocol)
        return d.protocol_line()
    try:
        return Row(**{k: v for k, v in d.items() if k in ROW_FIELDS}).protocol_line()
    except TypeError:
        return d.get("key", "")


# ------------------------------------------------------------------ what the reader returns

@dataclass(frozen=True)
class RunEntry:
    """One run as the snapshot saw it: its record, its robustness rows, its other stored results."""

    info: RunInfo
    rows: tuple[dict[str, Any], ...] = ()            # each with run_id, run_name and protocol added
    results: tuple[tuple[str, dict[str, Any]], ...] = ()   # (name, stored meta): checklist, boundaries
    error: str = ""                                  # why its rows could not be read (a damaged table)


@dataclass(frozen=True)
class Snapshot:
    """Everything the explorer, the table and the gallery lists show, read at once.
    Frozen: the views render it and never write back (they copy what they change)."""

    path: Path
    entries: tuple[RunEntry, ...] = ()

    def infos(self) -> list[RunInfo]:
        return [e.info for e in self.entries]

    def entry(self, run_id: str) -> RunEntry | None:
        return next((e for e in self.entries if e.info.run_id == run_id), None)

    def names(self) -> dict[str, str]:
        return {e.info.run_id: e.info.name for e in self.entries}

    def rows_by_run(self) -> dict[str, list[dict[str, Any]]]:
        return {e.info.run_id: list(e.rows) for e in self.entries}

    def rows(self) -> list[dict[str, Any]]:
        return [r for e in self.entries for r in e.rows]


@dataclass(frozen=True)
class Opened:
    """A project was opened (created when asked, or copied by Save As) and read."""

    snapshot: Snapshot


class CurvesFor(enum.Enum):
    SHOW = "show"          # the one selected run, as the main curves
    OVERLAY = "overlay"    # several selected runs, dashed over the live ones
    LIVE = "live"          # a resumed run's stored curves, under its live points


@dataclass(frozen=True)
class Curves:
    purpose: CurvesFor
    runs: dict[str, dict[str, dict]] = field(default_factory=dict)   # run id -> project.curves(run id)
    names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class GalleryArrays:
    run_id: str
    key: str
    arrays: dict[str, Any]


@dataclass(frozen=True)
class StoredResult:
    run_id: str
    name: str              # "checklist" or "boundaries"
    data: dict[str, Any]


@dataclass(frozen=True)
class Exported:
    path: str
    n_rows: int


# ------------------------------------------------------------------ the jobs

def read_snapshot(path: str | Path) -> Snapshot:
    """Runs, rows and stored results of the project at ``path`` (a damaged run lists no rows)."""
    proj = api.open_project(path)
    entries = []
    for info in api.runs(proj):
        try:
            d = api.show(proj, info.run_id)
        except MfdvError as e:
            entries.append(RunEntry(info, error=str(e)))
            continue
        rows = tuple(dict(r, run_id=info.run_id, run_name=info.name, protocol=protocol_of(r)) for r in d.rows)
        entries.append(RunEntry(info, rows, tuple(sorted(d.results.items()))))
    return Snapshot(Path(path), tuple(entries))


def snapshot_job(path: str | Path) -> Job:
    return Job("snapshot", "Read the project", lambda ctx: read_snapshot(path), {"path": str(path)})


def open_job(path: str | Path, *, create: bool) -> Job:
    """Check (or create) the project at ``path`` and read it."""
    def fn(ctx: JobContext) -> Opened:
        p = Path(path)
        api.open_project(p, create=create)   # a missing folder is refused in one sentence, never created
        return Opened(read_snapshot(p))

    return Job("open", f"Open {Path(path).name}", fn, {"path": str(path)})


def save_as_job(source: str | Path, target: str | Path) -> Job:
    """Copy the project file (no job writes it meanwhile: the GUI checks) and open the copy."""
    def fn(ctx: JobContext) -> Opened:
        try:
            shutil.copyfile(source, target)
        except OSError as e:
            raise MfdvError(f"could not copy the project to {target}: {e.strerror}") from None
        api.open_project(target)
        return Opened(read_snapshot(target))

    return Job("open", f"Save as {Path(target).name}", fn, {"path": str(target)})


def curves_job(path: str | Path, run_ids: list[str], names: dict[str, str], purpose: CurvesFor) -> Job:
    def fn(ctx: JobContext) -> Curves:
        proj = api.open_project(path)
        return Curves(purpose, {rid: proj.curves(rid) for rid in run_ids}, dict(names))

    return Job("curves", f"Read the curves of {', '.join(run_ids)}", fn, {"run_ids": list(run_ids)})


def gallery_job(path: str | Path, run_id: str, key: str) -> Job:
    def fn(ctx: JobContext) -> GalleryArrays:
        return GalleryArrays(run_id, key, api.open_project(path).gallery(run_id, key))

    return Job("gallery", f"Read the gallery of {run_id}", fn, {"run_id": run_id, "key": key})


def stored_result_job(path: str | Path, run_id: str, name: str) -> Job:
    """A stored checklist or decision-boundary result, to show it again without recomputing."""
    def fn(ctx: JobContext) -> StoredResult:
        read = api.stored_boundaries if name == "boundaries" else api.stored_checklist
        return StoredResult(run_id, name, read(path, run_id))

    return Job("stored", f"Read the {name} of {run_id}", fn, {"run_id": run_id})


def export_job(path: str | Path, target: str) -> Job:
    """Every row of the project as CSV (all protocol fields)."""
    return Job("export", f"Export {Path(target).name}", lambda ctx: Exported(target, api.export_csv(path, target, overwrite=True)),
               {"target": target})


def curves_export_job(path: str | Path, run_ids: list[str] | None, target: str) -> Job:
    """The stored training curves of ``run_ids`` (None: every run) as CSV, one line per step or epoch."""
    return Job("export", f"Export {Path(target).name}",
               lambda ctx: Exported(target, api.export_curves(path, run_ids, target, overwrite=True)), {"target": target})
