"""Benchmark: the adaptive suite's cost, as ratios measured in one run.

Prints one JSON object:

* ``suite_over_pgd100``: time of every suite member's attack ÷ single-sample
  PGD-100 on the same examples (ResNet-20 MFDV, EOT-20, the suite's defaults
  except ``BENCH_SQUARE`` queries);
* ``aa_rand_head_only_over_full``: AutoAttack ``rand`` (APGD-CE + APGD-DLR,
  EOT-20) with the head-only EOT gradient ÷ the same with 20 whole-model
  passes per step (goal ≤ 0.15), ``BENCH_AA_ITER`` iterations each.

Labels are the model's own MC prediction, so every example is attacked (a
fresh network is right on ~10 % of real labels). Times are medians of
``BENCH_REPEATS`` interleaved repeats; the GPU runs with ``BENCH_CUDA=1``.
"""
from __future__ import annotations

import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mfdv_engine.attacks import make_attack  # noqa: E402
from mfdv_engine.models import create_model  # noqa: E402
from mfdv_engine.stochastic import mc_predict  # noqa: E402
from mfdv_engine.evaluation.suite import SuiteSpec  # noqa: E402
from mfdv_engine.devices import describe_device  # noqa: E402


def _timer(device: torch.device):
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timed(f) -> float:
        sync()
        t = time.perf_counter()
        f()
        sync()
        return time.perf_counter() - t

    return timed


def main() -> None:
    batch = int(os.environ.get("BENCH_BATCH", "32"))
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    aa_iter = int(os.environ.get("BENCH_AA_ITER", "10"))
    queries = int(os.environ.get("BENCH_SQUARE", "1000"))
    device = torch.device("cuda" if torch.cuda.is_available() and os.environ.get("BENCH_CUDA") else "cpu")
    torch.manual_seed(0)
    model = create_model("resnet20", 10, 3, stochastic="linear1").to(device).eval()
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = mc_predict(model, x, 20).argmax(1)
    timed = _timer(device)
    suite = SuiteSpec(eps=8 / 255, eot_samples=20, square_queries=queries)
    members = suite.member_specs(stochastic=True)
    pgd100 = make_attack("pgd100", eps=8 / 255)
    aa = {h: make_attack("autoattack-rand", eps=8 / 255, n_iter=aa_iter, eot_iter=20, head_only=h) for h in (True, False)}
    times: dict[str, list[float]] = {"pgd100": [], "suite": [], "aa_head_only": [], "aa_full": []}
    per_member: dict[str, list[float]] = {s.name: [] for s, _ in members}
    pgd100.run(model, x[:4], y[:4])  # warm-up
    for _ in range(repeats):  # interleaved
        times["pgd100"].append(timed(lambda: pgd100.run(model, x, y)))
        total = 0.0
        for spec, eot in members:
            t = timed(lambda: spec.run(model, x, y, eot_samples=eot))
            per_member[spec.name].append(t)
            total += t
        times["suite"].append(total)
        times["aa_head_only"].append(timed(lambda: aa[True].run(model, x, y)))
        times["aa_full"].append(timed(lambda: aa[False].run(model, x, y)))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({
        "benchmark": "adaptive_suite",
        "model": "resnet20 stochastic=linear1 (eval), labels = its own MC-20 prediction",
        "batch": batch,
        "suite": suite.protocol(),
        "aa_rand": {"n_iter": aa_iter, "eot_iter": 20},
        "device": describe_device(device),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "repeats": repeats,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "member_median_s": {k: round(statistics.median(v), 3) for k, v in per_member.items()},
        "suite_over_pgd100": round(med["suite"] / med["pgd100"], 2),
        "aa_rand_head_only_over_full": round(med["aa_head_only"] / med["aa_full"], 3),
        "goal_aa_ratio": 0.15,
    }))


if __name__ == "__main__":
    main()
