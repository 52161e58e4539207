"""Headless engine of MFDV Studio: stochastic layers, models, data, training,
attacks, evaluation and the HDF5 project store. Never imports Qt.

``import mfdv_engine as mfdv`` gives the public API (documented in
``docs/python-api.md``): the use cases of :mod:`mfdv_engine.api` —
``open_project``, ``train``, ``resume``, ``attack``, ``sweep``, ``checklist``,
``boundaries``, ``noise`` (where the learned noise sits), ``reproduce``, ``runs``, ``show``, ``export_csv``,
``export_curves``, ``delete_run`` (to the trash), ``restore_run``,
``trashed_runs``, ``empty_trash``, ``annotate`` (notes and tags), ``matrix``
(runs × attacks), ``timing``, ``check_output``/``write_output`` (the one rule
for output files: never onto a project) — plus ``evaluate`` and ``import_model``
for models the tool did not train (data as tensors, datasets or loaders; a
:class:`Result` with per-example verdicts and adversarials), ``datasets`` for the data sources, and the typed specs
(``RunConfig``, ``Protocol``) and events. They load on first use, so
``import mfdv_engine`` stays cheap for the CLI's ``--help``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC = {
    **{name: "mfdv_engine.api" for name in (
        "open_project", "train", "resume", "attack", "sweep", "checklist", "boundaries", "reproduce", "runs",
        "show", "export_csv", "export_curves", "delete_run", "restore_run", "trashed_runs", "empty_trash",
        "default_eps", "plan_attack", "stored_boundaries", "stored_checklist", "Rows", "RunDetails", "TrashedRun",
        "check_output", "write_output", "annotate", "export_rows", "evaluate", "import_model", "matrix", "timing",
        "Result", "Examples", "TrainSummary", "noise")},
    "datasets": "mfdv_engine.data.registry",
    "RunConfig": "mfdv_engine.config", "load_preset": "mfdv_engine.config", "list_presets": "mfdv_engine.config",
    "Protocol": "mfdv_engine.evaluation", "Row": "mfdv_engine.evaluation",
    "Progress": "mfdv_engine.events", "RowStored": "mfdv_engine.events", "TrainingEvent": "mfdv_engine.events",
    "MfdvError": "mfdv_engine.errors", "Cancelled": "mfdv_engine.errors",
}
#: where a public name is spelled differently in its module
_ALIASES = {"datasets": "describe_datasets"}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'mfdv_engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from .api import (Rows, RunDetails, TrashedRun, annotate, attack, boundaries, check_output, checklist, default_eps, delete_run,
                      empty_trash, export_csv, export_curves, export_rows, open_project, plan_attack, reproduce, restore_run,
                      resume, runs, show, stored_boundaries, stored_checklist, sweep, train, trashed_runs,
                      write_output, evaluate, import_model, matrix, timing, Result, Examples, TrainSummary)
    from .config import RunConfig, list_presets, load_preset
    from .data.registry import describe_datasets as datasets
    from .errors import Cancelled, MfdvError
    from .evaluation import Protocol, Row
    from .events import Progress, RowStored, TrainingEvent
