"""Epoch time of each defense on the same data, backbone and device, interleaved.

Prints one JSON object; `ratio` is MFDV ÷ none (goal ≤ 1.03 on a GPU, ≤ 1.10 on
the CPU), `at_over_mfdv` is PGD-10 AT ÷ MFDV when `pgd-at` is registered.
Usage: python bench/train_overhead.py [--data-root DIR] [--dataset mnist] [--model lenet]
       [--limit-train N] [--repeats R] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
from pathlib import Path

import torch

from mfdv_engine.config import load_preset
from mfdv_engine.data import load_dataset
from mfdv_engine.defenses import list_defenses
from mfdv_engine.training import Trainer, describe_device


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MFDV_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")))
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--limit-train", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    ds = load_dataset(args.dataset, args.data_root, limit_train=args.limit_train, limit_test=1000)
    defenses = [d for d in ("none", "mfdv", "pgd-at") if d in list_defenses()]
    trainers = {}
    for d in defenses:
        cfg = load_preset("mnist-lenet-mfdv").with_overrides(
            [f"data.name={args.dataset}", f"model.name={args.model}", f"defense={d}",
             f"train.epochs={args.repeats + 1}", f"train.device={args.device}"]
            + (["model.stochastic=linear1"] if d == "mfdv" else []))
        trainers[d] = Trainer(cfg, ds, device=torch.device(args.device))
    times: dict[str, list[float]] = {d: [] for d in defenses}
    for rep in range(args.repeats + 1):  # first round is warm-up
        for d in defenses:
            t = trainers[d].train_epoch().row["epoch_time"]
            if rep > 0:
                times[d].append(t)
    med = {d: statistics.median(v) for d, v in times.items()}
    out = {
        "bench": "train_overhead",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": describe_device(torch.device(args.device)),
        "dataset": args.dataset, "model": args.model, "n_train": len(ds.train),
        "batch_size": trainers["none"].tc.batch_size, "repeats": args.repeats,
        "epoch_time_s": med, "all_times_s": times,
        "ratio": med["mfdv"] / med["none"],
    }
    if "pgd-at" in med:
        out["at_over_mfdv"] = med["pgd-at"] / med["mfdv"]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
