"""Epoch time of MFDV vs no defense vs PGD-10 AT on the same backbone and data, interleaved.

Prints one JSON object. `ratio` = MFDV ÷ none (goal ≤ 1.03 on a GPU, ≤ 1.10 on
the CPU); `at_over_mfdv` = PGD-10 AT ÷ MFDV (paper: 6.5–7.5).
Usage: python bench/train_overhead.py [--data-root DIR] [--dataset mnist] [--model lenet]
       [--limit-train N] [--epochs R] [--device cpu|cuda]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
from pathlib import Path

from mfdv_engine.config import load_preset
from mfdv_engine.timing import time_defenses


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-root", default=os.environ.get("MFDV_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "datasets")))
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--model", default="lenet")
    ap.add_argument("--limit-train", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    res = time_defenses(args.dataset, args.model, ["none", "mfdv", "pgd-at"], base=load_preset("mnist-lenet-mfdv"),
                        epochs=args.epochs, data_root=args.data_root, limit_train=args.limit_train, device=args.device)
    r = res.ratios()
    out = {"bench": "train_overhead", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           **res.to_dict(), "ratio": r["mfdv/none"], "at_over_mfdv": r["pgd-at/mfdv"]}
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
