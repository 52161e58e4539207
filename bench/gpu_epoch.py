"""Benchmark: ResNet-18 CIFAR-10 MFDV training epoch on CUDA, fast path vs. fp32.

Fast: bf16 autocast + channels_last + GPU-resident uint8 data (+ ``torch.compile``
of the training model with ``--compile``). Baseline: fp32, NCHW, same
GPU-resident data, measured in the same run, interleaved. Batch 512, preset
``cifar10-resnet18-mfdv``; random CIFAR-shaped data unless ``--data-root``
points at CIFAR-10. Epoch times come from the Trainer (training only; the
end-of-epoch evaluation is not in them); medians over ``--repeats`` after a
warm-up epoch each.

Also counts CUDA host synchronisations during one fast epoch with
``torch.cuda.set_sync_debug_mode("warn")`` and ``log_every`` larger than the
epoch: only the end-of-epoch ones should appear (none per step).

Prints one JSON object; ``ratio`` = fp32 epoch time ÷ fast epoch time (higher is
better). Without CUDA it prints ``{"skipped": "no CUDA device"}`` and exits 0.
Usage: python bench/gpu_epoch.py [--compile] [--repeats 2] [--batch 512] [--data-root DIR] [--limit-train N]
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", action="store_true", help="torch.compile the training model in the fast variant")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit-train", type=int, default=50000)
    args = ap.parse_args()
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    if not torch.cuda.is_available():
        print(json.dumps({"benchmark": "gpu_epoch", "skipped": "no CUDA device", "timestamp": stamp,
                          "torch": torch.__version__}, indent=2))
        return

    from mfdv_engine.config import load_preset
    from mfdv_engine.data import Dataset, Split, load_dataset
    from mfdv_engine.data.cifar import CIFAR10_MEAN, CIFAR10_STD
    from mfdv_engine.devices import describe_device
    from mfdv_engine.training import Trainer

    dev = torch.device("cuda")
    if args.data_root:
        ds = load_dataset("cifar10", args.data_root, limit_train=args.limit_train, limit_test=1000)
        data = f"CIFAR-10 ({len(ds.train)} train images)"
    else:
        g = torch.Generator().manual_seed(0)
        n = args.limit_train
        mk = lambda k: Split(torch.randint(0, 256, (k, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                             torch.randint(0, 10, (k,), generator=g))
        ds = Dataset("random-cifar", mk(n), mk(1000), 10, 3, 32, CIFAR10_MEAN, CIFAR10_STD,
                     classes=[str(i) for i in range(10)], augment="crop-flip")
        data = f"random uint8 3x32x32 ({n} train images), crop-flip"

    base_sets = ["model.name=resnet18", "model.stochastic=linear1", "defense=mfdv", f"train.batch_size={args.batch}",
                 f"train.epochs={args.repeats + 2}", "train.device=cuda", "train.eval_mc_samples=1", "train.log_every=50"]
    variants = {
        "fp32": ["train.amp=false", "train.channels_last=false"],
        "fast": ["train.amp=true", "train.channels_last=true"],
    }
    trainers = {}
    for name, sets in variants.items():
        cfg = load_preset("cifar10-resnet18-mfdv").with_overrides(base_sets + sets)
        tr = Trainer(cfg, ds, device=dev)
        if name == "fast" and args.compile:
            tr.train_model = torch.compile(tr.model)
        trainers[name] = tr

    times: dict[str, list[float]] = {k: [] for k in trainers}
    for k, tr in trainers.items():  # warm-up (cudnn autotune, compile)
        tr.train_epoch()
    for _ in range(args.repeats):
        for k, tr in trainers.items():  # interleaved
            times[k].append(tr.train_epoch().row["epoch_time"])

    # host syncs inside the step loop: one more fast epoch with syncs flagged, no step logs
    fast = trainers["fast"]
    fast.tc.log_every = 10**9
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fast.train_epoch()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    sync_warnings = [str(w.message).splitlines()[0] for w in caught if "synchroniz" in str(w.message).lower()]

    med = {k: statistics.median(v) for k, v in times.items()}
    n_train = len(ds.train)
    print(json.dumps({
        "benchmark": "gpu_epoch",
        "model": "resnet18 stochastic=linear1, defense mfdv",
        "data": data,
        "batch": args.batch,
        "compile": args.compile,
        "device": describe_device(dev),
        "torch": torch.__version__,
        "timestamp": stamp,
        "repeats": args.repeats,
        "epoch_s": {k: round(v, 3) for k, v in med.items()},
        "all_epoch_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
        "images_per_s": {k: round(n_train / v, 1) for k, v in med.items()},
        "ratio": round(med["fp32"] / med["fast"], 3),
        "steps_per_epoch": fast.steps_per_epoch,
        "host_syncs_in_checked_epoch": len(sync_warnings),
        "host_sync_sites": sorted(set(sync_warnings))[:10],
    }, indent=2))


if __name__ == "__main__":
    main()
