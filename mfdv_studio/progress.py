"""One bar over a whole job: the fraction a job reports, evaluation and every phase included.

The engine reports each phase 0 → 1 on its own (an attack's rows, then the adaptive suite's members)
and training per step, with the epoch-end evaluation in none of them; left alone, the bar restarted
for each phase and sat at 100 % through a long evaluation. These helpers (plain Python, no Qt,
testable with a fake clock) turn what the job hears into one fraction of the whole job that only
grows, so the status bar's ETA covers the whole job.
"""
from __future__ import annotations

import time
from typing import Any, Callable

#: an epoch's evaluation in step-equivalents per test example per batch slot, before one was measured:
#: eval ≈ 0.2 · n_test / batch_size steps (measured: LeNet on the demo set, MC-15, 850 images ≈ 5 steps)
EVAL_PRIOR = 0.2


class TrainProgress:
    """Training's fraction of the job: each epoch is its steps plus its test-set evaluation, weighed in
    steps — the previous evaluation's measured seconds over the measured seconds per step (a prior from
    the test set's size before one was measured). The bar never stands at 100 % while work remains."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.epochs, self.spe, self.batch = 1, 0, 1
        self.eval_w: float | None = None          # measured evaluation, in steps
        self.prior_n: float = 0.0                 # test examples, for the prior
        self._timed = [0.0, 0.0]                  # training seconds and steps measured
        self._last: tuple[float, float] | None = None   # (time, global step) of the last step heard
        self._eval_t0: float | None = None
        self.last = 0.0

    def on_run(self, data: dict[str, Any]) -> None:
        cfg = data.get("config") or {}
        self.epochs = max(1, int(data.get("epochs", 1)))
        self.batch = max(1, int((cfg.get("train") or {}).get("batch_size") or 1))
        limit = (cfg.get("data") or {}).get("limit_test")
        self.prior_n = float(limit) if isinstance(limit, (int, float)) and limit > 0 else 10_000.0

    def on_start(self, data: dict[str, Any]) -> None:
        self.spe = int(data.get("steps_per_epoch") or 0)

    def _eval_steps(self) -> float:
        return self.eval_w if self.eval_w is not None else EVAL_PRIOR * self.prior_n / self.batch

    def _fraction(self, epoch: int, steps_in: float, evaluated: bool) -> float | None:
        if not self.spe:
            return None
        w = self._eval_steps()
        done = (epoch - 1) * (self.spe + w) + min(steps_in, self.spe) + (w if evaluated else 0.0)
        self.last = max(self.last, min(1.0, done / (self.epochs * (self.spe + w))))
        return self.last

    def on_step(self, data: dict[str, Any]) -> float | None:
        now, step = self.clock(), float(data["step"])
        if self._last is not None and step > self._last[1]:
            self._timed[0] += now - self._last[0]
            self._timed[1] += step - self._last[1]
        self._last = (now, step)
        epoch = int(data.get("epoch") or 1)
        return self._fraction(epoch, step - (epoch - 1) * self.spe, False)

    def on_evaluating(self, data: dict[str, Any]) -> float | None:
        """The evaluation starts: the bar stands where training ended, its share still ahead."""
        self._eval_t0, self._last = self.clock(), None
        if self.eval_w is None and data.get("n"):
            self.prior_n = float(data["n"])
        return self._fraction(int(data.get("epoch") or 1), self.spe, False)

    def on_epoch(self, data: dict[str, Any]) -> float | None:
        """The epoch ended: its evaluation's time becomes the weight of the ones to come."""
        seconds, steps = self._timed
        if self._eval_t0 is not None and steps > 0 and seconds > 0:
            self.eval_w = (self.clock() - self._eval_t0) / (seconds / steps)
        self._eval_t0, self._last = None, None
        return self._fraction(int(data.get("epoch") or 1), self.spe, True)


class Stages:
    """One fraction over phases the engine reports one after another, each from 0 to 1: ``stages`` are
    (phase prefix, weight) in order. A phase before the first stage (decoding the data) is of unknown
    length (None); one that names no stage keeps the fraction reached."""

    def __init__(self, stages: list[tuple[str, float]]) -> None:
        self.stages = [(p, max(float(w), 1e-9)) for p, w in stages]
        self.total = sum(w for _, w in self.stages) or 1.0
        self.last: float | None = None

    def __call__(self, phase: str, fraction: float | None) -> float | None:
        i = next((k for k, (prefix, _) in enumerate(self.stages) if phase.startswith(prefix)), None)
        if i is None or fraction is None:
            return self.last
        before = sum(w for _, w in self.stages[:i])
        f = (before + max(0.0, min(1.0, fraction)) * self.stages[i][1]) / self.total
        self.last = f if self.last is None else max(self.last, f)
        return self.last


def _iterations(spec: Any) -> float:
    """Gradient steps of an attack (queries count a third: forward passes only)."""
    for name, scale in (("steps", 1.0), ("n_iter", 1.0), ("n_queries", 1 / 3)):
        v = getattr(spec, name, None)
        if isinstance(v, (int, float)) and v > 0:
            return float(v) * scale
    return 1.0


def attack_stages(specs: list, suite_over: dict | None, eps: float, eot: int, stochastic: bool) -> list[tuple[str, float]]:
    """The stages of an attack job: the attacks' rows ("attack k of n: …"), then the adaptive suite
    ("adaptive suite i/n: …"), each weighed by its gradient steps × noise draws per gradient."""
    from mfdv_engine.errors import MfdvError
    from mfdv_engine.evaluation.rows import modes_for
    from mfdv_engine.evaluation.suite import SuiteSpec

    def cost(spec, s: int) -> float:
        return max(1, spec.gradient_samples(s)) * _iterations(spec)

    out = []
    if specs:
        out.append(("attack ", sum(cost(s, m) for s in specs for m in modes_for(s, stochastic, eot))))
    if suite_over is not None:
        try:
            members = SuiteSpec(**{"eps": eps, "eot_samples": eot, **suite_over}).member_specs(stochastic)
            out.append(("adaptive suite ", sum(cost(s, m) for s, m in members)))
        except (MfdvError, TypeError):   # (the job itself says what is wrong)
            out.append(("adaptive suite ", sum(w for _, w in out) or 1.0))
    return out


def likely_stochastic(config: dict) -> bool:
    """Whether a run's model draws noise, from its config: a plain or adversarially trained network with
    no stochastic layer does not; every other defense (and an imported model, unknown) is taken to."""
    from mfdv_engine.defenses import get_defense

    name = (config.get("defense") or {}).get("name")
    if name not in ("none", "pgd-at"):
        return True
    try:
        return get_defense(name).normalise_placement((config.get("model") or {}).get("stochastic", "none")) != "none"
    except Exception:  # noqa: BLE001 (a stranger's config: only the bar's weights depend on it)
        return True
