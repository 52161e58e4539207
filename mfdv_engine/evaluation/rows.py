"""Robustness evaluation with its protocol attached to every number.

Protocol (what each row records): the first ``n`` test examples; clean
prediction = Monte-Carlo average of ``mc_samples`` noise draws; only
clean-correct examples are attacked (the others count as not robust); an
adversarial example is re-predicted ``reeval`` times with independent MC
draws and counts as robust only if *every* re-prediction is correct (the
attacker is credited with any success; ``robust_acc_mean`` is the average
over the draws). Stochastic models are attacked twice per attack that
supports it: with single-sample gradients and with EOT gradients averaged
over ``eot_samples`` head draws, and both rows are kept.
"""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np
import torch

from ..attacks import AttackSpec, make_attack, rng_isolated
from ..data import Split
from ..errors import Cancelled, ConfigError
from ..stochastic import is_stochastic, mc_predict
from ..validate import sub_seed
from .row import DETERMINISTIC, Protocol, Row, clamp_message, wilson_ci  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from ..training.distributed import DistContext

Progress = Callable[[str, float], None]

GALLERY_SIZE = 16
#: offset of the attack's seed from the protocol seed + the batch's first index
ATTACK_STREAM = 104729
@dataclass
class Gallery:
    """Clean / adversarial pairs for the GUI (perturbation = adv − clean)."""

    clean: torch.Tensor
    adv: torch.Tensor
    label: torch.Tensor
    clean_pred: torch.Tensor
    clean_conf: torch.Tensor
    adv_pred: torch.Tensor
    adv_conf: torch.Tensor
    #: per-example arrays over all n examples (``robust``: 1 robust, 0 broken,
    #: -1 clean prediction wrong; the suite adds ``broken_by``)
    per_example: dict[str, torch.Tensor] = field(default_factory=dict)


def row_gradient(spec: AttackSpec, eot: int, stochastic: bool) -> str:
    """The gradient label of ``spec``'s row at ``eot`` draws: the attack's own words
    (transfer, AutoAttack rand) or the generic one; reproduce finds stored rows by it."""
    if not stochastic:
        return DETERMINISTIC
    return spec.gradient_text(eot) or (f"EOT-{eot}" if eot > 1 else "single-sample")


def gradient_modes(spec: AttackSpec, model: torch.nn.Module, eot_samples: int) -> list[int]:
    """The one rule for which rows an attack gives: single-sample always; EOT too
    where the model is stochastic and the attack can use it; an explicitly EOT
    attack (eot-pgd) keeps its own S only; a deterministic model one single pass."""
    return modes_for(spec, is_stochastic(model), eot_samples)


def modes_for(spec: AttackSpec, stochastic: bool, eot_samples: int) -> list[int]:
    """:func:`gradient_modes` for a model known (or declared) stochastic or not."""
    if not stochastic:
        return [1]
    if spec.eot_samples > 1:
        return [spec.eot_samples]
    return [1, eot_samples] if spec.supports_eot and eot_samples > 1 else [1]


@dataclass
class Outcome:
    """One attack's result on the first n examples: the row, its gallery and the
    per-example verdicts (a suite intersects ``robust`` across its members)."""

    row: Row
    gallery: Gallery | None
    robust: torch.Tensor  # (n,) bool: survived every re-judging draw
    clean_ok: torch.Tensor  # (n,) bool: clean MC prediction correct
    frac: torch.Tensor  # (n,) fraction of re-judging draws that were right
    #: (n, ...) every example's adversarial (the clean input where it was not attacked), when kept
    x_adv: torch.Tensor | None = None


def evaluate_attack(model: torch.nn.Module, split: Split, spec: AttackSpec, proto: Protocol, *,
                    eot: int, device: torch.device, on_progress: Progress | None = None,
                    cancel: threading.Event | None = None, dist: "DistContext | None" = None) -> tuple[Row, Gallery | None]:
    """One table row: ``spec`` with gradients averaged over ``eot`` draws (1 = single sample).

    With ``dist`` (a ``torchrun`` job) the batches of ``proto.batch_size``
    examples are dealt out to the ranks in turn and the counts summed; every
    batch keeps its examples and its seeds, so the row is exactly the
    single-process one, and every rank returns it (the gallery holds this
    rank's examples, None for a rank that got no batch)."""
    out = evaluate_examples(model, split, spec, proto, eot=eot, device=device, on_progress=on_progress,
                            cancel=cancel, dist=dist)
    return out.row, out.gallery


def evaluate_examples(model: torch.nn.Module, split: Split, spec: AttackSpec, proto: Protocol, *,
                      eot: int, device: torch.device, on_progress: Progress | None = None,
                      cancel: threading.Event | None = None, dist: "DistContext | None" = None,
                      keep_adv: bool = False) -> Outcome:
    """:func:`evaluate_attack` with the per-example verdicts (of this rank's examples under ``dist``).

    The protocol's seed seeds the attack; data-set dependent defaults (C&W's
    learning rate) are resolved first, so the row records what actually ran.
    A deterministic model is judged by one pass: MC-1, one re-judging, no EOT."""
    model.eval()
    stochastic = is_stochastic(model)
    mc, reeval, eot = (proto.mc_samples, proto.reeval, eot) if stochastic else (1, 1, 1)
    n = min(proto.n, len(split))
    spec = resolved_spec(spec, proto, split)
    rank, world = (dist.rank, dist.world_size) if dist is not None else (0, 1)
    bs = proto.batch_size
    starts = list(range(rank * bs, n, world * bs))  # this process's batches
    m = sum(min(bs, n - s) for s in starts)
    t0 = time.perf_counter()
    robust_all, robust_cnt, clean_ok = torch.zeros(m, dtype=torch.bool), torch.zeros(m), torch.zeros(m, dtype=torch.bool)
    g_parts: list[tuple] = []
    adv_parts: list[torch.Tensor] = []  # every batch's adversarials, when the caller keeps them
    messages: list[str] = [m for m in [clamp_message(proto.n, len(split))] if m]  # never silently fewer
    label = row_gradient(spec, eot, stochastic)
    done = 0
    for first in starts:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        k = min(bs, n - first)
        x = to_float(split.x[first:first + k]).to(device)
        y = split.y[first:first + k].to(device)
        part = _attack_batch(model, spec, x, y, eot, mc, reeval, proto.seed, first, messages)
        robust_all[done:done + k], robust_cnt[done:done + k], clean_ok[done:done + k] = part[0], part[1], part[2]
        done += k
        if keep_adv:
            adv_parts.append(part[3][1])
        if sum(len(p[0]) for p in g_parts) < GALLERY_SIZE:
            g_parts.append(part[3])
        if on_progress:
            on_progress(f"{spec.name} ({label})", done / m)
    counts = (float(robust_all.sum()), float(clean_ok.sum()), float(robust_cnt.sum()))
    judging = (spec.gradient_samples(eot) if stochastic else 1, mc, reeval)  # draws per gradient, MC, re-judgings
    row = make_row(spec, proto, label, eot, judging, counts, n, messages, dist)
    row.time_s = time.perf_counter() - t0
    gallery = _gallery(g_parts) if g_parts else None  # None: a rank with no examples (n < processes)
    if gallery is not None and dist is None:
        gallery.per_example["robust"] = robust_all.to(torch.int8) - (~clean_ok).to(torch.int8)
        gallery.per_example["frac"] = robust_cnt.to(torch.float32)  # with "robust": the Outcome, stored (suite reuse)
    return Outcome(row, gallery, robust_all, clean_ok, robust_cnt, torch.cat(adv_parts) if adv_parts else None)


def resolved_spec(spec: AttackSpec, proto: Protocol, split: Split) -> AttackSpec:
    """``spec`` as it runs: seeded by the protocol, data-set dependent defaults filled in."""
    return dataclasses.replace(spec, seed=proto.seed).for_inputs(split.x[:1].shape)


def make_row(spec: AttackSpec, proto: Protocol, label: str, eot: int, judging: tuple[int, int, int],
              counts: tuple[float, float, float], n: int, messages: list[str], dist) -> Row:
    """The row from (robust, clean-correct, re-prediction) counts, summed over the ranks of ``dist``."""
    sums = torch.tensor(counts, dtype=torch.float64)
    if dist is not None:
        sums = dist.all_reduce_sum(sums.to(dist.device)).cpu()
        messages = list(dict.fromkeys(msg for part in dist.all_gather_object(messages) for msg in part))
    k, n_clean, cnt_sum = int(round(float(sums[0]))), float(sums[1]), float(sums[2])
    lo, hi = wilson_ci(k, n)
    params = spec.protocol()
    return Row(
        attack=spec.name, norm=spec.norm, eps=float(spec.eps), steps=params.get("steps"), gradient=label,
        eot_samples=judging[0], mc_samples=judging[1], n=n, seed=proto.seed, reeval=judging[2],
        clean_acc=n_clean / max(n, 1), robust_acc=k / max(n, 1), robust_acc_mean=cnt_sum / max(n, 1),
        ci_low=lo, ci_high=hi, time_s=0.0,
        params={**params, "eot_samples": eot, "batch_size": proto.batch_size}, messages=messages,
    )


def _attack_batch(model, spec: AttackSpec, x, y, eot: int, mc: int, reeval: int, seed: int, first: int,
                  messages: list[str]):
    """(robust, robust fraction over draws, clean correct, gallery part) of one batch.
    Every draw is seeded from the protocol seed and the batch's first index: the
    clean prediction, the attack (offset by ATTACK_STREAM) and each re-judging."""
    device = x.device
    with rng_isolated(device, sub_seed(seed, first)):  # fixed noise draws, caller's RNG untouched (CPU and CUDA)
        p_clean = mc_predict(model, x, mc)
    ok = p_clean.argmax(1) == y
    idx = ok.nonzero().flatten()
    robust = torch.zeros(len(y), dtype=torch.bool)
    frac = torch.zeros(len(y))
    p_adv_first = p_clean.clone()
    x_adv_full = x.clone()
    if idx.numel():
        # each batch its own attack stream, apart from the clean and re-judging draws' streams
        x_adv = dataclasses.replace(spec, seed=sub_seed(seed, first, ATTACK_STREAM)).run(model, x[idx], y[idx], eot_samples=eot)
        messages.extend(msg for msg in spec.last_messages if msg not in messages)
        x_adv_full[idx] = x_adv
        hits = torch.ones(idx.numel(), dtype=torch.bool, device=device)
        cnt = torch.zeros(idx.numel(), device=device)
        for r in range(reeval):
            with rng_isolated(device, sub_seed(seed, 7919 * (r + 1), first)):
                p = mc_predict(model, x_adv, mc)
            right = p.argmax(1) == y[idx]
            hits &= right
            cnt += right.float()
            if r == 0:
                p_adv_first[idx] = p
        robust[idx.cpu()] = hits.cpu()
        frac[idx.cpu()] = cnt.cpu() / reeval
    return robust, frac, ok.cpu(), (x.cpu(), x_adv_full.cpu(), y.cpu(), p_clean.cpu(), p_adv_first.cpu())



def _gallery(parts: list[tuple]) -> Gallery:
    x, xa, y, pc, pa = (torch.cat([p[i] for p in parts])[:GALLERY_SIZE] for i in range(5))
    cc, cp = pc.max(1)
    ac, ap = pa.max(1)
    return Gallery(x, xa, y, cp, cc, ap, ac)


def gallery_arrays(g: Gallery) -> dict[str, "np.ndarray"]:
    """Compact arrays for the project file: images as uint8, adversarials as float16."""
    return {
        "clean": (g.clean.clamp(0, 1) * 255).round().to(torch.uint8).numpy(),
        "adv": g.adv.to(torch.float16).numpy(),
        "label": g.label.numpy(),
        "clean_pred": g.clean_pred.numpy(), "clean_conf": g.clean_conf.float().numpy(),
        "adv_pred": g.adv_pred.numpy(), "adv_conf": g.adv_conf.float().numpy(),
        **{k: v.numpy() for k, v in g.per_example.items()},
    }


def to_float(x: torch.Tensor) -> torch.Tensor:
    """Images as the attacks take them: float in [0, 1] (uint8 divided by 255)."""
    return x.float().div(255) if x.dtype == torch.uint8 else x.float()


def evaluate(model: torch.nn.Module, split: Split, attacks: Iterable[AttackSpec], proto: Protocol, *,
             device: torch.device, on_row: Callable[[Row, Gallery], None] | None = None,
             on_progress: Progress | None = None, cancel: threading.Event | None = None,
             dist: "DistContext | None" = None, on_outcome: Callable[[Outcome], None] | None = None) -> list[Row]:
    """Every attack, single-sample and (for stochastic models) EOT; rows in order.
    ``dist``: shard the examples over the ranks of a ``torchrun`` job (see :func:`evaluate_attack`).
    ``on_outcome`` receives each row's per-example verdicts with every adversarial kept."""
    proto.validate()
    attacks = list(attacks)
    asked = {spec.name for spec in attacks}
    stochastic = is_stochastic(model)
    units = [(spec, eot) for spec in _with_adaptive_counterparts(attacks, asked, stochastic)
             for eot in gradient_modes(spec, model, proto.eot_samples)]
    rows = []
    for k, (spec, eot) in enumerate(units):
        out = evaluate_examples(model, split, spec, proto, eot=eot, device=device, cancel=cancel, dist=dist,
                                on_progress=_unit_progress(on_progress, units, k), keep_adv=on_outcome is not None)
        rows.append(out.row)
        if on_row:
            on_row(out.row, out.gallery)
        if on_outcome:
            on_outcome(out)
    return rows


def _unit_progress(on_progress: Progress | None, units: list[tuple[AttackSpec, int]], k: int) -> Progress | None:
    """Progress of attack ``k`` as a fraction of the whole job, named "attack k+1 of n": each attack
    weighed by its noise draws per gradient (an EOT-10 row costs about ten single-sample ones)."""
    if on_progress is None:
        return None
    w = [max(1, spec.gradient_samples(eot)) for spec, eot in units]
    before, total = sum(w[:k]), sum(w)

    def progress(what: str, frac: float) -> None:
        on_progress(f"attack {k + 1} of {len(units)}: {what}", (before + frac * w[k]) / total)
    return progress


def _with_adaptive_counterparts(attacks: list[AttackSpec], asked: set[str], stochastic: bool):
    """Each attack, followed on a stochastic model by its adaptive counterpart
    (AutoAttack → AutoAttack 'rand') when the attack cannot use EOT itself and
    the counterpart was not asked for: no row of a stochastic model goes without
    an adaptive one."""
    for spec in attacks:
        yield spec
        extra = spec.adaptive_counterpart() if stochastic and not spec.supports_eot else None
        if extra is not None and extra.name not in asked:
            yield extra


def parse_attack_list(text: str, *, eps: float | None, params: list[str] = (), eot: int | None = None) -> list[AttackSpec]:
    """``fgsm,pgd10,cw`` plus ``cw.kappa=1``-style overrides; ``eps`` applies to every
    ε-bounded attack (not to n-pixel attacks, whose budget is a pixel count);
    ``eot`` (the protocol's EOT samples, when the user gave them) governs every
    explicitly-EOT attack (eot-pgd) unless its own ``eot_samples`` says the same.
    ``adaptive`` names the adaptive suite (see :mod:`mfdv_engine.evaluation.suite`), which
    :func:`split_suite` takes out before this is called."""
    from ..config import parse_value

    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--attacks needs at least one attack name")
    over: dict[str, dict[str, Any]] = {n: {} for n in names}
    for item in params:
        key, sep, raw = item.partition("=")
        name, dot, field_ = key.partition(".")
        if not sep or not dot:
            raise ConfigError(f"--param expects ATTACK.KEY=VALUE, e.g. cw.kappa=1; got {item!r}")
        if name not in over:
            raise ConfigError(f"--param {item!r} names attack {name!r}, which is not in --attacks")
        if field_ == "seed":
            raise ConfigError(f"--param {item!r}: the protocol's --seed seeds every attack; use --seed instead")
        over[name][field_] = parse_value(raw)
    specs = []
    for name in names:
        kw = dict(over[name])
        if eps is not None and not name.startswith("pixel") and name != "cw":
            kw.setdefault("eps", eps)
        specs.append(_with_eot(make_attack(name, **kw), kw, eot))
    return specs


def _with_eot(spec: AttackSpec, kw: dict[str, Any], eot: int | None) -> AttackSpec:
    """``spec`` with the protocol's EOT samples where it takes them itself: an
    explicitly-EOT attack's ``eot_samples``, AutoAttack rand's ``eot_iter``."""
    field_ = "eot_samples" if spec.eot_samples > 1 else "eot_iter" if getattr(spec, "version", "") == "rand" else None
    if eot is None or field_ is None:
        return spec
    if field_ in kw and kw[field_] != eot:
        raise ConfigError(f"--eot {eot} and --param {spec.name}.{field_}={kw[field_]} disagree; give one of them")
    return dataclasses.replace(spec, **{field_: eot})


def rows_to_json(rows: list[Row]) -> str:
    return json.dumps([r.to_dict() for r in rows], sort_keys=True)
