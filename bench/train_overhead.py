"""Epoch time of MFDV vs no defense vs PGD-10 AT on the same backbone and data, interleaved.

Prints one JSON object. ``ratio`` = MFDV ÷ none on CIFAR-10 ResNet-20 (the
backbone family of the paper's Table 8; goal ≤ 1.03), the median over rounds
of each round's back-to-back ratio; ``at_over_mfdv`` = PGD-10 AT ÷ MFDV (paper:
6.5–7.5; goal ≥ 7). ``lenet`` repeats MFDV ÷ none on MNIST LeNet, the worst
case: its whole step is a few milliseconds, so the noise draw and the σ
bookkeeping are the largest share they can be.
Usage: python bench/train_overhead.py [--data-root DIR] [--limit-train N] [--rounds R]
       [--at-rounds R] [--device cpu|cuda] [--skip-lenet]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

from mfdv_engine.config import load_preset
from mfdv_engine.training.timing import time_defenses


def _log(d: str, r: int, t: float) -> None:
    print(f"  {d}: round {r}: {t:.2f} s", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MFDV_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")))
    ap.add_argument("--limit-train", type=int, default=2000, help="CIFAR-10 training images per epoch")
    ap.add_argument("--rounds", type=int, default=7, help="timed none/MFDV rounds (after one warm-up)")
    ap.add_argument("--at-rounds", type=int, default=2, help="timed PGD-AT/MFDV rounds (AT is ~10x an epoch)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip-lenet", action="store_true")
    args = ap.parse_args()
    common = dict(data_root=args.data_root, device=args.device, on_epoch=_log)
    resnet = dict(dataset="cifar10", model="resnet20", base=load_preset("cifar10-resnet20-mfdv"),
                  limit_train=args.limit_train)
    main_res = time_defenses(defenses=["none", "mfdv"], epochs=args.rounds, **resnet, **common)
    at_res = time_defenses(defenses=["mfdv", "pgd-at"], epochs=args.at_rounds, **resnet, **common)
    out = {"bench": "train_overhead", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "resnet20": main_res.to_dict(), "resnet20_at": at_res.to_dict(),
           "ratio": main_res.ratio("mfdv", "none"), "at_over_mfdv": at_res.ratio("pgd-at", "mfdv")}
    if not args.skip_lenet:
        lenet = time_defenses("mnist", "lenet", ["none", "mfdv"], base=load_preset("mnist-lenet-mfdv"),
                              epochs=args.rounds, limit_train=10000, **common)
        out["lenet"] = lenet.to_dict()
        out["lenet_ratio"] = lenet.ratio("mfdv", "none")
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
