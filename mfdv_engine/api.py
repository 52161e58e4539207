"""The use cases: what the CLI, the studio's worker, ``reproduce`` and a notebook call.

Each function takes a project (a :class:`~mfdv_engine.project.store.Project` or a
path), a run id and typed specs, reports through one ``on_event`` sink
(:mod:`mfdv_engine.events`), honours a ``cancel`` token (a
:class:`threading.Event`) and stores what it measures in the project. Nothing
above this layer loads models, loops over attacks or writes rows: the CLI
parses arguments and calls these; each studio job is one call of these.

Every function goes through :func:`~mfdv_engine.calling.python_api`: arguments
are checked by name (lists and dicts where a researcher would pass them),
``progress=True`` adds a ``tqdm.auto`` bar, and bad input raises
:class:`~mfdv_engine.errors.MfdvError` (one sentence naming the Python argument)
before the project is touched; a write job takes the project's lock before it
loads the model and data, so a busy project is refused at once.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .imported import byom as _byom
from . import measure as _measure
from .calling import python_api
from .config import RunConfig
from .data.image_cache import decoding_events
from .evaluation.row import Row
from .events import EventSink, Progress, TrainingEvent, ignore
from .measure import ProjectLike, Rows, as_project, default_eps, plan_attack, store_row, stored_boundaries, stored_checklist
from .project.outputs import check_output, write_output
from .results import Examples, Result
from .project.store import Project, RunInfo
from .project.trash import TrashedRun
from .training.runs import TrainSummary

__all__ = [
    "Examples", "ProjectLike", "Result", "RunDetails", "Rows", "TrainSummary", "TrashedRun", "annotate", "attack", "boundaries", "check_output", "checklist", "default_eps",
    "delete_run", "empty_trash", "export_csv", "export_curves", "export_rows", "open_project", "plan_attack", "reproduce",
    "restore_run", "resume", "runs", "show", "store_row", "stored_boundaries", "stored_checklist", "sweep", "train",
    "trashed_runs", "write_output", "evaluate", "import_model", "matrix", "timing",
]


@python_api
def open_project(path: str | os.PathLike, *, create: bool = False) -> Project:
    """The project at ``path`` (checked readable; created empty with ``create``)."""
    return Project.open(path, create=create)


@python_api
def runs(project: ProjectLike, *, tags: list[str] | str | None = None) -> list[RunInfo]:
    """Every run, oldest first (only those carrying every tag of ``tags``); damaged ones listed as
    ``damaged`` with the reason."""
    want = set([tags] if isinstance(tags, str) else tags or [])
    return [i for i in as_project(project).runs() if want <= set(i.tags)]


@dataclass
class RunDetails:
    info: RunInfo
    rows: list[Row]  # the stored rows, as the same Row type attack() and evaluate() give back
    results: dict[str, dict[str, Any]]  # name -> stored meta (checklist, boundaries)


@python_api
def show(project: ProjectLike, run_id: str) -> RunDetails:
    """A run's record, its robustness rows and its other stored results."""
    proj = as_project(project)
    info = proj.run(run_id)
    results = {name: proj.result(run_id, name, arrays=False)[0] for name in proj.result_names(run_id)}
    return RunDetails(info, [Row.from_stored(dict(d, run_id=run_id)) for d in proj.eval_rows(run_id)], results)


@python_api
def train(project: ProjectLike, config: RunConfig, *, data_root=None, device: str | None = None,
          on_event: EventSink = ignore, cancel: threading.Event | None = None) -> TrainSummary:
    """Train ``config`` into the project (created if missing); returns a TrainSummary."""
    from .training.runs import train_run

    path = project.path if isinstance(project, Project) else project
    with decoding_events(on_event):  # a first use of an image data set decodes it, with progress
        return train_run(path, config, data_root=data_root, device=device, cancel_event=cancel,
                         on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


@python_api
def resume(project: ProjectLike, run_id: str, *, data_root=None, device: str | None = None,
           on_event: EventSink = ignore, cancel: threading.Event | None = None) -> TrainSummary:
    """Continue an interrupted or failed run from its last epoch checkpoint."""
    from .training.runs import train_run

    path = project.path if isinstance(project, Project) else project
    with decoding_events(on_event):
        return train_run(path, resume=run_id, data_root=data_root, device=device, cancel_event=cancel,
                         on_event=lambda kind, data: on_event(TrainingEvent(kind, data)))


@python_api
def export_csv(project: ProjectLike, path: str | os.PathLike, run_id: str | None = None, *,
               overwrite: bool = False) -> int:
    """Every row (or one run's) as CSV, one line per cell with its protocol; ``-`` is stdout. Never
    onto a project or its lock; an existing file that is not such a CSV only with ``overwrite``."""
    from .project.export import export_csv as _export

    return _export(as_project(project), path, run_id=run_id, overwrite=overwrite)


@python_api
def export_rows(rows: list[dict[str, Any]], path: str | os.PathLike, *, infos: dict[str, RunInfo] | None = None,
                overwrite: bool = False) -> int:
    """Row dicts as stored (``show().rows``, or the rows a view shows, in its order) as the same tidy CSV
    as :func:`export_csv`; ``infos`` (run id → RunInfo) fills the data set, model and defense columns."""
    from .project.export import export_rows as _export

    return _export(rows, path, infos=infos, overwrite=overwrite)


@python_api
def export_curves(project: ProjectLike, run_ids: list[str] | None, path: str | os.PathLike, *,
                  overwrite: bool = False) -> int:
    """The stored training curves of ``run_ids`` (None: every run) as CSV, one line per step or epoch;
    ``-`` is stdout. Returns the number of lines written. Same output rule as :func:`export_csv`."""
    from .project.export import export_curves as _export

    return _export(as_project(project), run_ids, path, overwrite=overwrite)


@python_api
def annotate(project: ProjectLike, run_id: str, *, notes: str | None = None,
             tags: list[str] | str | None = None) -> RunInfo:
    """Give a run notes (free text) and tags (short words to group and filter runs by, a list or
    ``"a,b"``); None keeps what it has. Refused while the project is being written (a run training)."""
    proj = as_project(project)
    with proj.writing():
        return proj.annotate(run_id, notes=notes, tags=tags)


@python_api
def delete_run(project: ProjectLike, run_id: str) -> None:
    """Move a run to the project's trash (:func:`restore_run` brings it back); a run training now is refused."""
    proj = as_project(project)
    with proj.writing():
        proj.trash_run(run_id)


@python_api
def restore_run(project: ProjectLike, run_id: str) -> None:
    """Bring a deleted run back from the trash; refused if a run with its id exists again."""
    proj = as_project(project)
    with proj.writing():
        proj.restore_run(run_id)


@python_api
def trashed_runs(project: ProjectLike) -> list[TrashedRun]:
    """The deleted runs still in the trash, with when each was deleted."""
    return as_project(project).trashed_runs()


@python_api
def empty_trash(project: ProjectLike) -> list[str]:
    """Remove the trashed runs for good (the file keeps its size; see ``Project.empty_trash``); their ids."""
    proj = as_project(project)
    with proj.writing():
        return proj.empty_trash()


@python_api
def reproduce(experiment: str, *, scale: str, project: str | os.PathLike, data_root=None, device: str = "auto",
              report: str | os.PathLike | None = None, log: Callable[[str], None] | None = None, argv: str = "",
              lambdas: list[float] | None = None, overwrite: bool = False, on_event: EventSink = ignore,
              cancel: threading.Event | None = None, seeds: list[int] | None = None, controls: bool = True) -> str:
    """Train what a paper experiment needs, evaluate it, return (or write) the Markdown report
    (``report`` checked before anything runs; see :func:`export_csv` for ``overwrite``). Each step
    it takes reaches ``on_event`` as a Progress event (and ``log``, default print); ``cancel`` stops it
    at the next batch (finished runs and rows are kept; the same call continues)."""
    from .reproduction.tables import reproduce as _reproduce

    def say(line: str) -> None:
        on_event(Progress(line, None))
        (log or print)(line)

    return _reproduce(experiment, scale=scale, project_path=Path(project), data_root=data_root, device=device,
                      report=report, log=say, argv=argv, lambdas=lambdas, overwrite=overwrite, cancel=cancel,
                      seeds=seeds, controls=controls)


# ------------------------------------------------------------------ measurements (measure.py, imported/byom.py)

attack = python_api(_measure.attack)
sweep = python_api(_measure.sweep)
checklist = python_api(_measure.checklist)
boundaries = python_api(_measure.boundaries)
noise = python_api(_measure.noise)
evaluate = python_api(_byom.evaluate)
import_model = python_api(_byom.import_model)


@python_api
def matrix(project: ProjectLike, run_ids: list[str] | None = None, *, path: str | os.PathLike | None = None,
           format: str | None = None, overwrite: bool = False):
    """The runs × attacks matrix of the project (or of ``run_ids``): every cell a robust accuracy with its
    95% interval, both gradient modes, a worst-case column. With ``path`` it is also written: tidy CSV
    (numbers, one line per cell), Markdown or LaTeX, by ``format`` or the file's suffix."""
    from .evaluation.matrix import build_matrix
    from .evaluation.matrix_export import FORMATS, MatrixTable, write_matrix

    proj = as_project(project)
    infos = [i for i in proj.runs() if run_ids is None or i.run_id in run_ids]
    rows = [dict(r, run_id=i.run_id) for i in infos for r in proj.eval_rows(i.run_id)]
    mat = build_matrix(infos, rows)
    if path is not None:
        write_matrix(mat, path, format=format, overwrite=overwrite)
    elif format is not None and format not in FORMATS:
        raise check_format(format)
    return MatrixTable(mat)


def check_format(fmt: str):
    from .errors import ConfigError
    from .evaluation.matrix_export import FORMATS

    return ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")


@python_api
def timing(dataset: str, model: str, defenses: list[str] | str = ("none", "mfdv", "pgd-at"), *,
           preset: str = "mnist-lenet-mfdv", epochs: int = 1, data_root=None, limit_train: int | None = None,
           device: str = "auto", on_event: EventSink = ignore):
    """Training cost per epoch of each defense on one backbone and data set (Table 8), interleaved
    after an untimed warm-up round; a TimingResult with medians and ratios."""
    from .config import load_preset
    from .training.timing import time_defenses

    names = [d.strip() for d in defenses.split(",")] if isinstance(defenses, str) else list(defenses)
    return time_defenses(dataset, model, names, base=load_preset(preset), epochs=epochs, data_root=data_root,
                         limit_train=limit_train, device=device,
                         on_epoch=lambda d, r, t: on_event(Progress(f"{d}: {'warm-up' if not r else f'round {r}'}: "
                                                                    f"{t:.2f} s", None)))
