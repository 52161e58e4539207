"""The one set of checks for the numbers and device strings a user can set.

Every number that reaches training or an attack is checked here first, so a
bad value stops with one sentence that names the setting and its range
(``train.lr must be a finite number in (0, 10], got 1e+300``) instead of a
traceback, or a failed run, later. The ranges the callers use, and why:

* seeds: whole numbers 0 … 2**63 − 1 (:data:`SEED_MAX`, what a torch generator
  takes as a signed 64-bit value); seeds derived from one (per batch, per
  rank, per draw) go through :func:`sub_seed`, so they never overflow.
* ``train.lr`` (0, 10]; ``train.weight_decay`` [0, 1]; ``train.momentum``
  [0, 1); ``train.gamma`` (0, 1]; ``train.milestones`` each in (0, 1).
* ``train.epochs`` 1 … 100,000; ``train.batch_size`` 1 … 65,536 (:data:`BATCH_MAX`);
  ``train.eval_mc_samples`` and the protocol's MC draws 1 … 10,000 (:data:`MC_MAX`).
* counts of the attacks and the protocol (steps, EOT samples, re-judgings,
  queries, restarts, test examples): 1 … 100,000 (:data:`COUNT_MAX`).
* ε: L∞ in [0, 1] (inputs are in [0, 1]); L2 in [0, 1000] (above the diameter
  of any input cube we load); L0 (a pixel count) in [0, 100,000].
* defense weights (λ1, λ, τ, the KL weight): [0, 10,000] (:data:`WEIGHT_MAX`;
  the λ1 study trains λ1 = 1000 on purpose to show divergence); noise scales
  at initialisation (σ, α, θ, the WCA scale): at most 10 (:data:`SCALE_MAX`).
"""
from __future__ import annotations

import math
import re
from typing import Any

from .errors import ConfigError

SEED_MAX = 2**63 - 1
COUNT_MAX = 100_000
MC_MAX = 10_000
BATCH_MAX = 65_536
EPOCHS_MAX = 100_000
WEIGHT_MAX = 10_000.0
SCALE_MAX = 10.0

#: torch keeps a device index in 8 bits and refuses leading zeros
_DEVICE = re.compile(r"auto|cpu|cuda(?::(0|[1-9][0-9]{0,2}))?")
_INDEX_MAX = 127


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool, which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_in(name: str, value: Any, low: float, high: float, *, low_open: bool = False,
              high_open: bool = False) -> float:
    """``value`` as a float if it is a finite number in the stated interval; else a
    ConfigError that names ``name`` and the interval (inf and NaN fail every range)."""
    if not is_number(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    v = float(value)
    inside = (math.isfinite(v) and (low < v if low_open else low <= v)
              and (v < high if high_open else v <= high))
    if not inside:
        interval = f"{'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
        raise ConfigError(f"{name} must be a finite number in {interval}, got {value!r}")
    return v


def whole_in(name: str, value: Any, low: int, high: int) -> int:
    """``value`` if it is a whole number from ``low`` to ``high``; else a ConfigError
    naming ``name`` and the range (a float such as 3.0 is not accepted here: the
    config loader turns whole floats into ints before validation)."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        what = (f"a positive whole number (at most {_int(high)})" if low == 1
                else f"a whole number from {_int(low)} to {_int(high)}")
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def seed_in(name: str, value: Any) -> int:
    """A seed: a whole number 0 … 2**63 − 1."""
    return whole_in(name, value, 0, SEED_MAX)


def sub_seed(seed: int, *offsets: int) -> int:
    """The seed of a derived stream (``seed`` plus per-batch/rank/draw offsets),
    wrapped into 0 … 2**63 − 1 so that no torch generator overflows; equal to the
    plain sum whenever that fits, so results of ordinary seeds do not change."""
    return (int(seed) + sum(int(o) for o in offsets)) % (SEED_MAX + 1)


def parse_device(text: Any, name: str = "device") -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index 0 … 127 without
    leading zeros, what ``torch.device`` parses); anything else is a ConfigError
    naming ``name``, before torch can raise its own RuntimeError."""
    m = _DEVICE.fullmatch(text) if isinstance(text, str) else None
    if m is not None and (m.group(1) is None or int(m.group(1)) <= _INDEX_MAX):
        return text
    raise ConfigError(f"{name} must be auto, cpu, cuda or cuda:N with N a GPU index (0, 1, ...), got {text!r}")


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else _int(x)


def _int(x: int) -> str:
    return "2**63 - 1" if x == SEED_MAX else str(x)
