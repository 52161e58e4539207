"""Jobs the engine worker runs: plain engine calls, no Qt.

Each job is a :class:`Job` whose ``fn(ctx)`` receives a :class:`JobContext`
(``emit(kind, dict)`` for curve points / rows, ``progress(text, frac)``,
``cancel`` — a ``threading.Event``) and returns a result dict. They can be
called directly from a test or a script without any Qt object.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class JobContext:
    emit: Callable[[str, dict], None]
    progress: Callable[[str, float], None]
    cancel: threading.Event


@dataclass
class Job:
    kind: str                     # train, resume, attack, sweep, checklist, boundaries
    title: str
    fn: Callable[[JobContext], dict]
    meta: dict = field(default_factory=dict)


# ------------------------------------------------------------------ training

def train_job(project_path: str, config=None, *, resume: str | None = None, data_root=None,
              device: str | None = None) -> Job:
    from mfdv_engine.runs import train_run

    def fn(ctx: JobContext) -> dict:
        state = {"epochs": 1, "done": 0, "spe": 0}

        def on_event(kind: str, data: dict) -> None:
            if kind == "run":
                state["epochs"] = max(1, int(data.get("epochs", 1)))
                state["done"] = int(data.get("epochs_done", 0))
            elif kind == "start":
                state["spe"] = int(data.get("steps_per_epoch", 0))
            elif kind == "step" and state["spe"]:
                total = state["spe"] * state["epochs"]
                ctx.progress(f"epoch {int(data['epoch'])}/{state['epochs']}", min(1.0, float(data["step"]) / total))
            ctx.emit(kind, dict(data))

        summary = train_run(project_path, config, resume=resume, data_root=data_root, device=device,
                            on_event=on_event, cancel_event=ctx.cancel)
        return summary.to_dict()

    name = resume or (config.name if config is not None else "run")
    return Job("resume" if resume else "train", f"{'Resume' if resume else 'Train'} {name}", fn,
               {"resume": resume})


# ------------------------------------------------------------------ evaluation

def _store_rows(project, run_id: str, ctx: JobContext, runner) -> dict:
    """Run ``runner(on_row, on_progress, cancel)`` storing each row as it arrives (like ``mfdv attack``)."""
    from mfdv_engine.errors import Cancelled
    from mfdv_engine.evaluation import gallery_arrays

    rows = []

    def on_row(row, gallery) -> None:
        row.run_id = run_id
        d = dict(row.to_dict(), key=row.key)
        project.add_eval_row(run_id, d, gallery_arrays(gallery))
        rows.append(d)
        ctx.emit("row", dict(d, protocol=row.protocol_line()))

    status = "finished"
    try:
        with project:
            runner(on_row, ctx.progress, ctx.cancel)
    except Cancelled:
        status = "cancelled"
    return {"status": status, "rows": rows, "run_id": run_id}


def attack_job(project_path: str, run_id: str, attacks: str, *, eps: float | None, proto, params=(),
               data_root=None, device: str = "auto") -> Job:
    from mfdv_engine.evaluation import load_run
    from mfdv_engine.store import Project
    from mfdv_engine.suite import evaluate_request, parse_attacks
    from mfdv_engine.training import resolve_device

    parse_attacks(attacks, eps=eps, params=list(params), eot=proto.eot_samples)  # bad input fails before queueing
    proto.validate()

    def fn(ctx: JobContext) -> dict:
        project = Project.open(project_path)
        with project:  # a busy project is refused before the model and data are loaded
            dev = resolve_device(device)
            cfg, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=proto.n)
            e = eps if eps is not None else default_eps(cfg)  # the data set's ε for every attack, as the CLI does
            specs, suite_over = parse_attacks(attacks, eps=e, params=list(params), eot=proto.eot_samples)
            return _store_rows(project, run_id, ctx, lambda on_row, on_progress, cancel: evaluate_request(
                model, ds.test, specs, suite_over, proto, eps=e, device=dev, on_row=on_row, on_progress=on_progress,
                cancel=cancel))

    return Job("attack", f"Attack {run_id}: {attacks}", fn, {"run_id": run_id})


def default_eps(cfg) -> float:
    from mfdv_engine.defaults import default_eps_for

    return default_eps_for(cfg.data.name)


def sweep_job(project_path: str, run_id: str, kind: str, *, proto, eps: float | None = None, values=None,
              data_root=None, device: str = "auto", loss: str | None = None) -> Job:
    """``loss`` None: the sweep's default (CE for ε, the C&W margin for steps and EOT)."""
    from mfdv_engine.evaluation import load_run
    from mfdv_engine.store import Project
    from mfdv_engine.sweeps import run_sweep, sweep_loss
    from mfdv_engine.training import resolve_device

    proto.validate()
    sweep_loss(kind, loss)  # an unknown kind or loss fails here, before the job starts

    def fn(ctx: JobContext) -> dict:
        project = Project.open(project_path)
        with project:  # a busy project is refused before the model and data are loaded
            dev = resolve_device(device)
            cfg, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=proto.n)
            e = eps if eps is not None else default_eps(cfg)

            def runner(on_row, on_progress, cancel):  # progress follows the whole sweep, point by point
                return run_sweep(model, ds.test, proto, kind=kind, device=dev, eps=e, values=values,
                                 on_row=on_row, cancel=cancel, loss=loss, on_progress=on_progress)

            return _store_rows(project, run_id, ctx, runner)

    return Job("sweep", f"{kind} sweep of {run_id}", fn, {"run_id": run_id})


def checklist_job(project_path: str, run_id: str, *, proto, eps: float | None = None, data_root=None,
                  device: str = "auto", square_queries: int = 1000) -> Job:
    from mfdv_engine.checklist import run_checklist
    from mfdv_engine.evaluation import load_run
    from mfdv_engine.store import Project
    from mfdv_engine.training import resolve_device

    proto.validate()

    def fn(ctx: JobContext) -> dict:
        project = Project.open(project_path)
        dev = resolve_device(device)
        cfg, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=proto.n)
        ctx.progress("checklist", 0.0)
        items = run_checklist(model, ds.test, proto, device=dev,
                              eps=eps if eps is not None else default_eps(cfg), square_queries=square_queries)
        return {"run_id": run_id, "items": [i.to_dict() for i in items]}

    return Job("checklist", f"Checklist of {run_id}", fn, {"run_id": run_id})


# ------------------------------------------------------------------ decision boundaries

def boundaries_job(project_path: str, run_id: str, *, data_root=None, device: str = "cpu",
                   n_points: int = 300) -> Job:
    import torch

    from mfdv_engine.attacks import make_attack
    from mfdv_engine.boundaries import feature_pca, input_slice, probability_grid
    from mfdv_engine.evaluation import load_run
    from mfdv_engine.store import Project
    from mfdv_engine.training import resolve_device

    def fn(ctx: JobContext) -> dict:
        project = Project.open(project_path)
        dev = resolve_device(device)
        cfg, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=n_points)
        x = ds.test.x[:n_points]
        x = x.float().div(255) if x.dtype == torch.uint8 else x.float()
        y = ds.test.y[:n_points]
        out: dict[str, Any] = {"run_id": run_id, "labels": y.numpy()}
        if x.dim() == 2 and x.shape[1] == 2:
            ctx.progress("probability grid (noise on)", 0.2)
            on = probability_grid(model, x.to(dev), noise=True)
            ctx.progress("probability grid (noise off)", 0.6)
            off = probability_grid(model, x.to(dev), noise=False)
            out.update(kind="grid", xs=on.xs.numpy(), ys=on.ys.numpy(), on=on.values.numpy(),
                       off=off.values.numpy(), points=x.numpy())
            return out
        ctx.progress("adversarial direction", 0.1)
        eps = default_eps(cfg)
        x0, y0 = x[:1].to(dev), y[:1].to(dev)
        adv = make_attack("fgsm", eps=eps).run(model, x0, y0)
        ctx.progress("input slice", 0.3)
        sl = input_slice(model, x0[0], int(y0[0]), (adv - x0)[0], extent=2 * eps * float(np.sqrt(x0[0].numel())))
        out.update(kind="image", slice_pred=sl["pred"].numpy(), slice_p=sl["p_true"].numpy(),
                   coords=sl["coords"].numpy(), axes=sl["axes"], true=int(y0[0]))
        if ctx.cancel.is_set():
            return out
        ctx.progress("feature PCA", 0.7)
        try:
            pca = feature_pca(model, x[:200].to(dev))
            out.update(pca_clean=pca["clean"].numpy(), pca_noisy=pca["noisy"].numpy(), pca_labels=y[:200].numpy())
        except ValueError as e:
            out["pca_error"] = str(e)
        return out

    return Job("boundaries", f"Decision boundaries of {run_id}", fn, {"run_id": run_id})


def delete_job(project_path: str, run_id: str) -> Job:
    from mfdv_engine.store import Project

    def fn(ctx: JobContext) -> dict:
        project = Project.open(project_path)
        with project:
            project.delete_run(run_id)
        return {"run_id": run_id, "status": "deleted"}

    return Job("delete", f"Delete {run_id}", fn, {"run_id": run_id})
