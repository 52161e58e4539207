"""Train a run into a project: the one function the CLI, the GUI worker and tests call."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import RunConfig
from .data import load_dataset
from .errors import Cancelled, MfdvError, ProjectError, TrainingDiverged
from .store import Project
from .training import EpochResult, EventSink, Trainer, describe_device, resolve_device


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
        raise ProjectError(f"the folder {p.parent} for project {p.name} does not exist; create it first or choose another path")
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
    """
    emit = on_event or (lambda kind, data: None)
    path = check_project_path(project_path)
    if resume is not None:
        if not path.exists():
            raise ProjectError(f"project file {path} does not exist, so there is no run {resume!r} to resume")
        config = RunConfig.from_dict(Project.open(path).run(resume).config)
    if config is None:
        raise ValueError("train_run needs a config or a run to resume")
    config.validate()
    dev = resolve_device(device or config.train.device)
    dataset = load_dataset(config.data.name, data_root, download=config.data.download,
                           limit_train=config.data.limit_train, limit_test=config.data.limit_test)
    project = Project.open(path, create=True)
    with project:
        if resume is not None:
            curves, ckpt, done = project.reopen_run(resume)
            run_id = resume
        else:
            run_id = project.create_run(config.to_dict(), config.name)
            curves, ckpt, done = {"step": [], "epoch": []}, None, 0
        emit("run", {"run_id": run_id, "config": config.to_dict(), "device": describe_device(dev),
                     "epochs": config.train.epochs, "epochs_done": done})
        try:
            trainer = Trainer(config, dataset, device=dev, cancel_event=cancel_event,
                              on_event=lambda kind, row: _record(kind, row, curves, emit))
            if ckpt is not None:
                trainer.load_state_dict(ckpt)
            emit("start", {"run_id": run_id, "steps_per_epoch": trainer.steps_per_epoch,
                           "sigma_start": trainer.sigma_start})

            def on_epoch_end(tr: Trainer, res: EpochResult) -> None:
                final = _final(tr, res)
                project.write_live(run_id, status="running", message="", curves=curves,
                                   checkpoint=tr.state_dict(), epochs_done=tr.epoch, final=final)

            trainer.fit(on_epoch_end)
        except (Cancelled, KeyboardInterrupt):
            project.merge_live(run_id, "interrupted", "stopped by the user; resume it with --resume")
            info = project.run(run_id)
            return TrainSummary(run_id, "interrupted", info.message, info.epochs_done, info.final)
        except TrainingDiverged as e:
            project.merge_live(run_id, "failed", str(e))
            raise
        except MfdvError as e:
            project.merge_live(run_id, "failed", str(e))
            raise
        except BaseException as e:
            project.merge_live(run_id, "failed", f"internal error: {type(e).__name__}: {e}")
            raise
        project.merge_live(run_id, "finished", "")
        info = project.run(run_id)
    summary = TrainSummary(run_id, "finished", "", info.epochs_done, info.final)
    emit("finished", summary.to_dict())
    return summary


def _record(kind: str, row: dict[str, float], curves: dict[str, list[dict]], emit: EventSink) -> None:
    curves[kind].append(row)
    emit(kind, row)


def _final(tr: Trainer, res: EpochResult) -> dict[str, Any]:
    row = res.row
    return {
        "epoch": res.epoch,
        "clean_acc": row["test_acc"],
        "clean_acc_protocol": f"Monte-Carlo average of {tr.tc.eval_mc_samples} noise draws, "
                              f"n={len(tr.dataset.test)} test examples",
        "train_acc": row["train_acc"],
        "loss": row["loss"],
        "sigma_mean_start": tr.sigma_start,
        "sigma_mean_end": row.get("sigma_mean"),
        "epoch_time_s": row["epoch_time"],
        "device": describe_device(tr.device),
    }
