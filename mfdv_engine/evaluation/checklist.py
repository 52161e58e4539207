"""Athalye, Carlini & Wagner (2018) obfuscated-gradient checklist, computed.

Each point is PASS or FLAG with the numbers behind it; a FLAG means "look
closer", not "broken". Plus one point for stochastic models: EOT gradients
must not beat single-sample gradients by more than the confidence interval.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from ..attacks import make_attack, rng_isolated
from .rows import Protocol, Row, evaluate_attack, to_float
from ..stochastic import is_stochastic, mc_predict
from ..validate import sub_seed


@dataclass
class ChecklistItem:
    title: str
    passed: bool
    evidence: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt(r: Row) -> str:
    return f"{r.attack} ε={r.eps:.4g} {r.gradient}: robust {r.robust_acc:.1%} [{r.ci_low:.1%}, {r.ci_high:.1%}]"


def _overlap_tol(a: Row, b: Row) -> float:
    """Half-width of the wider CI: differences below it are noise."""
    return max(a.ci_high - a.ci_low, b.ci_high - b.ci_low) / 2


#: the group a checklist's rows belong to (their key ends in ``|in=checklist``)
CHECKLIST = "checklist"
#: the attack rows a checklist measures (for its progress): fgsm, pgd10, square, unbounded, 3 ε, single-sample
CHECKLIST_ROWS = 8


def run_checklist(model: torch.nn.Module, split, proto: Protocol, *, device: torch.device, eps: float,
                  random_draws: int = 20, square_queries: int = 1000, on_row=None, on_progress=None,
                  cancel=None) -> list[ChecklistItem]:
    """The checklist's items; ``on_row(row, gallery)`` receives each attack row it measured,
    ``on_progress(what, fraction)`` the progress; ``cancel`` (an Event) stops it (Cancelled)."""
    proto.validate()
    stochastic = is_stochastic(model)
    eot = proto.eot_samples if stochastic else 1
    done = [0]

    def measured(spec, e: int) -> Row:
        def progress(what: str, frac: float) -> None:
            if on_progress is not None:
                on_progress(f"checklist: {what}", min(1.0, (done[0] + frac) / CHECKLIST_ROWS))

        r, gallery = evaluate_attack(model, split, spec, proto, eot=e, device=device, on_progress=progress,
                                     cancel=cancel)
        # its own key ("|in=checklist"): a checklist's EOT-10, n=200 row never replaces the user's own
        # row of that attack, nor becomes a cell of the comparison matrix
        r.params["suite"] = CHECKLIST
        done[0] += 1
        if on_row is not None:
            on_row(r, gallery)
        return r

    def row(name: str, **kw) -> Row:
        """The adaptive (EOT) version wherever the attack supports it."""
        spec = make_attack(name, **kw)
        return measured(spec, eot if spec.supports_eot else 1)

    fgsm = row("fgsm", eps=eps)
    pgd = row("pgd10", eps=eps)
    items = []
    # (1) one-step should not beat iterative
    ok = fgsm.robust_acc + _overlap_tol(fgsm, pgd) >= pgd.robust_acc
    items.append(ChecklistItem("1. iterative attacks beat one-step attacks", ok,
                               f"{_fmt(pgd)} vs {_fmt(fgsm)}", {"pgd10": pgd.robust_acc, "fgsm": fgsm.robust_acc}))
    # (2) white-box should beat black-box
    square = row("square", eps=eps, n_queries=square_queries)
    ok = pgd.robust_acc <= square.robust_acc + _overlap_tol(pgd, square)
    items.append(ChecklistItem("2. white-box attacks beat black-box attacks", ok,
                               f"{_fmt(pgd)} vs {_fmt(square)} ({square_queries} queries)",
                               {"pgd10": pgd.robust_acc, "square": square.robust_acc}))
    # (3) unbounded attacks reach 100% success
    unb = row("pgd", eps=1.0, steps=100, alpha=0.05)
    ok = unb.robust_acc <= 0.01
    items.append(ChecklistItem("3. an unbounded attack (ε = 1) reaches ~100% success", ok, _fmt(unb),
                               {"robust_unbounded": unb.robust_acc}))
    # (4) random sampling does not find what gradients missed
    found, missed_by_grad, attacked = _random_vs_gradient(model, split, proto, device, eps, random_draws, eot)
    ok = missed_by_grad == 0
    items.append(ChecklistItem(
        "4. random sampling finds no adversarial example that PGD missed", ok,
        f"{random_draws} random corners of the ε-ball per example: adversarial for {found}/{attacked} examples, "
        f"of which PGD-10 ({'EOT-%d' % eot if eot > 1 else 'single-sample'}) missed {missed_by_grad}",
        {"random_found": found, "missed_by_gradient": missed_by_grad, "attacked": attacked}))
    # (5) larger ε never lowers success
    sweep = [row("pgd10", eps=e) for e in (eps / 2, eps, min(1.0, 2 * eps))]
    mono = all(b.robust_acc <= a.robust_acc + _overlap_tol(a, b) for a, b in zip(sweep, sweep[1:]))
    items.append(ChecklistItem("5. increasing ε does not lower attack success", mono,
                               "; ".join(_fmt(r) for r in sweep), {f"eps={r.eps:.4g}": r.robust_acc for r in sweep}))
    # (6) EOT vs single-sample
    if stochastic:
        single = measured(make_attack("pgd10", eps=eps), 1)
        gap = single.robust_acc - pgd.robust_acc
        ok = gap <= _overlap_tol(single, pgd)
        items.append(ChecklistItem(
            "6. EOT gradients do not beat single-sample gradients by more than the CI", ok,
            f"{_fmt(pgd)} vs {_fmt(single)}: gap {gap:+.1%}" + ("" if ok else " — the single-sample number overstates robustness"),
            {"eot": pgd.robust_acc, "single": single.robust_acc, "gap": gap}))
    return items


@torch.no_grad()
def _correct(model, x, y, proto: Protocol, seed: int) -> torch.Tensor:
    with rng_isolated(x.device, seed):
        return mc_predict(model, x, proto.mc_samples).argmax(1) == y


def _random_vs_gradient(model, split, proto: Protocol, device, eps: float, draws: int, eot: int):
    n = min(proto.n, len(split))
    x = to_float(split.x[:n]).to(device)
    y = split.y[:n].to(device)
    ok = _correct(model, x, y, proto, proto.seed)
    x, y = x[ok], y[ok]
    gen = torch.Generator(device="cpu").manual_seed(proto.seed)
    rand_adv = torch.zeros(len(y), dtype=torch.bool, device=device)
    for d in range(draws):
        sign = torch.randint(0, 2, x.shape, generator=gen).to(device).float() * 2 - 1
        xr = (x + eps * sign).clamp(0, 1)
        rand_adv |= ~_correct(model, xr, y, proto, sub_seed(proto.seed, 100, d))
    spec = make_attack("pgd10", eps=eps)
    grad_adv = torch.zeros_like(rand_adv)
    for s in range(0, len(y), proto.batch_size):
        xa = spec.run(model, x[s:s + proto.batch_size], y[s:s + proto.batch_size], eot_samples=eot)
        grad_adv[s:s + proto.batch_size] = ~_correct(model, xa, y[s:s + proto.batch_size], proto, sub_seed(proto.seed, 1))
    return int(rand_adv.sum()), int((rand_adv & ~grad_adv).sum()), int(len(y))
