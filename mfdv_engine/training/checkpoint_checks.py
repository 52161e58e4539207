"""Checks of a stored checkpoint against the live trainer, before torch loads it.

torch's loaders copy what they are given into live objects (``LRScheduler`` by
``__dict__.update``), and a project file is data from a stranger: every part of
the checkpoint is compared key by key, kind by kind and shape by shape with
what the trainer holds, and the first mismatch is one sentence (ProjectError).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ProjectError


def check_state(trainer, state: Any) -> None:
    """Raise ProjectError, naming the first part of ``state`` this trainer cannot take."""
    if not isinstance(state, dict):
        raise damaged_checkpoint("the checkpoint is not a table")
    for key in ("model", "optimizer", "scheduler", "epoch"):
        if key not in state:
            raise damaged_checkpoint(f"the checkpoint lacks its {key!r} entry")
    epoch = state["epoch"]
    if type(epoch) is not int or not 0 <= epoch <= trainer.tc.epochs:
        raise damaged_checkpoint(f"the checkpoint's epoch count {_shown(epoch)} is not a whole number "
                       f"from 0 to the run's {trainer.tc.epochs} epochs")
    for key in ("sigma_start", "weight_start", "train_seconds"):
        if key in state and not _same_kind(state[key], 0.0):
            raise damaged_checkpoint(f"the checkpoint's {key} {_shown(state[key])} is not a finite number")
    _check_model_state(state["model"], trainer.model)
    _check_optimizer_state(state["optimizer"], trainer.optimizer)
    _check_plain("the checkpoint's scheduler state", state["scheduler"], trainer.scheduler.state_dict())
    _check_rng(trainer, state.get("rng", {}))

def _check_rng(trainer, rng: Any) -> None:
    live = {"torch": torch.get_rng_state(), "generator": trainer.generator.get_state()}
    if trainer.cuda:
        live["cuda"] = torch.cuda.get_rng_state(trainer.device)
    if not isinstance(rng, dict):
        raise damaged_checkpoint("the checkpoint's random-number state is not a table")
    for key, value in rng.items():
        if key not in ("torch", "generator", "cuda"):
            raise damaged_checkpoint(f"the checkpoint's random-number state has unexpected key {_shown(key)}")
        if key in live and not (isinstance(value, torch.Tensor) and value.dtype == torch.uint8
                                and value.shape == live[key].shape):
            raise damaged_checkpoint(f"the checkpoint's {key!r} random-number state is not the byte string torch saves")


def damaged_checkpoint(what: str) -> ProjectError:
    return ProjectError(f"{what}; the project file is damaged — start a new run instead of resuming this one")


def _shown(value: Any) -> str:
    """A stored value in a message: short, whatever a crafted file put there."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _same_kind(stored: Any, live: Any) -> bool:
    """Whether ``stored`` may replace ``live``: the same plain kind (bool, whole or finite
    number, None, text, a tensor of the same shape), lists and tables element by element."""
    if isinstance(live, bool) or live is None or isinstance(live, str):
        return type(stored) is type(live)
    if isinstance(live, int):
        return type(stored) is int
    if isinstance(live, float):
        return isinstance(stored, (int, float)) and not isinstance(stored, bool) and math.isfinite(stored)
    if isinstance(live, torch.Tensor):
        return isinstance(stored, torch.Tensor) and stored.shape == live.shape
    if isinstance(live, (list, tuple)):
        return (isinstance(stored, (list, tuple)) and len(stored) == len(live)
                and all(_same_kind(s, v) for s, v in zip(stored, live)))
    if isinstance(live, dict):
        return (isinstance(stored, dict) and set(stored) == set(live)
                and all(_same_kind(stored[k], v) for k, v in live.items()))
    return False


def _check_plain(what: str, stored: Any, live: dict[str, Any]) -> None:
    """``stored`` must have exactly ``live``'s keys, each value of the same kind (see
    :func:`_same_kind`): torch's loaders copy these values into live objects."""
    if not isinstance(stored, dict):
        raise damaged_checkpoint(f"{what} is not a table")
    extra = [k for k in stored if k not in live]
    if extra:
        raise damaged_checkpoint(f"{what} has unexpected key {_shown(extra[0])}")
    missing = [k for k in live if k not in stored]
    if missing:
        raise damaged_checkpoint(f"{what} lacks the key {missing[0]!r}")
    for key, value in live.items():
        if not _same_kind(stored[key], value):
            raise damaged_checkpoint(f"{what} has {key!r} = {_shown(stored[key])} where this trainer holds {_shown(value)}")


def _check_model_state(stored: Any, model: nn.Module) -> None:
    """The model's entries, by name and shape (``load_state_dict`` would raise a RuntimeError)."""
    live = model.state_dict()
    if not isinstance(stored, dict):
        raise damaged_checkpoint("the checkpoint's model is not a table of tensors")
    extra = [k for k in stored if k not in live]
    if extra:
        raise damaged_checkpoint(f"the checkpoint's model has unexpected entry {_shown(extra[0])}")
    for key, value in live.items():
        got = stored.get(key)
        if not isinstance(got, torch.Tensor):
            raise damaged_checkpoint(f"the checkpoint's model lacks the tensor {key!r}")
        if got.shape != value.shape:
            raise damaged_checkpoint(f"the checkpoint's model entry {key!r} has shape {tuple(got.shape)} "
                           f"where this config builds {tuple(value.shape)}")


def _check_optimizer_state(stored: Any, optimizer: torch.optim.Optimizer) -> None:
    """Its two parts, the groups' keys and kinds, and a per-parameter state that fits its parameter."""
    live = optimizer.state_dict()
    if not isinstance(stored, dict) or set(stored) != {"state", "param_groups"}:
        keys = sorted(map(str, stored)) if isinstance(stored, dict) else type(stored).__name__
        raise damaged_checkpoint(f"the checkpoint's optimizer state has {_shown(keys)} where 'state' and 'param_groups' belong")
    groups = stored["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(live["param_groups"]):
        n = len(groups) if isinstance(groups, list) else _shown(groups)
        raise damaged_checkpoint(f"the checkpoint's optimizer has {n} parameter groups where this trainer has "
                       f"{len(live['param_groups'])}")
    for i, (group, live_group) in enumerate(zip(groups, live["param_groups"])):
        _check_plain(f"the checkpoint's optimizer group {i}", group, live_group)
        if group["params"] != live_group["params"]:
            raise damaged_checkpoint(f"the checkpoint's optimizer group {i} lists other parameters than this trainer's")
    params = [p for g in optimizer.param_groups for p in g["params"]]
    if not isinstance(stored["state"], dict):
        raise damaged_checkpoint("the checkpoint's optimizer state is not a table")
    for index, entry in stored["state"].items():
        if type(index) is not int or not 0 <= index < len(params) or not isinstance(entry, dict):
            raise damaged_checkpoint(f"the checkpoint's optimizer state names a parameter {_shown(index)} this trainer lacks")
        for key, value in entry.items():
            fits = (isinstance(value, torch.Tensor) and (value.ndim == 0 or value.shape == params[index].shape)) \
                or value is None or _same_kind(value, 0.0)
            if type(key) is not str or not fits:
                raise damaged_checkpoint(f"the checkpoint's optimizer state of parameter {index} has {_shown(key)} = "
                               f"{_shown(value)}, which does not fit that parameter")
