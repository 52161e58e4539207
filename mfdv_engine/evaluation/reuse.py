"""Reuse of stored rows: what a row would be before it is measured, and a stored row
with its per-example verdicts read back, so an interrupted suite or study resumes
where it stopped instead of measuring finished members again."""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable

import numpy as np
import torch

from ..attacks import AttackSpec
from ..data import Split
from .rows import Gallery, Outcome, Protocol, Row, make_row, resolved_spec, row_gradient

#: what a stored row must say besides its key and params to stand for a planned one
PROTOCOL_FIELDS = ("n", "seed", "mc_samples", "reeval", "eot_samples")


def planned_row(stochastic: bool, split: Split, spec: AttackSpec, proto: Protocol, eot: int) -> Row:
    """The row :func:`evaluate_examples` would store, with its key, protocol and params but
    no results: what a stored row must equal to be reused instead of measured again."""
    mc, reeval, eot = (proto.mc_samples, proto.reeval, eot) if stochastic else (1, 1, 1)
    spec = resolved_spec(spec, proto, split)
    judging = (spec.gradient_samples(eot) if stochastic else 1, mc, reeval)
    return make_row(spec, proto, row_gradient(spec, eot, stochastic), eot, judging, (0.0, 0.0, 0.0),
                     min(proto.n, len(split)), [], None)


def stored_outcome(row: dict[str, Any], arrays: dict[str, "np.ndarray"]) -> Outcome | None:
    """A stored row and its gallery arrays as an :class:`Outcome` (per-example verdicts
    included), or None when they lack the verdicts (rows stored before they were kept)."""
    n = int(row.get("n", -1))
    if "robust" not in arrays or "frac" not in arrays or len(arrays["robust"]) != n or len(arrays["frac"]) != n:
        return None
    verdict = torch.from_numpy(np.asarray(arrays["robust"], dtype=np.int8))
    fields = {f.name for f in dataclasses.fields(Row)}
    stored = Row(**{k: v for k, v in row.items() if k in fields})
    g = Gallery(torch.from_numpy(arrays["clean"]).float() / 255, torch.from_numpy(arrays["adv"]).float(),
                *(torch.from_numpy(arrays[k]) for k in ("label", "clean_pred", "clean_conf", "adv_pred", "adv_conf")),
                per_example={k: torch.from_numpy(np.asarray(arrays[k])) for k in ("robust", "frac")})
    return Outcome(stored, g, verdict == 1, verdict != -1, torch.from_numpy(np.asarray(arrays["frac"], np.float32)))


def same_row(stored: dict[str, Any], planned: Row) -> bool:
    """A stored row (a dict from the project) measured exactly as ``planned`` would be:
    same key, protocol and attack parameters (compared as the JSON they are stored as)."""
    return (stored.get("key") == planned.key
            and all(stored.get(k) == getattr(planned, k) for k in PROTOCOL_FIELDS)
            and stored.get("params") == json.loads(json.dumps(planned.params)))


def find_stored(rows: Iterable[dict[str, Any]], planned: Row) -> dict[str, Any] | None:
    return next((d for d in rows if same_row(d, planned)), None)
