"""Run configuration: dataclasses with validation and a JSON round-trip.

A run is described entirely by a :class:`RunConfig`; the project file stores
it as JSON, presets are JSON, and ``--set a.b=value`` edits it by dotted path.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .resources import resources_dir
from .validate import BATCH_MAX, COUNT_MAX, EPOCHS_MAX, MC_MAX, SEED_MAX, finite_in, parse_device, seed_in, whole_in

#: the most examples ``data.limit_train``/``data.limit_test`` may keep (more than any split we load)
LIMIT_MAX = 100_000_000
#: ``train.optimizer`` and ``train.schedule`` choices (the studio's wizard offers exactly these)
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "multistep", "constant")


@dataclass
class DataConfig:
    """Which data set, how much of it, and how to augment it in training.

    ``augment``: ``none``, ``crop``, ``crop-flip`` or ``auto`` (the data set's
    own default, shown by ``mfdv datasets``); configs written before the key
    existed load as ``auto``, and ``auto`` is left out of :meth:`RunConfig.to_dict`."""

    name: str = "mnist"
    limit_train: int | None = None
    limit_test: int | None = None
    download: bool = False
    augment: str = "auto"

    def validate(self) -> None:
        from .data.registry import check_augment_setting, dataset_entry

        dataset_entry(self.name)
        check_augment_setting(self.augment)
        for key in ("limit_train", "limit_test"):
            if getattr(self, key) is not None:
                whole_in(f"data.{key}", getattr(self, key), 1, LIMIT_MAX)


@dataclass
class ModelConfig:
    name: str = "lenet"
    stochastic: str = "linear1"
    #: only for ``name = "imported"`` (a network this tool did not train, see
    #: :mod:`mfdv_engine.imported.byom`): {"file", "entry", "sha256", "stochastic", "weights"}
    source: dict[str, Any] | None = None

    def validate(self) -> None:
        from .imported.modelfile import IMPORTED, check_source
        from .models import Placement, model_entry

        if self.name == IMPORTED or self.source is not None:
            if self.name != IMPORTED:
                raise ConfigError(f"model.source is only for imported models, not for model {self.name!r}")
            check_source(self.source, self.stochastic)
            return
        model_entry(self.name)
        Placement.parse(self.stochastic)


@dataclass
class DefenseConfig:
    """A defense by registry name plus its own parameters (validated by the defense)."""

    name: str = "mfdv"
    params: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        from .defenses import get_defense

        get_defense(self.name).parse_params(self.params)


@dataclass
class TrainConfig:
    epochs: int = 1
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    #: PyTorch's convention: adds weight_decay·w to the gradient of every conv
    #: and linear weight, i.e. the paper's λ2‖w‖² with λ2 = weight_decay / 2.
    #: Biases, batch norm and σ get none.
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    eval_mc_samples: int = 15
    log_every: int = 20

    def validate(self) -> None:
        """Every number finite and in its range (see :mod:`mfdv_engine.validate` for
        the ranges and why), so nothing reaches the optimiser or a seed that
        would overflow, diverge at once or be blamed on the defense."""
        whole_in("train.epochs", self.epochs, 1, EPOCHS_MAX)
        whole_in("train.batch_size", self.batch_size, 1, BATCH_MAX)
        whole_in("train.eval_mc_samples", self.eval_mc_samples, 1, MC_MAX)
        whole_in("train.log_every", self.log_every, 1, COUNT_MAX)
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        _choice("train.schedule", self.schedule, SCHEDULES)
        parse_device(self.device, "train.device")
        finite_in("train.lr", self.lr, 0, 10, low_open=True)
        finite_in("train.weight_decay (2·λ2)", self.weight_decay, 0, 1)
        finite_in("train.momentum", self.momentum, 0, 1, high_open=True)
        finite_in("train.gamma", self.gamma, 0, 1, low_open=True)
        if not isinstance(self.milestones, list):
            raise ConfigError(f"train.milestones must be a list of fractions of the run, e.g. [0.5, 0.75]; got {self.milestones!r}")
        for i, m in enumerate(self.milestones):
            finite_in(f"train.milestones[{i}] (a fraction of the run)", m, 0, 1, low_open=True, high_open=True)
        seed_in("train.seed", self.seed)


@dataclass
class RunConfig:
    name: str = "run"
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    defense: DefenseConfig = field(default_factory=DefenseConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> "RunConfig":
        for part in (self.data, self.model, self.defense, self.train):
            part.validate()
        from .defenses import get_defense

        defense = get_defense(self.defense.name)
        self.model.stochastic = defense.normalise_placement(self.model.stochastic)
        defense.check_model(self.model)
        return self

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["model"]["source"] is None:  # a trained run's config stays as it always was
            del d["model"]["source"]
        if d["data"]["augment"] == "auto":  # likewise: stored configs (and run reuse by config) as before the key
            del d["data"]["augment"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        return _from_dict(cls, d, "")

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise ConfigError(f"the configuration is not valid JSON ({e.msg} at line {e.lineno})") from None

    def with_overrides(self, assignments: list[str]) -> "RunConfig":
        """Apply ``key=value`` edits (``train.epochs=3``, ``defense.lambda1=0.1``, ``defense=none``)."""
        d = asdict(self)  # every key, so settings left out of to_dict (data.augment=auto) can be set
        for item in assignments:
            if "=" not in item:
                raise ConfigError(f"--set expects key=value, got {item!r}")
            key, raw = item.split("=", 1)
            value = parse_value(raw)
            parts = key.strip().split(".")
            if parts == ["defense"]:
                d["defense"] = {"name": value, "params": {}}
                continue
            if parts[0] == "defense" and len(parts) == 2 and parts[1] != "name":
                parts = ["defense", "params", parts[1]]
            node = d
            for p in parts[:-1]:
                if not isinstance(node, dict) or p not in node:
                    raise ConfigError(f"unknown setting {key!r}; see `mfdv show` for the keys a config has")
                node = node[p]
            if not isinstance(node, dict) or (parts[-1] not in node and parts[:2] != ["defense", "params"]):
                raise ConfigError(f"unknown setting {key!r}; see `mfdv show` for the keys a config has")
            node[parts[-1]] = value
        return RunConfig.from_dict(d)


def auto_name(cfg: RunConfig) -> str:
    """A run name read off its config, as the presets are named: ``<data>-<backbone>-<defense>``
    (``plain`` for no defense), so a list of runs says what each one is."""
    defense = "plain" if cfg.defense.name == "none" else cfg.defense.name
    return f"{cfg.data.name}-{cfg.model.name}-{defense}"


def auto_description(cfg: RunConfig) -> str:
    """One sentence from the config itself (never a stale preset's notes once the config changed)."""
    t = cfg.train
    epochs = f"{t.epochs} epoch{'s' if t.epochs != 1 else ''}"
    return (f"{cfg.data.name}, {cfg.model.name}, defense {cfg.defense.name} (stochastic layers: "
            f"{cfg.model.stochastic}); {t.optimizer} lr {t.lr:g}, {t.schedule} schedule over {epochs}, "
            f"batch {t.batch_size}, seed {t.seed}.")


def parse_value(raw: str) -> Any:
    """JSON if it parses, a fraction like ``8/255`` as a float, else the string."""
    raw = raw.strip()
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        pass
    if "/" in raw:
        try:
            return float(Fraction(raw))
        except (ValueError, ZeroDivisionError):
            pass
    return raw


def _from_dict(cls: type, d: Any, prefix: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix or 'the configuration'} must be an object, got {type(d).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = set(d) - set(known)
    if unknown:
        raise ConfigError(f"unknown setting {prefix}{sorted(unknown)[0]!r}; known: {', '.join(known)}")
    kwargs = {}
    for name, f in known.items():
        if name not in d:
            continue
        sub = _DATACLASS_FIELDS.get((cls.__name__, name))
        kwargs[name] = _from_dict(sub, d[name], f"{prefix}{name}.") if sub else _coerce(d[name], f, prefix)
    return cls(**kwargs)


def _coerce(value: Any, f: Any, prefix: str) -> Any:
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if t == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if t in ("float", "int") and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise ConfigError(f"{prefix}{f.name} must be a number, got {value!r}")
    if t == "int" and isinstance(value, float):
        if not value.is_integer():
            raise ConfigError(f"{prefix}{f.name} must be a whole number, got {value!r}")
        # beyond every range (validate says so, showing 1e+30 as typed, not its 31 digits)
        return int(value) if abs(value) <= SEED_MAX else value
    if t == "bool" and not isinstance(value, bool):
        raise ConfigError(f"{prefix}{f.name} must be true or false, got {value!r}")
    if t == "str" and not isinstance(value, str):
        raise ConfigError(f"{prefix}{f.name} must be text, got {value!r}")
    return value


_DATACLASS_FIELDS = {
    ("RunConfig", "data"): DataConfig,
    ("RunConfig", "model"): ModelConfig,
    ("RunConfig", "defense"): DefenseConfig,
    ("RunConfig", "train"): TrainConfig,
}


def _choice(name: str, v: Any, choices: tuple[str, ...]) -> None:
    if v not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {v!r}")


# ---------------------------------------------------------------- presets

def presets_dir() -> Path:
    return resources_dir() / "presets"


def list_presets() -> list[str]:
    """Names of the shipped presets (``resources/presets/*.json``)."""
    return sorted(p.stem for p in presets_dir().glob("*.json"))


def load_preset(name: str) -> RunConfig:
    """A shipped preset as a :class:`RunConfig` (edit it, then train it)."""
    path = presets_dir() / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; choose one of: {', '.join(list_presets())}")
    return load_config_file(path)


def load_config_file(path: str | Path) -> RunConfig:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read the config file {path}: {e.strerror}") from None
    return RunConfig.from_json(text)


def as_plain(obj: Any) -> Any:
    return asdict(obj) if is_dataclass(obj) else obj
