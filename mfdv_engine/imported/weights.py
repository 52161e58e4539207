"""Weights into a model, with one sentence when they do not fit."""
from __future__ import annotations

from typing import Any

import torch

from ..errors import ProjectError


def load_model_state(model: torch.nn.Module, state: Any, run_id: str) -> None:
    """The checkpoint's weights into ``model``; a checkpoint that does not fit is one sentence."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ProjectError(f"run {run_id!r}'s checkpoint holds no model weights; the project file is damaged")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise ProjectError(f"run {run_id!r}'s checkpoint does not fit its model ({first[:160]}); "
                           "the project file is damaged") from None
