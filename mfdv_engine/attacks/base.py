"""Attack specifications, the attack registry and RNG isolation.

An :class:`AttackSpec` is a frozen, validated description of one attack with
all its parameters (what the results table records through :meth:`protocol`).
``run(model, x, y)`` executes it on inputs in [0, 1] and returns adversarial
inputs in [0, 1]. Every run happens inside :func:`rng_isolated`, so the
``torch.manual_seed`` calls that torchattacks/AutoAttack make internally, and
the numpy RNG used by differential evolution, never touch the caller's RNG.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from dataclasses import dataclass, field
from typing import Callable, ClassVar, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError
from ..registry import Registry
from ..validate import COUNT_MAX, finite_in, seed_in, whole_in

NORMS = ("Linf", "L2", "L0")


@contextlib.contextmanager
def rng_isolated(device: torch.device | str | None = None, seed: int = 0) -> Iterator[None]:
    """Fork the torch CPU (and, for a CUDA ``device``, that device's) RNG and the
    numpy global RNG, seed them from ``seed``, and restore them on exit."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    cuda_devices = []
    if device.type == "cuda" and torch.cuda.is_available():
        cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()]
    np_state = np.random.get_state()
    try:
        # torch.manual_seed would also seed *every* CUDA device, including ones
        # fork_rng does not restore; seed only what we forked.
        with torch.random.fork_rng(devices=cuda_devices, enabled=True):
            torch.random.default_generator.manual_seed(int(seed))
            for idx in cuda_devices:
                with torch.cuda.device(idx):
                    torch.cuda.manual_seed(int(seed))
            np.random.seed(int(seed) % (2**32))
            yield
    finally:
        np.random.set_state(np_state)


class _ListHandler(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(level=logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - trivial
        try:
            self.sink.append(f"{record.levelname.lower()}: {record.getMessage()}")
        except Exception:
            pass


@contextlib.contextmanager
def capture_messages(sink: list[str], logger_names: tuple[str, ...] = (), level: int = logging.INFO) -> Iterator[None]:
    """Append Python warnings and records of the named loggers (at ``level`` and
    above) to ``sink`` while the block runs; nothing is printed."""
    handler = _ListHandler(sink)
    handler.setLevel(level)
    saved = []
    for name in logger_names:
        lg = logging.getLogger(name)
        saved.append((lg, lg.level, lg.propagate))
        lg.addHandler(handler)
        lg.setLevel(min(level, lg.level) if lg.level else level)
        lg.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        for w in caught:
            sink.append(f"warning: {w.message}")
    finally:
        for lg, lvl, prop in saved:
            lg.removeHandler(handler)
            lg.setLevel(lvl)
            lg.propagate = prop


@dataclass(frozen=True)
class AttackSpec:
    """Base of every attack. Subclasses add their own (defaulted) fields."""

    name: str = "attack"
    norm: str = "Linf"
    eps: float = 8 / 255
    #: Monte-Carlo draws per gradient / prediction; 1 attacks single noisy passes.
    eot_samples: int = 1
    #: seed of the forked RNG every run executes under
    seed: int = 0
    #: warnings and log lines the last ``run`` produced (e.g. AutoAttack's
    #: "it seems to be a randomized defense"); not a parameter.
    last_messages: list = field(default_factory=list, compare=False, repr=False)

    supports_eot: ClassVar[bool] = False
    #: the norms this attack implements (empty: any of NORMS)
    norms: ClassVar[tuple[str, ...]] = ()
    #: parameters that take one of a few words (a loss): checked here, offered as drop-downs by front ends
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    _NOT_PARAMS: ClassVar[tuple[str, ...]] = ("last_messages",)

    def __post_init__(self) -> None:
        self.validate()

    # -- parameters -------------------------------------------------------
    def validate(self) -> None:
        if self.norm not in NORMS:
            raise ConfigError(f"attack {self.name!r}: norm {self.norm!r} is unknown; use one of {', '.join(NORMS)}")
        if self.norms and self.norm not in self.norms:
            raise ConfigError(f"attack {self.name!r}: norm {self.norm!r} is unsupported; use {' or '.join(self.norms)}")
        for key, allowed in self.choices.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"attack {self.name!r}: {key} {getattr(self, key)!r} is unknown; "
                                  f"use one of {', '.join(allowed)}")
        check_range(self.name, f"eps ({self.norm})", self.eps, 0.0, EPS_MAX[self.norm])
        check_int(self.name, "eot_samples", self.eot_samples, 1)
        if self.eot_samples > 1 and not self.supports_eot:
            raise ConfigError(
                f"attack {self.name!r} does not support eot_samples={self.eot_samples}; it must be 1"
            )
        seed_in(f"attack {self.name!r}: seed", self.seed)

    def protocol(self) -> dict:
        """Every parameter (including ``eot_samples``), for the results table."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name in self._NOT_PARAMS:
                continue
            out[f.name] = getattr(self, f.name)
        out.update(self._resolved())
        return out

    def adaptive_counterpart(self) -> "AttackSpec | None":
        """For an attack that cannot average gradients over the noise itself
        (``supports_eot`` False): the variant that attacks a stochastic model
        adaptively, evaluated beside it so that row never stands alone."""
        return None

    def gradient_text(self, eot: int) -> str | None:
        """How this attack's gradients are obtained, where the generic
        single-sample / EOT-S label would mislead (transfer attacks); else None."""
        return None

    def gradient_samples(self, eot: int) -> int:
        """Noise draws behind each gradient, for the row's EOT column (an attack
        with its own EOT loop, AutoAttack 'rand', says how many it takes)."""
        return eot

    def for_inputs(self, shape) -> "AttackSpec":
        """This attack with its data-set dependent defaults resolved for inputs of
        ``shape`` (the row then records what ran); most attacks have none."""
        return self

    def _resolved(self) -> dict:
        """Derived parameters (e.g. a default step size) to show in the protocol."""
        return {}

    # -- execution --------------------------------------------------------
    def run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eot_samples: int | None = None) -> torch.Tensor:
        """Attack ``model`` on ``x`` (in [0, 1]) with labels ``y``; returns x_adv in [0, 1].

        ``eot_samples`` overrides the spec's own value for this run (None keeps it).
        """
        s = self.eot_samples if eot_samples is None else eot_samples
        if s != self.eot_samples:
            dataclasses.replace(self, eot_samples=s)  # validates the override
        if x.dim() < 2 or x.shape[0] != y.shape[0]:
            raise ConfigError(f"attack {self.name!r}: x of shape {tuple(x.shape)} does not match y of shape {tuple(y.shape)}")
        self.last_messages.clear()
        was_training = model.training
        model.eval()
        try:
            with rng_isolated(x.device, self.seed):
                x_adv = self._run(model, x.detach(), y.detach(), int(s))
        finally:
            model.train(was_training)
        return x_adv.detach().clamp(0.0, 1.0)

    def _run(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, eot_samples: int) -> torch.Tensor:
        raise NotImplementedError


#: the largest ε of each norm: L∞ within the [0, 1] input range, L2 above the
#: diameter of any input cube we load, L0 a pixel count (see :mod:`mfdv_engine.validate`)
EPS_MAX = {"Linf": 1.0, "L2": 1000.0, "L0": float(COUNT_MAX)}


def check_range(attack: str, name: str, value, low: float, high: float) -> None:
    """An attack's real parameter: finite and in [low, high] (:func:`finite_in`)."""
    finite_in(f"attack {attack!r}: {name}", value, low, high)


def check_int(attack: str, name: str, value, low: int, high: int = COUNT_MAX) -> None:
    """An attack's count (steps, queries, restarts, EOT draws): whole, low … high (100,000)."""
    whole_in(f"attack {attack!r}: {name}", value, low, high)


# -- registry ---------------------------------------------------------------
#: name -> (spec class, its default overrides); filled by the modules ``attacks/__init__`` imports
ATTACKS: Registry[tuple[type[AttackSpec], dict]] = Registry("attack")


def register_attack(name: str, **defaults) -> Callable[[type[AttackSpec]], type[AttackSpec]]:
    """Class decorator: register ``cls`` under ``name`` with default overrides.

    Stack it to register one class under several names (``pgd10``, ``pgd100``).
    """

    def deco(cls: type[AttackSpec]) -> type[AttackSpec]:
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = set(defaults) - fields
        if bad:
            raise ValueError(f"attack {name!r}: unknown default(s) {sorted(bad)}")
        ATTACKS.add(name, (cls, dict(defaults)))
        return cls

    return deco


def list_attacks() -> list[str]:
    return ATTACKS.names()


def make_attack(name: str, **overrides) -> AttackSpec:
    """Build the registered attack ``name`` with ``overrides`` applied (validated)."""
    cls, defaults = ATTACKS.get(name)
    allowed = sorted(f.name for f in dataclasses.fields(cls) if f.name not in cls._NOT_PARAMS and f.name != "name")
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise ConfigError(
            f"attack {name!r} has no parameter {bad[0]!r}; its parameters are {', '.join(allowed)}"
        )
    kwargs = {**defaults, **overrides, "name": name}
    return cls(**kwargs)
