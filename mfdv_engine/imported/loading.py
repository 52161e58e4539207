"""Rebuild a trained (or imported) run's model from the project, with its test data.

A run's model comes from its config and its last checkpoint; the checkpoint's
tensors are checked against the model's shapes before anything is read (the
project file is data from a stranger). An imported run's model file runs only
if this machine imported it (:mod:`mfdv_engine.imported.trust`).
"""
from __future__ import annotations

import torch

from ..config import RunConfig
from ..errors import ProjectError
from ..models.layout import channels_last_for_eval
from .weights import load_model_state


def checked_run(project, run_id: str) -> RunConfig:
    """The config of a run that can be attacked (it exists and has a finished epoch)."""
    info = project.run(run_id)
    if not project.has_checkpoint(run_id):
        raise ProjectError(f"run {run_id!r} has no finished epoch (status {info.status}); train it before attacking it")
    project.eval_rows(run_id)  # a damaged table is refused now, not after the attack has run
    return RunConfig.from_dict(info.config)


def remembered_root(final: dict) -> str | None:
    """The data folder a run was trained (or imported) with, when it still exists; else None (the default)."""
    from pathlib import Path

    root = final.get("data_root")
    return root if isinstance(root, str) and root and Path(root).is_dir() else None


def load_run(project, run_id: str, *, data_root=None, device: torch.device, limit_test: int | None = None):
    """Rebuild a run's model from its config and last checkpoint (eval mode) with its test data."""
    from ..data import load_dataset
    from ..defenses import get_defense

    cfg = checked_run(project, run_id)
    data_root = data_root if data_root is not None else remembered_root(project.run(run_id).final)
    ds = load_dataset(cfg.data.name, data_root, limit_test=limit_test, splits=("test",))
    if cfg.model.name == "imported" or cfg.model.source is not None:  # only from a model file this machine trusts
        from .byom import imported_model

        return cfg, ds, imported_model(project, run_id, cfg, ds).to(device).eval()
    defense = get_defense(cfg.defense.name)
    model = defense.build_model(cfg.model, ds, defense.parse_params(cfg.defense.params))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = project.load_checkpoint(run_id, map_location="cpu",  # shapes checked before anything is read
                                    shape_of=lambda p: shapes.get(p[1]) if len(p) == 2 and p[0] == "model" else None)
    load_model_state(model, state.get("model"), run_id)
    return cfg, ds, channels_last_for_eval(model.to(device).eval(), device)
