"""Measurements that are stored: attack rows, sweeps, the checklist, decision boundaries.

Each loads a run's model once, takes the project's lock before loading (so a
busy project is refused at once), reports through the typed events of
:mod:`mfdv_engine.events`, honours the ``cancel`` token and stores what it
measured. :func:`store_row` is the one place a robustness row is written.
Re-exported by :mod:`mfdv_engine.api`; ``reproduce`` uses these too.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import numpy as np
import torch

from .errors import Cancelled, ConfigError, ProjectError
from .defaults import default_eps_for
from .evaluation import Protocol, Row, gallery_arrays
from .evaluation.boundaries import compute_boundaries
from .evaluation.checklist import run_checklist
from .evaluation.noise import NoiseReport, measure_noise
from .data.image_cache import decoding_events
from .evaluation.reuse import find_stored, stored_outcome
from .evaluation.rows import Outcome
from .evaluation.suite import Reuse, evaluate_request, parse_attacks
from .evaluation.sweeps import run_sweep, sweep_loss
from .imported.loading import checked_run, load_run
from .events import EventSink, Progress, RowStored, ignore
from .results import Result
from .project.store import Project
from .devices import resolve_device

ProjectLike = Project | str | os.PathLike

#: what an attack or sweep gives back (the one result type, :class:`~mfdv_engine.results.Result`);
#: ``cancelled`` when it stopped early (finished rows are kept)
Rows = Result


def as_project(p: ProjectLike) -> Project:
    return p if isinstance(p, Project) else Project.open(p)


def default_eps(project: ProjectLike, run_id: str) -> float:
    """The data set's default ε for a run (one rule: :mod:`mfdv_engine.defaults`)."""
    return default_eps_for(checked_run(as_project(project), run_id).data.name)


def plan_attack(project: ProjectLike, run_id: str, attacks: str, *, eps: float | None = None,
                params=(), protocol: Protocol | None = None):
    """Check an attack request without loading anything: ``(eps, specs, suite_overrides)``."""
    proto = (protocol or Protocol()).validate()
    e = eps if eps is not None else default_eps(project, run_id)
    specs, suite_over = parse_attacks(attacks, eps=e, params=list(params), eot=proto.eot_samples)
    return e, specs, suite_over


def attack(project: ProjectLike, run_id: str, attacks: str = "pgd10", *, eps: float | None = None, params=(),
           protocol: Protocol | None = None, data_root=None, device: str | torch.device = "auto",
           on_event: EventSink = ignore, cancel: threading.Event | None = None, dist=None,
           keep_examples: bool = False) -> Result:
    """Attack a run (attack names, ``adaptive`` for the suite) and store every row as it finishes.
    A stochastic model gets a single-sample and an EOT row per gradient attack. ``keep_examples``:
    the result also holds each row's per-example verdicts and every adversarial (memory: n inputs a row)."""
    proto = (protocol or Protocol()).validate()
    e, specs, suite_over = plan_attack(project, run_id, attacks, eps=eps, params=params, protocol=proto)

    def job(model, ds, dev, on_row, on_progress, cancel_, out):
        return evaluate_request(model, ds.test, specs, suite_over, proto, eps=e, device=dev, on_row=on_row,
                                on_progress=on_progress, cancel=cancel_, dist=dist,
                                reuse=stored_outcomes(as_project(project), run_id),
                                on_outcome=out.add if keep_examples else None)

    return _evaluate(project, run_id, job, proto, data_root, device, on_event, cancel,
                     main=dist is None or dist.is_main)


def sweep(project: ProjectLike, run_id: str, kind: str, *, values=None, eps: float | None = None,
          loss: str | None = None, protocol: Protocol | None = None, data_root=None,
          device: str | torch.device = "auto", on_event: EventSink = ignore,
          cancel: threading.Event | None = None) -> Result:
    """Robust accuracy against ε, steps or EOT samples; every point stored as a row."""
    proto = (protocol or Protocol()).validate()
    sweep_loss(kind, loss)
    e = eps if eps is not None else default_eps(project, run_id)

    def job(model, ds, dev, on_row, on_progress, cancel_, out):
        return run_sweep(model, ds.test, proto, kind=kind, device=dev, eps=e, values=values, on_row=on_row,
                         cancel=cancel_, loss=loss, on_progress=on_progress)

    return _evaluate(project, run_id, job, proto, data_root, device, on_event, cancel)


def _evaluate(project: ProjectLike, run_id: str, job, proto: Protocol, data_root, device, on_event: EventSink,
              cancel: threading.Event | None, *, main: bool = True) -> Result:
    """Lock (when this process stores), load the run, run ``job`` storing rows as they come."""
    proj = as_project(project)
    cancel = cancel or threading.Event()
    out = Result(run_id=run_id)
    with proj.writing() if main else contextlib.nullcontext():
        dev = _device(device)
        with decoding_events(on_event if main else ignore):
            _, ds, model = load_run(proj, run_id, data_root=data_root, device=dev, limit_test=proto.n)
        on_row = (lambda row, gallery: out.add_row(store_row(proj, run_id, row, gallery, on_event))) if main else None
        on_progress = (lambda what, frac: on_event(Progress(what, frac))) if main else None
        try:
            job(model, ds, dev, on_row, on_progress, cancel, out)
        except Cancelled:
            out.cancelled = True
    return out


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)


def store_row(project: Project, run_id: str, row: Row, gallery, on_event: EventSink = ignore) -> Row:
    """Store one measured row (lock held) and announce it: the only place rows are written."""
    row.run_id = run_id
    d = dict(row.to_dict(), key=row.key)
    project.add_eval_row(run_id, d, gallery_arrays(gallery) if gallery is not None else None)
    on_event(RowStored(run_id, dict(d, protocol=row.protocol_line())))
    return row


def stored_outcomes(project: Project, run_id: str) -> Reuse:
    """The suite's lookup of finished member rows in the project (with their per-example verdicts)."""

    def find(planned: Row) -> Outcome | None:
        d = find_stored(project.eval_rows(run_id), planned)
        if d is None:
            return None
        try:
            return stored_outcome(d, project.gallery(run_id, d["key"]))
        except ProjectError:  # a row whose gallery is gone is measured again
            return None
    return find


def checklist(project: ProjectLike, run_id: str, *, eps: float | None = None, protocol: Protocol | None = None,
              square_queries: int = 1000, data_root=None, device: str | torch.device = "auto",
              on_event: EventSink = ignore, cancel: threading.Event | None = None) -> list:
    """The obfuscated-gradient checklist; its items and its attack rows are stored. ``cancel`` stops it
    at the next batch: the rows measured so far are kept, no checklist is stored, and [] comes back."""
    proto = (protocol or Protocol()).validate()
    e = eps if eps is not None else default_eps(project, run_id)
    proj = as_project(project)
    with proj.writing():
        dev = _device(device)
        with decoding_events(on_event):
            _, ds, model = load_run(proj, run_id, data_root=data_root, device=dev, limit_test=proto.n)
        on_event(Progress("checklist", None))
        try:
            items = run_checklist(model, ds.test, proto, device=dev, eps=e, square_queries=square_queries,
                                  on_row=lambda row, gallery: store_row(proj, run_id, row, gallery, on_event),
                                  on_progress=lambda what, frac: on_event(Progress(what, frac)), cancel=cancel)
        except Cancelled:
            return []
        proj.put_result(run_id, "checklist", {"eps": e, "protocol": proto.to_dict(),
                                              "items": [i.to_dict() for i in items]})
    return items


def boundaries(project: ProjectLike, run_id: str, *, n_points: int = 300, data_root=None,
               device: str | torch.device = "cpu", on_event: EventSink = ignore,
               cancel: threading.Event | None = None) -> dict[str, Any]:
    """Decision-boundary data (probability grids for 2-D data; an input slice and feature
    PCA for images), stored as the run's ``boundaries`` result."""
    proj = as_project(project)
    with proj.writing():
        dev = _device(device)
        with decoding_events(on_event):
            cfg, ds, model = load_run(proj, run_id, data_root=data_root, device=dev, limit_test=n_points)
        out = compute_boundaries(model, ds, default_eps_for(cfg.data.name), n_points=n_points, device=dev,
                                 on_progress=lambda what, frac: on_event(Progress(what, frac)),
                                 cancel=cancel or threading.Event())
        meta = {k: v for k, v in out.items() if not isinstance(v, np.ndarray)}
        proj.put_result(run_id, "boundaries", meta, {k: v for k, v in out.items() if isinstance(v, np.ndarray)})
    return dict(out, run_id=run_id)


def noise(project: ProjectLike, run_id: str, *, n: int = 1000, draws: int = 20, mc_samples: int = 15, seed: int = 0,
          data_root=None, device: str | torch.device = "auto", on_event: EventSink = ignore) -> NoiseReport:
    """Where the run's learned noise sits (:mod:`.evaluation.noise`): σ on the features that vary and on
    the others, the logits' wobble across draws against their spread, one-draw/MC/σ = 0 accuracy.
    Reads the project only: nothing is stored, no lock is taken."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ConfigError(f"noise needs n ≥ 2 test examples (a whole number); got {n!r}")
    proj = as_project(project)
    dev = _device(device)
    with decoding_events(on_event):
        _, ds, model = load_run(proj, run_id, data_root=data_root, device=dev, limit_test=n)
    on_event(Progress("measuring the noise", None))
    return measure_noise(model, ds.test.subset(n), run_id=run_id, draws=draws, mc_samples=mc_samples, seed=seed,
                         device=dev)


def stored_boundaries(project: ProjectLike, run_id: str) -> dict[str, Any]:
    """The decision-boundary data a previous :func:`boundaries` stored."""
    meta, arrays = as_project(project).result(run_id, "boundaries")
    return dict(meta, **arrays, run_id=run_id)


def stored_checklist(project: ProjectLike, run_id: str) -> dict[str, Any]:
    """The checklist a previous :func:`checklist` stored: ``eps``, ``protocol`` and ``items``."""
    return as_project(project).result(run_id, "checklist")[0]
