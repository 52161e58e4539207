"""Train a run into a project: the one function the CLI, the GUI worker and tests call."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import RunConfig
from ..data import load_dataset
from ..errors import Cancelled, MfdvError, ProjectError, StorageFull
from ..stochastic import is_stochastic
from ..project.h5tree import ShapeCheck
from ..project.store import Project, missing_folder
from ..devices import describe_device, resolve_device
from .trainer import EpochResult, EventSink, Trainer
from ..validate import sub_seed


@dataclass
class TrainSummary:
    run_id: str
    status: str
    message: str
    epochs_done: int
    final: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_project_path(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise ProjectError(missing_folder(p))
    if p.exists():
        Project.open(p)  # raises a clear error for a damaged or foreign file
    return p


def train_run(
    project_path: str | Path,
    config: RunConfig | None = None,
    *,
    resume: str | None = None,
    data_root: str | Path | None = None,
    device: str | None = None,
    on_event: EventSink | None = None,
    cancel_event: threading.Event | None = None,
) -> TrainSummary:
    """Train ``config`` (or resume run ``resume``) and record it in the project.

    Bad input (config, data folder, project path) raises before the project
    is touched. Cancel and Ctrl-C leave the run *interrupted* and resumable;
    divergence leaves it *failed* with the reason, and re-raises.

    Inside a ``torchrun`` job (``WORLD_SIZE > 1``) every process calls this:
    they train data-parallel (see :mod:`mfdv_engine.training.distributed`), only rank 0
    opens and writes the project and emits events; the other ranks return a
    summary of the same run.
    """
    from .distributed import launched_distributed

    if launched_distributed():
        return _train_run_distributed(project_path, config, resume=resume, data_root=data_root, device=device,
                                      on_event=on_event, cancel_event=cancel_event)
    return _train_run(project_path, config, resume=resume, data_root=data_root, device=device,
                      on_event=on_event, cancel_event=cancel_event)


def _checked_inputs(project_path, config: RunConfig | None, resume: str | None) -> tuple[Path, RunConfig]:
    """The project path and the (validated) config to train, or resume, before anything is written."""
    path = check_project_path(project_path)
    if resume is not None:
        if not path.exists():
            raise ProjectError(f"project file {path} does not exist, so there is no run {resume!r} to resume")
        info = Project.open(path).run(resume)
        if info.config.get("model", {}).get("name") == "imported":
            raise ProjectError(f"run {resume} was imported (trained elsewhere), so there is nothing to resume here; "
                               "attack it with `mfdv attack --run " + resume + "`")
        config = RunConfig.from_dict(info.config)
    if config is None:
        raise ValueError("train_run needs a config or a run to resume")
    return path, config.validate()


def _train_run(project_path, config, *, resume, data_root, device, on_event, cancel_event, dist=None) -> TrainSummary:
    emit = on_event or (lambda kind, data: None)
    path, config = _checked_inputs(project_path, config, resume)
    dev = dist.device if dist is not None else resolve_device(device or config.train.device)
    project = Project.at(path)
    with project:  # the lock first: a second writer is refused before any data is loaded
        dataset = load_dataset(config.data.name, data_root, download=config.data.download,
                               limit_train=config.data.limit_train, limit_test=config.data.limit_test,
                               augment=config.data.augment)
        project.create()  # only now that config and data passed
        curves: dict[str, list[dict]] = {"step": [], "epoch": []}

        def make_trainer() -> Trainer:
            return Trainer(config, dataset, device=dev, cancel_event=cancel_event, dist=dist,
                           on_event=lambda kind, row: _record(kind, row, curves, emit))

        # (a data-parallel trainer is built after the other ranks are told the run: its set-up is collective)
        run_id, ckpt, done, trainer = _open_run(project, config, dataset, resume, curves,
                                                make_trainer if dist is None else None)
        if dist is not None:  # the other ranks wait for this in _worker_rank
            dist.broadcast_object({"run_id": run_id, "checkpoint": ckpt})
            dist.start_sent = True
        emit("run", {"run_id": run_id, "config": config.to_dict(), "device": describe_device(dev),
                     "epochs": config.train.epochs, "epochs_done": done})
        try:
            if trainer is None:
                trainer = make_trainer()
                if ckpt is not None:
                    trainer.load_state_dict(ckpt)
            emit("start", {"run_id": run_id, "steps_per_epoch": trainer.steps_per_epoch,
                           "sigma_start": trainer.sigma_start})

            def on_epoch_end(tr: Trainer, res: EpochResult) -> None:
                final = _final(tr, res)
                if data_root is not None:  # later commands on this run find its data without --data-root
                    final["data_root"] = str(Path(data_root).expanduser().resolve())
                if dist is not None:
                    final["processes"] = dist.world_size
                    final["device"] += f" x {dist.world_size} processes ({dist.backend})"
                project.write_live(run_id, status="running", message="", curves=curves,
                                   checkpoint=tr.state_dict(), epochs_done=tr.epoch, final=final)

            trainer.fit(on_epoch_end)
        except (Cancelled, KeyboardInterrupt):
            project.merge_live(run_id, "interrupted", "stopped by the user; resume it with --resume")
            info = project.run(run_id)
            return TrainSummary(run_id, "interrupted", info.message, info.epochs_done, info.final)
        except StorageFull as e:  # resumable once space is freed
            close_run(project, run_id, "interrupted", f"{e}")
            raise
        except MfdvError as e:
            close_run(project, run_id, "failed", str(e))
            raise
        except BaseException as e:
            close_run(project, run_id, "failed", f"internal error: {type(e).__name__}: {e}")
            raise
        project.merge_live(run_id, "finished", "")
        info = project.run(run_id)
    summary = TrainSummary(run_id, "finished", "", info.epochs_done, info.final)
    emit("finished", summary.to_dict())
    return summary


def _train_run_distributed(project_path, config, *, resume, data_root, device, on_event, cancel_event) -> TrainSummary:
    """One rank of a data-parallel job: rank 0 records into the project, the others only train."""
    from .distributed import init_from_env

    path, config = _checked_inputs(project_path, config, resume)
    dist = init_from_env(resolve_device(device or config.train.device))
    try:
        if dist.is_main:
            try:
                return _train_run(path, config, resume=resume, data_root=data_root, device=device,
                                  on_event=on_event, cancel_event=cancel_event, dist=dist)
            except BaseException as e:
                if not getattr(dist, "start_sent", False):  # release the waiting ranks
                    dist.broadcast_object({"error": f"{type(e).__name__}: {e}"})
                raise
        return _worker_rank(config, data_root, cancel_event, dist)
    finally:
        dist.shutdown()


def _worker_rank(config: RunConfig, data_root, cancel_event, dist) -> TrainSummary:
    """A rank > 0: same data and model, no project, no events (a no-op recorder)."""
    start = dist.broadcast_object()  # after rank 0 loaded (and maybe downloaded) the data and opened the project
    if "error" in start:
        raise MfdvError(f"process {dist.rank}: rank 0 stopped before training: {start['error']}")
    run_id, ckpt = start["run_id"], start["checkpoint"]
    dataset = load_dataset(config.data.name, data_root, download=False,
                           limit_train=config.data.limit_train, limit_test=config.data.limit_test,
                           augment=config.data.augment)
    trainer = Trainer(config, dataset, device=dist.device, cancel_event=cancel_event, dist=dist)
    if ckpt is not None:
        trainer.load_state_dict(ckpt)
        if dist.rank > 0:  # the checkpoint carries rank 0's noise stream
            torch.manual_seed(sub_seed(config.train.seed, 7919 * dist.rank, trainer.epoch))
    try:
        results = trainer.fit()
    except (Cancelled, KeyboardInterrupt):
        return TrainSummary(run_id, "interrupted", "stopped by the user; resume it with --resume", trainer.epoch)
    final = _final(trainer, results[-1]) if results else {}
    return TrainSummary(run_id, "finished", "", trainer.epoch, final)


def _open_run(project: Project, config: RunConfig, dataset, resume: str | None, curves: dict,
              make_trainer) -> tuple[str, dict | None, int, Trainer | None]:
    """Create the run, or reopen ``resume``; with ``make_trainer`` the trainer is built
    (and the checkpoint loaded into it) before the project is written, so a
    checkpoint that does not fit leaves the project as it was."""
    trainer = make_trainer() if make_trainer is not None else None
    if resume is None:
        return project.create_run(config.to_dict(), config.name), None, 0, trainer
    stored, ckpt, done = project.resume_state(resume, shape_of=_model_shapes(config, dataset))
    if trainer is not None and ckpt is not None:
        trainer.load_state_dict(ckpt)
    project.reopen_run(resume, stored, ckpt, done)
    curves.update(stored)
    return resume, ckpt, done, trainer


def close_run(project: Project, run_id: str, status: str, message: str) -> None:
    """Mark the run's final status; when that write fails too (a full disk) the run
    stays marked running, and the next writer recovers it as interrupted."""
    try:
        project.merge_live(run_id, status, message)
    except ProjectError:
        pass


def _model_shapes(config: RunConfig, dataset) -> ShapeCheck:
    """Checks a stored checkpoint's model tensors against this config's model before reading them."""
    from ..defenses import get_defense

    defense = get_defense(config.defense.name)
    shapes = {k: tuple(v.shape) for k, v in
              defense.build_model(config.model, dataset, defense.parse_params(config.defense.params)).state_dict().items()}
    return lambda path: shapes.get(path[1]) if len(path) == 2 and path[0] == "model" else None


def _record(kind: str, row: dict[str, float], curves: dict[str, list[dict]], emit: EventSink) -> None:
    if kind in curves:  # ("evaluating" is news, not a curve point)
        curves[kind].append(row)
    emit(kind, row)


def _final(tr: Trainer, res: EpochResult) -> dict[str, Any]:
    row = res.row
    n, mc = len(tr.dataset.test), tr.prediction_samples
    how, short = ((f"Monte-Carlo average of {mc} noise draws", f"MC-{mc}") if is_stochastic(tr.model)
                  else ("single pass (deterministic model)", "single pass"))
    return {
        "epoch": res.epoch,
        "clean_acc": row["test_acc"],
        "clean_acc_protocol": f"{how}, n={n} test examples",
        "clean_acc_short": f"{short}, n={n}",
        "train_acc": row["train_acc"],
        "loss": row["loss"],
        # None, not 0.0, where the model has no learned σ (a plain or PGD-AT run)
        "sigma_mean_start": tr.sigma_start if row.get("sigma_mean") is not None else None,
        "sigma_mean_end": row.get("sigma_mean"),
        "epoch_time_s": row["epoch_time"],
        "device": describe_device(tr.device),
        "precision": tr.precision,
    }
