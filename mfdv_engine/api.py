"""The use cases: what the CLI, the studio's worker, ``reproduce`` and a notebook call.

Each function takes a project (a :class:`~mfdv_engine.store.Project` or a
path), a run id and typed specs, reports through one ``on_event`` sink
(:mod:`mfdv_engine.events`), honours a ``cancel`` token (a
:class:`threading.Event`) and stores what it measures in the project. Nothing
above this layer loads models, loops over attacks or writes rows: the CLI
parses arguments and calls these; each studio job is one call of these.

Bad input raises :class:`~mfdv_engine.errors.MfdvError` (one sentence) before
the project is touched; a write job takes the project's lock before it loads
the model and data, so a busy project is refused at once.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .config import RunConfig
from .data.image_cache import decoding_events
from .events import EventSink, TrainingEvent, ignore
from .measure import (ProjectLike, Rows, _project, attack, boundaries, checklist, default_eps, plan_attack,
                      store_row, stored_boundaries, stored_checklist, sweep)
from .outputs import check_output, write_output
from .store import Project, RunInfo
from .store_trash import TrashedRun

__all__ = [
    "ProjectLike", "RunDetails", "Rows", "TrashedRun", "annotate", "attack", "boundaries", "check_output", "checklist", "default_eps",
    "delete_run", "empty_trash", "export_csv", "export_curves", "open_project", "plan_attack", "reproduce",
    "restore_run", "resume", "runs", "show", "store_row", "stored_boundaries", "stored_checklist", "sweep", "train",
    "trashed_runs", "write_output",
]


def open_project(path: str | os.PathLike, *, create: bool = False) -> Project:
    """The project at ``path`` (checked readable; created empty with ``create``)."""
    return Project.open(path, create=create)


def runs(project: ProjectLike) -> list[RunInfo]:
    """Every run, oldest first; damaged ones listed as ``damaged`` with the reason."""
    return _project(project).runs()


@dataclass
class RunDetails:
    info: RunInfo
    rows: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]  # name -> stored meta (checklist, boundaries)


def show(project: ProjectLike, run_id: str) -> RunDetails:
    """A run's record, its robustness rows and its other stored results."""
    proj = _project(project)
    info = proj.run(run_id)
    results = {name: proj.result(run_id, name, arrays=False)[0] for name in proj.result_names(run_id)}
    return RunDetails(info, proj.eval_rows(run_id), results)


def train(project: ProjectLike, config: RunConfig, *, data_root=None, device: str | None = None,
          on_event: EventSink = ignore, cancel: threading.Event | None = None):
    """Train ``config`` into the project (created if missing); returns a TrainSummary."""
    from .training.runs import train_run

    path = project.path if isinstance(project, Project) else project
    with decoding_events(on_event):  # a first use of an image data set decodes it, with progress
        return train_run(path, config, data_root=data_root, device=device, cancel_event=cancel,
                         on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


def resume(project: ProjectLike, run_id: str, *, data_root=None, device: str | None = None,
           on_event: EventSink = ignore, cancel: threading.Event | None = None):
    """Continue an interrupted or failed run from its last epoch checkpoint."""
    from .training.runs import train_run

    path = project.path if isinstance(project, Project) else project
    with decoding_events(on_event):
        return train_run(path, resume=run_id, data_root=data_root, device=device, cancel_event=cancel,
                         on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


def export_csv(project: ProjectLike, path: str | os.PathLike, run_id: str | None = None, *,
               overwrite: bool = False) -> int:
    """Every row (or one run's) as CSV, one line per cell with its protocol; ``-`` is stdout. Never
    onto a project or its lock; an existing file that is not such a CSV only with ``overwrite``."""
    from .export import export_csv as _export

    return _export(_project(project), path, run_id=run_id, overwrite=overwrite)


def export_curves(project: ProjectLike, run_ids: list[str] | None, path: str | os.PathLike, *,
                  overwrite: bool = False) -> int:
    """The stored training curves of ``run_ids`` (None: every run) as CSV, one line per step or epoch;
    ``-`` is stdout. Returns the number of lines written. Same output rule as :func:`export_csv`."""
    from .export import export_curves as _export

    return _export(_project(project), run_ids, path, overwrite=overwrite)


def annotate(project: ProjectLike, run_id: str, *, notes: str | None = None,
             tags: list[str] | str | None = None) -> RunInfo:
    """Give a run notes (free text) and tags (short words to group and filter runs by, a list or
    ``"a,b"``); None keeps what it has. Refused while the project is being written (a run training)."""
    proj = _project(project)
    with proj.writing():
        return proj.annotate(run_id, notes=notes, tags=tags)


def delete_run(project: ProjectLike, run_id: str) -> None:
    """Move a run to the project's trash (:func:`restore_run` brings it back); a run training now is refused."""
    proj = _project(project)
    with proj.writing():
        proj.trash_run(run_id)


def restore_run(project: ProjectLike, run_id: str) -> None:
    """Bring a deleted run back from the trash; refused if a run with its id exists again."""
    proj = _project(project)
    with proj.writing():
        proj.restore_run(run_id)


def trashed_runs(project: ProjectLike) -> list[TrashedRun]:
    """The deleted runs still in the trash, with when each was deleted."""
    return _project(project).trashed_runs()


def empty_trash(project: ProjectLike) -> list[str]:
    """Remove the trashed runs for good (the file keeps its size; see ``Project.empty_trash``); their ids."""
    proj = _project(project)
    with proj.writing():
        return proj.empty_trash()


def reproduce(experiment: str, *, scale: str, project: str | os.PathLike, data_root=None, device: str = "auto",
              report: str | os.PathLike | None = None, log: Callable[[str], None] = print, argv: str = "",
              lambdas: list[float] | None = None, overwrite: bool = False) -> str:
    """Train what a paper experiment needs, evaluate it, return (or write) the Markdown report
    (``report`` checked before anything runs; see :func:`export_csv` for ``overwrite``)."""
    from .reproduction.tables import reproduce as _reproduce

    return _reproduce(experiment, scale=scale, project_path=Path(project), data_root=data_root, device=device,
                      report=report, log=log, argv=argv, lambdas=lambdas, overwrite=overwrite)
