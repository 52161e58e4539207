"""The adaptive suite: the per-example worst case over the strongest attacks we have.

An example counts as robust only if it survives every member, each member's
success judged as every row is (MC prediction, ``reeval`` independent
re-predictions). Every member's own row is kept beside the suite's row, and the
suite stores, per example, which member broke it first.

Members on a stochastic model (S = the protocol's EOT samples):

====================  =====================================================
pgd10, pgd100         single-sample gradients: the paper's protocol (reference)
eot-apgd-ce           APGD-CE, head-only EOT-S gradients, restarts
eot-apgd-cw           APGD on the C&W margin, head-only EOT-S, restarts
autoattack-rand       official AutoAttack 'rand' (APGD-CE + APGD-DLR, EOT-S)
eot-square            Square, every query's loss averaged over S draws
transfer-sigma0       APGD-CE on the same network with its noise off
transfer-expectation  APGD-CE on the log MC-averaged softmax (S draws)
====================  =====================================================

On a deterministic model: pgd10, pgd100, APGD with CE and with the C&W
margin, AutoAttack 'standard' and Square. Models with noise in the trunk get
the same members with full-pass EOT (see :mod:`mfdv_engine.attacks.eot`).
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..attacks import AttackSpec, make_attack
from ..attacks.base import check_int, check_range
from ..errors import ConfigError
from .reuse import planned_row
from .rows import Gallery, Outcome, Progress, Protocol, Row, evaluate_examples, wilson_ci
from ..stochastic import is_stochastic, noise_off

SUITE = "adaptive"
STOCHASTIC_MEMBERS = ("pgd10", "pgd100", "eot-apgd-ce", "eot-apgd-cw", "autoattack-rand", "eot-square",
                      "transfer-sigma0", "transfer-expectation")
DETERMINISTIC_MEMBERS = ("pgd10", "pgd100", "eot-apgd-ce", "eot-apgd-cw", "autoattack", "square")
#: per-example codes of the suite's ``broken_by`` array besides a member's index
SURVIVED, CLEAN_WRONG = -1, -2


@dataclass(frozen=True)
class SuiteSpec:
    """The suite's knobs; ``members`` empty = every member for the model's kind."""

    eps: float = 8 / 255
    eot_samples: int = 20
    n_iter: int = 100
    restarts: int = 2
    square_queries: int = 5000
    members: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_range(SUITE, "eps", self.eps, 0.0, 1.0)
        check_int(SUITE, "eot_samples", self.eot_samples, 1)
        check_int(SUITE, "n_iter", self.n_iter, 1)
        check_int(SUITE, "restarts", self.restarts, 1)
        check_int(SUITE, "square_queries", self.square_queries, 1)
        known = set(STOCHASTIC_MEMBERS) | set(DETERMINISTIC_MEMBERS)
        for m in self.members:
            if m not in known:
                raise ConfigError(f"adaptive suite: unknown member {m!r}; choose from {', '.join(sorted(known))}")

    def member_specs(self, stochastic: bool) -> list[tuple[AttackSpec, int]]:
        """(attack, EOT samples of its gradients) for every member, in order."""
        names = STOCHASTIC_MEMBERS if stochastic else DETERMINISTIC_MEMBERS
        if self.members:
            wrong = [m for m in self.members if m not in names]
            if wrong:
                kind = "stochastic" if stochastic else "deterministic"
                raise ConfigError(f"adaptive suite: member {wrong[0]!r} does not apply to a {kind} model; "
                                  f"its members are {', '.join(names)}")
            names = tuple(m for m in names if m in self.members)
        s = self.eot_samples if stochastic else 1
        return [self._member(name, s) for name in names]

    def _member(self, name: str, s: int) -> tuple[AttackSpec, int]:
        eps, it = float(self.eps), self.n_iter
        build = {
            "pgd10": lambda: (make_attack("pgd10", eps=eps), 1),
            "pgd100": lambda: (make_attack("pgd100", eps=eps), 1),
            "eot-apgd-ce": lambda: (make_attack("eot-apgd-ce", eps=eps, n_iter=it, restarts=self.restarts, eot_samples=s), s),
            "eot-apgd-cw": lambda: (make_attack("eot-apgd-cw", eps=eps, n_iter=it, restarts=self.restarts, eot_samples=s), s),
            "autoattack-rand": lambda: (make_attack("autoattack-rand", eps=eps, n_iter=it, eot_iter=s), 1),
            "autoattack": lambda: (make_attack("autoattack", eps=eps, n_iter=it, n_queries=self.square_queries), 1),
            "eot-square": lambda: (make_attack("eot-square", eps=eps, n_queries=self.square_queries, eot_samples=s), s),
            "square": lambda: (make_attack("square", eps=eps, n_queries=self.square_queries), 1),
            "transfer-sigma0": lambda: (make_attack("transfer-sigma0", eps=eps, n_iter=it), 1),
            "transfer-expectation": lambda: (make_attack("transfer-expectation", eps=eps, n_iter=it, eot_samples=s), s),
        }
        return build[name]()

    def protocol(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class SuiteResult:
    members: list[Row]
    row: Row
    #: per example of the first n: index of the first member that broke it,
    #: SURVIVED (-1) or CLEAN_WRONG (-2)
    broken_by: np.ndarray


#: looks up a member's stored result: the planned row in, the stored Outcome (or None) out
Reuse = Callable[[Row], "Outcome | None"]


def run_suite(model: torch.nn.Module, split, suite: SuiteSpec, proto: Protocol, *, device: torch.device,
              on_row: Callable[[Row, Gallery | None], None] | None = None, on_progress: Progress | None = None,
              cancel: threading.Event | None = None, reuse: Reuse | None = None,
              on_outcome: Callable[[Outcome], None] | None = None) -> SuiteResult:
    """Every member on the first n examples (each row handed to ``on_row`` as it
    finishes, so an interrupted suite keeps them), then the suite's row. A member
    that ``reuse`` finds stored with this exact protocol is read back, not measured again."""
    proto.validate()
    stochastic = is_stochastic(model)
    members = suite.member_specs(stochastic)
    outs: list[Outcome] = []
    for i, (spec, eot) in enumerate(members):
        def progress(what: str, frac: float, i=i) -> None:
            if on_progress:
                on_progress(f"adaptive suite {i + 1}/{len(members)}: {what}", (i + frac) / len(members))

        if reuse is not None:
            planned = planned_row(stochastic, split, spec, proto, eot)
            planned.params["suite"] = SUITE
            old = reuse(planned)
            if old is not None:
                outs.append(old)
                progress(f"{spec.name} (stored)", 1.0)
                continue
        out = evaluate_examples(model, split, spec, proto, eot=eot, device=device, on_progress=progress, cancel=cancel,
                                keep_adv=on_outcome is not None)
        out.row.params["suite"] = SUITE  # its own key: a member never replaces a stand-alone row
        outs.append(out)
        if on_row:
            on_row(out.row, out.gallery)
    result = combine(outs, suite)
    if on_row:
        on_row(result.row, _suite_gallery(outs, result.broken_by))
    if on_outcome:
        for o in outs:
            on_outcome(o)
        on_outcome(worst_outcome(outs, result))
    return result


def worst_outcome(outs: list[Outcome], result: SuiteResult) -> Outcome:
    """The suite as one Outcome: robust where every member held, and per example the adversarial
    of the member that broke it first (the last member's where it held), when the members kept them."""
    adv = None
    if all(o.x_adv is not None for o in outs):
        pick = torch.from_numpy(result.broken_by).long()
        pick[pick < 0] = len(outs) - 1
        stack = torch.stack([o.x_adv for o in outs])
        adv = stack[pick, torch.arange(len(pick))]
    robust = torch.stack([o.robust for o in outs]).all(0)
    clean = torch.stack([o.clean_ok for o in outs]).all(0)
    frac = torch.stack([o.frac for o in outs]).amin(0)
    return Outcome(result.row, None, robust, clean, frac, adv)


def combine(outs: list[Outcome], suite: SuiteSpec) -> SuiteResult:
    """The suite's row from its members' per-example verdicts: robust = the
    intersection of their robust sets; robust_acc_mean = the mean over examples
    of the lowest fraction of surviving re-predictions across members."""
    first = outs[0].row
    n = first.n
    robust = torch.stack([o.robust for o in outs]).all(0)
    clean = torch.stack([o.clean_ok for o in outs]).all(0)  # the same seeded draws: equal unless the device is not deterministic
    broken = torch.full((n,), SURVIVED, dtype=torch.int16)
    for i in reversed(range(len(outs))):  # the lowest index that broke it wins
        broken[outs[i].clean_ok & ~outs[i].robust] = i
    broken[~clean] = CLEAN_WRONG
    k = int(robust.sum())
    lo, hi = wilson_ci(k, n)
    eot = max(o.row.eot_samples for o in outs)
    params = {**suite.protocol(), "eot_samples": eot, "batch_size": first.params.get("batch_size"), "members": [
        {"attack": o.row.attack, "gradient": o.row.gradient, "robust_acc": o.row.robust_acc,
         "broke_first": int((broken == i).sum()), "params": o.row.params} for i, o in enumerate(outs)]}
    row = Row(attack=SUITE, norm=first.norm, eps=first.eps, steps=None,
              gradient=f"worst case of {len(outs)}", eot_samples=eot,
              mc_samples=first.mc_samples, n=n, seed=first.seed, reeval=first.reeval, clean_acc=first.clean_acc,
              robust_acc=k / max(n, 1), robust_acc_mean=float(torch.stack([o.frac for o in outs]).amin(0).mean()),
              ci_low=lo, ci_high=hi, time_s=sum(o.row.time_s for o in outs), params=params,
              messages=list(dict.fromkeys(m for o in outs for m in o.row.messages)))
    return SuiteResult([o.row for o in outs], row, broken.numpy())


def _suite_gallery(outs: list[Outcome], broken_by: np.ndarray) -> Gallery | None:
    """The first examples, each with the adversarial of the member that broke it
    first (the last member's for survivors), and the whole ``broken_by`` array."""
    gals = [o.gallery for o in outs]
    if any(g is None for g in gals):
        return None
    m = len(gals[0].label)
    pick = [int(b) if b >= 0 else len(gals) - 1 for b in broken_by[:m]]
    take = lambda f: torch.stack([getattr(gals[j], f)[i] for i, j in enumerate(pick)])  # noqa: E731
    g = gals[0]
    return Gallery(g.clean, take("adv"), g.label, g.clean_pred, g.clean_conf, take("adv_pred"), take("adv_conf"),
                   per_example={"broken_by": torch.from_numpy(broken_by)})


# ------------------------------------------------------------ the CLI's spelling

def split_suite(text: str, params: list[str]) -> tuple[str, list[str], dict[str, Any] | None]:
    """Take ``adaptive`` out of an ``--attacks`` list and its ``adaptive.KEY=VALUE``
    params out of ``--param``: (other attacks, other params, suite overrides or None)."""
    from ..config import parse_value

    names = [t.strip() for t in text.split(",") if t.strip()]
    rest_params = [p for p in params if not p.startswith(SUITE + ".")]
    if SUITE not in names:
        return text, params, None
    over: dict[str, Any] = {}
    for item in params:
        if item.startswith(SUITE + "."):
            key, sep, raw = item[len(SUITE) + 1:].partition("=")
            if not sep or key not in {f.name for f in dataclasses.fields(SuiteSpec)}:
                raise ConfigError(f"--param {item!r}: the adaptive suite's parameters are "
                                  f"{', '.join(f.name for f in dataclasses.fields(SuiteSpec))}")
            over[key] = tuple(m.strip() for m in raw.split(",") if m.strip()) if key == "members" else parse_value(raw)
            if key == "members" and not over[key]:
                raise ConfigError(f"--param {item!r} names no member; leave it out to run every member")
    return ",".join(n for n in names if n != SUITE), rest_params, over


def parse_attacks(text: str, *, eps: float | None, params=(), eot: int | None = None
                  ) -> tuple[list[AttackSpec], dict[str, Any] | None]:
    """An attack request as the CLI and the studio spell it: (attacks, suite
    overrides or None when ``adaptive`` is not asked for); everything validated."""
    from .rows import parse_attack_list

    rest, rest_params, over = split_suite(text, list(params))
    if over is None:
        return parse_attack_list(text, eps=eps, params=list(params), eot=eot), None
    if not rest and rest_params:
        raise ConfigError(f"--param {rest_params[0]!r} names an attack that is not in --attacks")
    specs = parse_attack_list(rest, eps=eps, params=rest_params, eot=eot) if rest else []
    if eot is not None and over.get("eot_samples", eot) != eot:
        raise ConfigError("--eot and --param adaptive.eot_samples disagree; give one of them")
    SuiteSpec(**{"eps": 8 / 255 if eps is None else eps, **over})  # bad knobs fail here
    return specs, over


def evaluate_request(model: torch.nn.Module, split, specs: list[AttackSpec], suite_over: dict[str, Any] | None,
                     proto: Protocol, *, eps: float, device: torch.device, on_row=None, on_progress=None,
                     cancel=None, dist=None, reuse: Reuse | None = None, on_outcome=None) -> None:
    """The attacks' rows (single-sample and EOT where the model is stochastic), then
    the adaptive suite at ``eps`` with the protocol's EOT samples when asked for."""
    from .rows import evaluate

    suite = None
    if suite_over is not None:  # every suite error before the first row is written
        if dist is not None:
            raise ConfigError("the adaptive suite runs in one process (it intersects per-example verdicts); drop --nproc")
        suite = SuiteSpec(**{"eps": eps, "eot_samples": proto.eot_samples, **suite_over})
        if any(spec.name == "transfer-sigma0" for spec, _ in suite.member_specs(is_stochastic(model))):
            with noise_off(model):  # noise that cannot be switched off (an imported model's own) refuses now
                pass
    if specs:
        evaluate(model, split, specs, proto, device=device, on_row=on_row, on_progress=on_progress, cancel=cancel,
                 dist=dist, on_outcome=on_outcome)
    if suite is not None:
        run_suite(model, split, suite, proto, device=device, on_row=on_row, on_progress=on_progress, cancel=cancel,
                  reuse=reuse, on_outcome=on_outcome)
