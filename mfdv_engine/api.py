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
from .events import EventSink, TrainingEvent, ignore
from .measure import (ProjectLike, Rows, _project, attack, boundaries, checklist, default_eps, plan_attack,
                      store_row, stored_boundaries, stored_checklist, sweep)
from .store import Project, RunInfo

__all__ = [
    "ProjectLike", "RunDetails", "Rows", "attack", "boundaries", "checklist", "default_eps", "delete_run",
    "export_csv", "open_project", "plan_attack", "reproduce", "resume", "runs", "show", "store_row",
    "stored_boundaries", "stored_checklist", "sweep", "train",
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
    return train_run(path, config, data_root=data_root, device=device, cancel_event=cancel,
                     on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


def resume(project: ProjectLike, run_id: str, *, data_root=None, device: str | None = None,
           on_event: EventSink = ignore, cancel: threading.Event | None = None):
    """Continue an interrupted or failed run from its last epoch checkpoint."""
    from .training.runs import train_run

    path = project.path if isinstance(project, Project) else project
    return train_run(path, resume=run_id, data_root=data_root, device=device, cancel_event=cancel,
                     on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


def export_csv(project: ProjectLike, path: str | os.PathLike, run_id: str | None = None) -> int:
    """Every row (or one run's) as CSV, one line per cell with its protocol; ``-`` is stdout."""
    from .export import export_csv as _export

    return _export(_project(project), path, run_id=run_id)


def delete_run(project: ProjectLike, run_id: str) -> None:
    """Remove a run (and its live file) from the project."""
    proj = _project(project)
    with proj.writing():
        proj.delete_run(run_id)


def reproduce(experiment: str, *, scale: str, project: str | os.PathLike, data_root=None, device: str = "auto",
              report: str | os.PathLike | None = None, log: Callable[[str], None] = print, argv: str = "",
              lambdas: list[float] | None = None) -> str:
    """Train what a paper experiment needs, evaluate it, return (or write) the Markdown report."""
    from .reproduce import reproduce as _reproduce

    return _reproduce(experiment, scale=scale, project_path=Path(project), data_root=data_root, device=device,
                      report=report, log=log, argv=argv, lambdas=lambdas)
