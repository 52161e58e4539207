"""A robustness row and the protocol that produced it: the unit every table, file and report holds.

A :class:`Row` is a dataclass, and it also reads like the dict the project file
stores (``row["attack"]``, ``row.get("params")``, ``dict(row, run_id=...)``,
plus ``row["key"]`` and ``row["protocol"]``), so rows measured now and rows read
back are one type (``mfdv.attack(...).rows`` and ``mfdv.show(...).rows`` alike).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from ..defaults import eps_text
from ..validate import BATCH_MAX, COUNT_MAX, MC_MAX, seed_in, whole_in

#: the gradient label of a deterministic model's rows: one pass, nothing to average
DETERMINISTIC = "single pass (deterministic)"


def wilson_ci(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a proportion k/n (sound at 0 and n)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def clamp_message(asked: int, test_size: int) -> str | None:
    """What a row says when n is more than the test set holds (n is clamped to it); None when it fits."""
    if asked <= test_size:
        return None
    return f"n={asked} was asked for, but the test set has {test_size} examples, so n={test_size}"


@dataclass
class Protocol:
    n: int = 1000
    mc_samples: int = 15
    eot_samples: int = 20
    reeval: int = 3
    seed: int = 0
    batch_size: int = 250

    def validate(self) -> "Protocol":
        """Counts bounded (n, EOT, re-judgings ≤ 100,000; MC ≤ 10,000; batch ≤ 65,536)
        and the seed in 0 … 2**63 − 1; its derived seeds go through :func:`sub_seed`."""
        for k, high in (("n", COUNT_MAX), ("mc_samples", MC_MAX), ("eot_samples", COUNT_MAX),
                        ("reeval", COUNT_MAX), ("batch_size", BATCH_MAX)):
            whole_in(k, getattr(self, k), 1, high)
        seed_in("seed", self.seed)
        return self

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class Row:
    attack: str
    norm: str
    eps: float
    steps: int | None
    gradient: str
    eot_samples: int
    mc_samples: int
    n: int
    seed: int
    reeval: int
    clean_acc: float
    robust_acc: float
    robust_acc_mean: float
    ci_low: float
    ci_high: float
    time_s: float
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    run_id: str = ""

    @property
    def key(self) -> str:
        if self.__dict__.get("_stored_key"):  # a row read back answers to the key it was stored under
            return self.__dict__["_stored_key"]
        sweep, loss = self.params.get("sweep"), self.params.get("loss", "ce")
        return (f"{self.attack}|eps={self.eps:.6g}|steps={self.steps}|{self.gradient}" + (f"|sweep={sweep}" if sweep else "")
                + (f"|loss={loss}" if loss != "ce" else "")  # CE rows keep the keys they always had
                + (f"|in={self.params['suite']}" if self.params.get("suite") else ""))  # a suite's member

    def protocol_line(self) -> str:
        steps = f", {self.steps} step{'s' if self.steps != 1 else ''}" if self.steps else ""
        steps += f", {LOSS_NAMES.get(self.params['loss'], self.params['loss'])} loss" if "loss" in self.params else ""
        judged = ("prediction: one pass" if self.gradient == DETERMINISTIC else
                  f"prediction: MC-{self.mc_samples}, success re-judged on {self.reeval} draws")
        return (f"{self.attack} ({self.norm}, ε={eps_text(self.eps, self.norm)}{steps}), gradients: {self.gradient}, "
                f"{judged}, n={self.n}, seed={self.seed}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- the stored dict's face -------------------------------------------------
    @classmethod
    def from_stored(cls, d: dict[str, Any]) -> "Row":
        """A row read back from the project. A partial one (an old or hand-made file) keeps NaN or
        empty placeholders for what it lacks, and its dict face lists only what it holds."""
        given = {k: v for k, v in d.items() if k in _FIELDS}
        row = cls(**{**_PLACEHOLDERS, **given})
        if isinstance(d.get("key"), str):
            row.__dict__["_stored_key"] = d["key"]
        if len(given) < len(_FIELDS):
            row.__dict__["_present"] = tuple(k for k in _FIELDS if k in given)
        return row

    def keys(self) -> list[str]:
        present = self.__dict__.get("_present")
        return [*present, "key"] if present is not None else [*_FIELDS, "key", "protocol"]

    def items(self) -> list[tuple[str, Any]]:
        return [(k, self[k]) for k in self.keys()]

    def values(self) -> list[Any]:
        return [self[k] for k in self.keys()]

    def __getitem__(self, k: str) -> Any:
        if k == "key":
            return self.key
        if k == "protocol":
            return self.protocol_line()
        if k in _FIELDS and k in self.keys():
            return getattr(self, k)
        raise KeyError(k)

    def get(self, k: str, default: Any = None) -> Any:
        try:
            return self[k]
        except KeyError:
            return default

    def __contains__(self, k: object) -> bool:
        return k in self.keys()


#: how a row's ``params["loss"]`` reads in its protocol line
LOSS_NAMES = {"ce": "cross-entropy", "cw": "C&W margin", "dlr": "DLR margin"}




_FIELDS = tuple(f.name for f in fields(Row))
#: what a partial stored row gets for the fields it lacks (never a number that looks measured)
_PLACEHOLDERS = {"attack": "", "norm": "Linf", "eps": float("nan"), "steps": None, "gradient": "", "eot_samples": 1,
                 "mc_samples": 1, "n": 0, "seed": 0, "reeval": 1, "clean_acc": float("nan"),
                 "robust_acc": float("nan"), "robust_acc_mean": float("nan"), "ci_low": float("nan"),
                 "ci_high": float("nan"), "time_s": 0.0}
