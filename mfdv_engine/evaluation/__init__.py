"""Evaluation: robustness rows with their protocol and CI (:mod:`.rows`), the adaptive
suite (:mod:`.suite`), sweeps (:mod:`.sweeps`), the obfuscated-gradient checklist
(:mod:`.checklist`) and decision-boundary data (:mod:`.boundaries`). These are
pure computations on a model; storing them is :mod:`mfdv_engine.measure`'s job."""
from .rows import (ATTACK_STREAM, DETERMINISTIC, Gallery, Outcome, Protocol, Row, evaluate, evaluate_attack,
                   evaluate_examples, gallery_arrays, gradient_modes, parse_attack_list, row_gradient, rows_to_json,
                   wilson_ci)

__all__ = [
    "ATTACK_STREAM", "DETERMINISTIC", "Gallery", "Outcome", "Protocol", "Row", "evaluate", "evaluate_attack",
    "evaluate_examples", "gallery_arrays", "gradient_modes", "parse_attack_list", "row_gradient", "rows_to_json",
    "wilson_ci",
]
