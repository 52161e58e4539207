"""Benchmark: head-only EOT-20 PGD-10 vs. plain PGD-10 on ResNet-20 (CPU).

Prints one JSON object. ``ratio`` = EOT time / plain time (goal ≤ 1.3);
``torchattacks_eot_ratio`` = torchattacks.EOTPGD(eot_iter=20) time / plain time.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torchattacks  # noqa: E402

from mfdv_engine.attacks import make_attack  # noqa: E402
from mfdv_engine.models import create_model  # noqa: E402
from mfdv_engine.devices import describe_device  # noqa: E402


def main() -> None:
    batch = int(os.environ.get("BENCH_BATCH", "64"))
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    device = torch.device("cuda" if torch.cuda.is_available() and os.environ.get("BENCH_CUDA") else "cpu")
    torch.manual_seed(0)
    model = create_model("resnet20", 10, 3, stochastic="linear1").to(device).eval()
    x = torch.rand(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    plain = make_attack("pgd10", eps=8 / 255, eot_samples=1)
    eot = make_attack("pgd10", eps=8 / 255, eot_samples=20)

    def ta_eot():
        with torch.random.fork_rng():
            return torchattacks.EOTPGD(model, eps=8 / 255, alpha=8 / 2550, steps=10, eot_iter=20)(x, y)

    runs = {"plain": lambda: plain.run(model, x, y), "eot": lambda: eot.run(model, x, y), "torchattacks_eot": ta_eot}
    times = {k: [] for k in runs}
    for k, f in runs.items():  # warm-up
        f() if k != "torchattacks_eot" else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for r in range(repeats):
        for k, f in runs.items():  # interleaved
            if k == "torchattacks_eot" and r >= max(1, repeats // 3):
                continue  # 20x slower: one or two repeats suffice
            sync()
            t = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t)
    med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    print(json.dumps({
        "benchmark": "eot_attack",
        "model": "resnet20 stochastic=linear1 (eval)",
        "batch": batch,
        "attack": "PGD-10 Linf eps=8/255",
        "eot_samples": 20,
        "device": describe_device(device),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "repeats": {k: len(v) for k, v in times.items()},
        "plain_s": round(med["plain"], 4),
        "eot_s": round(med["eot"], 4),
        "torchattacks_eot_s": round(med["torchattacks_eot"], 4),
        "ratio": round(med["eot"] / med["plain"], 3),
        "torchattacks_eot_ratio": round(med["torchattacks_eot"] / med["plain"], 3),
        "goal_ratio": 1.3,
    }))


if __name__ == "__main__":
    main()
