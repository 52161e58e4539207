"""Training: the trainer (one loop for every defense), data-parallel training,
epoch timing, and ``train_run``, which records a run into a project."""
from .health import at_chance
from .params import decayed_norm, param_groups, weight_norm
from .trainer import EpochResult, EventSink, Trainer

__all__ = ["EpochResult", "EventSink", "Trainer", "at_chance", "decayed_norm", "param_groups", "weight_norm"]
