"""Benchmark: 15-sample ``mc_predict`` vs. one plain forward pass (eval mode).

For LeNet (1x28x28), ResNet-20 and ResNet-18 (3x32x32), all with
``stochastic="linear1"``: time of ``mc_predict(model, x, 15)`` ÷ time of one
``model(x)``, and the naive 15 full passes ÷ one pass for comparison. The
three variants are interleaved, repeated, and their medians compared.

Prints one JSON object; top-level ``ratio`` is the ResNet-20 ratio (goal ≤ 1.2).
Usage: python bench/mc_predict.py [--batch 128] [--repeats 5] [--naive-repeats 2] [--samples 15] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from mfdv_engine.models import create_model  # noqa: E402
from mfdv_engine.stochastic import mc_predict  # noqa: E402
from mfdv_engine.devices import describe_device  # noqa: E402

MODELS = (("lenet", 1, 28), ("resnet20", 3, 32), ("resnet18", 3, 32))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=15)
    ap.add_argument("--naive-repeats", type=int, default=2)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    S = args.samples
    results = {}
    for name, c, hw in MODELS:
        torch.manual_seed(0)
        model = create_model(name, 10, c, stochastic="linear1", input_size=hw).to(dev).eval()
        x = torch.rand(args.batch, c, hw, hw, device=dev)

        @torch.no_grad()
        def plain():
            return model(x)

        def mc():
            return mc_predict(model, x, S)

        @torch.no_grad()
        def naive():
            return torch.stack([torch.softmax(model(x).float(), -1) for _ in range(S)]).mean(0)

        runs = {"plain": plain, "mc_predict": mc, "naive": naive}
        for f in runs.values():  # warm-up
            f()
        times: dict[str, list[float]] = {k: [] for k in runs}
        for r in range(args.repeats):
            for k, f in runs.items():  # interleaved
                if k == "naive" and r >= args.naive_repeats:
                    continue  # S× slower; one or two repeats suffice
                sync()
                t = time.perf_counter()
                f()
                sync()
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        results[name] = {
            "input": [c, hw, hw],
            "plain_s": round(med["plain"], 5),
            "mc_predict_s": round(med["mc_predict"], 5),
            "naive_s": round(med["naive"], 5),
            "ratio": round(med["mc_predict"] / med["plain"], 3),
            "naive_ratio": round(med["naive"] / med["plain"], 3),
            "repeats": {k: len(v) for k, v in times.items()},
        }
    print(json.dumps({
        "benchmark": "mc_predict",
        "what": f"mc_predict({S} samples) time / one plain forward pass, stochastic=linear1, eval mode",
        "device": describe_device(dev),
        "torch": torch.__version__,
        "batch": args.batch,
        "samples": S,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ratio": results["resnet20"]["ratio"],
        "goal_ratio": 1.2,
        "naive_ratio": results["resnet20"]["naive_ratio"],
        "models": results,
    }, indent=2))


if __name__ == "__main__":
    main()
