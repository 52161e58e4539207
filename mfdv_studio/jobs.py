"""Jobs the engine worker runs: each is one call of :mod:`mfdv_engine.api`, no Qt.

Each job is a :class:`Job` whose ``fn(ctx)`` receives a :class:`JobContext`
(``yielded(event)`` for the typed curve points / rows, ``progress(text, frac)``,
``cancel`` — a ``threading.Event``) and returns a result dict. They can be
called directly from a test or a script without any Qt object. The API's
typed events are passed on by :func:`_sink`; nothing here loads a model or
stores a row.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from mfdv_engine import api
from mfdv_engine.events import Event, Progress, TrainingEvent

from .progress import Stages, TrainProgress, attack_stages, likely_stochastic


@dataclass
class JobContext:
    yielded: Callable[[Event], None]                 # typed events: RowStored, TrainingEvent
    progress: Callable[[str, float | None], None]    # phase, fraction (None: unknown)
    cancel: threading.Event

    def emit(self, kind: str, data: dict) -> None:
        """A trainer event by its name (train_job's hook), passed on typed."""
        self.yielded(TrainingEvent(kind, data))


@dataclass
class Job:
    kind: str                     # train, resume, attack, sweep, checklist, boundaries
    title: str
    fn: Callable[[JobContext], dict]
    meta: dict = field(default_factory=dict)


def _sink(ctx: JobContext, on_training: Callable[[str, dict], None] | None = None,
          stages: Stages | None = None) -> Callable[[Event], None]:
    """The API's events, passed on typed: progress as the worker's progress (``stages``: its phases
    made one fraction of the whole job), the rest as yielded."""
    def on_event(event: Event) -> None:
        if isinstance(event, Progress):
            ctx.progress(event.phase, stages(event.phase, event.fraction) if stages else event.fraction)
        elif isinstance(event, TrainingEvent) and on_training is not None:
            on_training(event.kind, dict(event.data))
        else:
            ctx.yielded(event)
    return on_event


# ------------------------------------------------------------------ training

def train_job(project_path: str, config=None, *, resume: str | None = None, data_root=None,
              device: str | None = None) -> Job:
    def fn(ctx: JobContext) -> dict:
        bar = TrainProgress()   # each epoch's evaluation weighed in: the bar never stands at 100 % early

        def on_training(kind: str, data: dict) -> None:
            if kind == "run":
                bar.on_run(data)
            elif kind == "start":
                bar.on_start(data)
            elif kind == "step":
                frac = bar.on_step(data)
                if frac is not None:
                    ctx.progress(f"training, epoch {int(data['epoch'])} of {bar.epochs}", frac)
            elif kind == "evaluating":
                ctx.progress(f"evaluating epoch {int(data['epoch'])} of {bar.epochs} on {data['n']} test images "
                             f"(MC-{data['mc_samples']})", bar.on_evaluating(data))
            elif kind == "epoch":
                ctx.progress(f"epoch {int(data['epoch'])} of {bar.epochs} done", bar.on_epoch(data))
            ctx.emit(kind, data)

        ctx.progress("loading the data set", None)
        # (decoding the data set comes first: busy, not a bar that then restarts at 0 for the training)
        kw = dict(data_root=data_root, device=device, on_event=_sink(ctx, on_training, Stages([])), cancel=ctx.cancel)
        summary = api.resume(project_path, resume, **kw) if resume else api.train(project_path, config, **kw)
        return summary.to_dict()

    name = resume or (config.name if config is not None else "run")
    return Job("resume" if resume else "train", f"{'Resume' if resume else 'Train'} {name}", fn,
               {"resume": resume})


# ------------------------------------------------------------------ evaluation

def _rows_result(res: api.Rows) -> dict:
    return {"status": "cancelled" if res.cancelled else "finished", "run_id": res.run_id,
            "rows": [dict(r.to_dict(), key=r.key) for r in res.rows]}


def attack_job(project_path: str, run_id: str, attacks: str, *, eps: float | None, proto, params=(),
               data_root=None, device: str = "auto") -> Job:
    e, specs, suite_over = api.plan_attack(project_path, run_id, attacks, eps=eps, params=params,
                                           protocol=proto)  # bad input fails now

    def fn(ctx: JobContext) -> dict:
        info = next((i for i in api.runs(project_path) if i.run_id == run_id), None)
        stages = Stages(attack_stages(specs, suite_over, e, proto.eot_samples,
                                      likely_stochastic(info.config) if info is not None else True))
        return _rows_result(api.attack(project_path, run_id, attacks, eps=eps, params=params, protocol=proto,
                                       data_root=data_root, device=device, on_event=_sink(ctx, stages=stages),
                                       cancel=ctx.cancel))

    return Job("attack", f"Attack {run_id}: {attacks}", fn, {"run_id": run_id})


def sweep_job(project_path: str, run_id: str, kind: str, *, proto, eps: float | None = None, values=None,
              data_root=None, device: str = "auto", loss: str | None = None) -> Job:
    """``loss`` None: the sweep's default (CE for ε, the C&W margin for steps and EOT)."""
    from mfdv_engine.evaluation.sweeps import sweep_loss

    proto.validate()
    sweep_loss(kind, loss)  # an unknown kind or loss fails here, before the job starts

    def fn(ctx: JobContext) -> dict:
        stages = Stages([(f"{kind} sweep ", 1.0)])   # (decoding the data first: of unknown length, not a restart)
        return _rows_result(api.sweep(project_path, run_id, kind, values=values, eps=eps, loss=loss, protocol=proto,
                                      data_root=data_root, device=device, on_event=_sink(ctx, stages=stages),
                                      cancel=ctx.cancel))

    return Job("sweep", f"{kind} sweep of {run_id}", fn, {"run_id": run_id})


def checklist_job(project_path: str, run_id: str, *, proto, eps: float | None = None, data_root=None,
                  device: str = "auto", square_queries: int = 1000) -> Job:
    proto.validate()

    def fn(ctx: JobContext) -> dict:
        items = api.checklist(project_path, run_id, eps=eps, protocol=proto, square_queries=square_queries,
                              data_root=data_root, device=device, on_event=_sink(ctx), cancel=ctx.cancel)
        if ctx.cancel.is_set():  # nothing was stored: the pane keeps showing the stored checklist
            return {"run_id": run_id, "status": "cancelled", "items": None}
        return {"run_id": run_id, "status": "finished", "items": [i.to_dict() for i in items]}

    return Job("checklist", f"Checklist of {run_id}", fn, {"run_id": run_id})


# ------------------------------------------------------------------ decision boundaries

def boundaries_job(project_path: str, run_id: str, *, data_root=None, device: str = "cpu",
                   n_points: int = 300) -> Job:
    def fn(ctx: JobContext) -> dict:
        return api.boundaries(project_path, run_id, n_points=n_points, data_root=data_root, device=device,
                              on_event=_sink(ctx), cancel=ctx.cancel)

    return Job("boundaries", f"Decision boundaries of {run_id}", fn, {"run_id": run_id})


def delete_job(project_path: str, run_id: str) -> Job:
    """Move a run to the project's trash (:func:`restore_job` undoes it)."""
    def fn(ctx: JobContext) -> dict:
        api.delete_run(project_path, run_id)
        return {"run_id": run_id, "status": "finished"}

    return Job("delete", f"Move {run_id} to the trash", fn, {"run_id": run_id, "project": project_path})


def annotate_job(project_path: str, run_id: str, *, notes: str | None = None, tags: list[str] | None = None) -> Job:
    """Set a run's notes and tags (None keeps that part)."""
    def fn(ctx: JobContext) -> dict:
        info = api.annotate(project_path, run_id, notes=notes, tags=tags)
        return {"run_id": run_id, "status": "finished", "notes": info.notes, "tags": list(info.tags)}

    return Job("annotate", f"Notes and tags of {run_id}", fn, {"run_id": run_id})


def restore_job(project_path: str, run_id: str) -> Job:
    def fn(ctx: JobContext) -> dict:
        api.restore_run(project_path, run_id)
        return {"run_id": run_id, "status": "finished"}

    return Job("restore", f"Restore {run_id}", fn, {"run_id": run_id})
