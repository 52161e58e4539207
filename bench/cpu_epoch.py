"""Benchmark: a CIFAR-10-shaped MFDV training epoch on the CPU, three ways, in one run.

* ``mfdv``: the engine's :class:`~mfdv_engine.training.Trainer` as it is now.
* ``hand``: a plain hand-written PyTorch loop on the same model, optimiser,
  batch, augmentation (per-example random crop + flip on the uint8 batch) and
  precision (the ones the Trainer picks for this CPU): what the engine's
  bookkeeping (events, σ/health checks, device-side windows) costs.
* ``before``: the Trainer of ``--baseline-ref`` (default: the last commit before
  the CPU work), run from a temporary ``git worktree``; where no git history is
  at hand, the current Trainer with ``train.amp=false train.channels_last=false``,
  which is what the old code did on a CPU (labelled ``before (emulated)``).

Every measurement runs in its own process, the variants interleaved round by
round, so a machine shared with other jobs slows all of them alike; read the
ratios. Epoch times are training only (the Trainer's ``epoch_time``; the
evaluation at the end of each epoch is not in them), medians over rounds of the
per-process median after one warm-up epoch, scaled to 50,000 images.

``--explore`` instead times the hand loop under each CPU option PyTorch offers
(channels_last, bf16 autocast, ``torch.compile``, fused SGD, batch size, one
thread): the table behind docs/performance.md.

Prints one JSON object. ``ratio_mfdv_over_hand`` (goal ≤ 1.05) and
``speedup_over_before`` per model.
Usage: python bench/cpu_epoch.py [--models simplenet,resnet20] [--n-train 5120] [--rounds 3] [--epochs 2]
       [--batch 128] [--baseline-ref REF] [--explore]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: the last commit before CPU training got channels_last and bf16 autocast
BASELINE_REF = "42751a3"
EXPLORE = ["fp32", "cl", "bf16", "cl+bf16", "cl+bf16+fused", "cl+bf16+compile", "cl+bf16+b256", "cl+bf16+b512",
           "cl+bf16+1thread"]


# ---------------------------------------------------------------- the child

def _dataset(n_train: int):
    import torch
    from mfdv_engine.data import Dataset, Split
    from mfdv_engine.data.cifar import CIFAR10_MEAN, CIFAR10_STD

    g = torch.Generator().manual_seed(0)
    mk = lambda k: Split(torch.randint(0, 256, (k, 3, 32, 32), dtype=torch.uint8, generator=g),  # noqa: E731
                         torch.randint(0, 10, (k,), generator=g))
    return Dataset("random-cifar", mk(n_train), mk(100), 10, 3, 32, CIFAR10_MEAN, CIFAR10_STD,
                   classes=[str(i) for i in range(10)], augment="crop-flip")


def _config(model: str, batch: int, epochs: int, extra: list[str]):
    from mfdv_engine.config import load_preset

    return load_preset("cifar10-resnet20-mfdv").with_overrides(
        [f"model.name={model}", f"train.batch_size={batch}", f"train.epochs={epochs}", "train.device=cpu",
         "train.eval_mc_samples=1", "train.log_every=20"] + extra)


def child_mfdv(args, extra: list[str]) -> list[float]:
    from mfdv_engine.training import Trainer

    tr = Trainer(_config(args.model, args.batch, args.epochs + 1, extra), _dataset(args.n_train), device="cpu")
    return [tr.train_epoch().row["epoch_time"] for _ in range(args.epochs + 1)][1:]


def child_hand(args, option: str) -> list[float]:
    """The loop a researcher would write, using the same model-building code."""
    import torch
    import torch.nn.functional as F
    from mfdv_engine.defenses import get_defense
    from mfdv_engine.devices import bf16_autocast_ok
    from mfdv_engine.stochastic import stochastic_layers

    if option == "mfdv-choice":  # what the Trainer picks on this CPU
        option = "cl+bf16" if bf16_autocast_ok(torch.device("cpu")) else "cl"
    opts = set(option.split("+"))
    batch = next((int(o[1:]) for o in opts if o.startswith("b") and o[1:].isdigit()), args.batch)
    if "1thread" in opts:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    ds = _dataset(args.n_train)
    cfg = _config(args.model, batch, args.epochs + 1, [])
    defense = get_defense("mfdv")
    model = defense.build_model(cfg.model, ds, defense.parse_params(cfg.defense.params))
    cl = "cl" in opts
    if cl:
        model = model.to(memory_format=torch.channels_last)
    sigmas = [l.sigma for l in stochastic_layers(model)]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4,
                          fused=True if "fused" in opts else None)
    fwd = torch.compile(model) if "compile" in opts else model
    x_all, y_all = ds.train.x, ds.train.y
    times = []
    for _ in range(args.epochs + 1):
        t0 = time.perf_counter()
        order = torch.randperm(len(y_all))
        for s in range(0, len(y_all), batch):
            idx = order[s:s + batch]
            x, y = x_all[idx], y_all[idx]
            n = x.shape[0]
            xp = F.pad(x, (4, 4, 4, 4))
            oy, ox = torch.randint(0, 9, (n,)), torch.randint(0, 9, (n,))
            cols = ox[:, None] + torch.arange(32)
            cols = torch.where((torch.rand(n) < 0.5)[:, None], cols.flip(1), cols)
            rows = oy[:, None] + torch.arange(32)
            x = xp[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None],
                   rows[:, None, :, None], cols[:, None, None, :]].float().div_(255)
            if cl:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled="bf16" in opts):
                logits = fwd(x)
                loss = F.cross_entropy(logits.float(), y) - 0.02 * sum(torch.log(s).sum() for s in sigmas)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                for s_ in sigmas:
                    s_.clamp_(min=1e-3)
        times.append(time.perf_counter() - t0)
    return times[1:]


def child_main(args) -> None:
    if args.child == "mfdv":
        times = child_mfdv(args, [])
    elif args.child == "before-emulated":
        times = child_mfdv(args, ["train.amp=false", "train.channels_last=false"])
    else:
        times = child_hand(args, args.child.removeprefix("hand:"))
    print(json.dumps({"epoch_s": statistics.median(times)}))


# ---------------------------------------------------------------- the parent

def _worktree(ref: str) -> Path | None:
    """A checkout of ``ref`` in a temporary folder, or None where git cannot make one."""
    path = Path(tempfile.mkdtemp(prefix="mfdv-baseline-")) / "tree"
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), ref],
                       check=True, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return path


def _run_child(variant: str, model: str, args, tree: Path | None) -> float:
    child = "mfdv" if variant == "before" else variant
    env = dict(os.environ)
    if variant == "before" and tree is not None:
        env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", child, "--model", model,
           "--n-train", str(args.n_train), "--epochs", str(args.epochs), "--batch", str(args.batch)]
    out = subprocess.run(cmd, env=env, cwd=str(tree or REPO), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["epoch_s"] * 50000 / args.n_train


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="simplenet,resnet20")
    ap.add_argument("--n-train", type=int, default=5120)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per process, after one warm-up")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--baseline-ref", default=BASELINE_REF)
    ap.add_argument("--explore", action="store_true", help="time the hand loop under each CPU option instead")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child_main(args)

    import torch
    from mfdv_engine.devices import bf16_autocast_ok, describe_device

    tree = None if args.explore else _worktree(args.baseline_ref)
    variants = ([f"hand:{o}" for o in EXPLORE] if args.explore
                else ["mfdv", "hand:mfdv-choice", "before" if tree is not None else "before-emulated"])
    models = [m for m in args.models.split(",") if m]
    times: dict[str, dict[str, list[float]]] = {m: {v: [] for v in variants} for m in models}
    try:
        for r in range(args.rounds):
            for m in models:
                for v in variants:
                    t = _run_child(v, m, args, tree)
                    times[m][v].append(t)
                    print(f"  round {r + 1}: {m} {v}: {t:.1f} s per 50k images", file=sys.stderr)
    finally:
        if tree is not None:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], capture_output=True)
    out = {"bench": "cpu_epoch", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "device": describe_device(torch.device("cpu")), "torch": torch.__version__,
           "bf16_native": bf16_autocast_ok(torch.device("cpu")), "n_train": args.n_train, "batch": args.batch,
           "rounds": args.rounds, "baseline": args.baseline_ref if tree is not None else "emulated (amp/channels_last off)",
           "unit": "seconds per 50,000 training images (median over rounds)", "models": {}}
    for m in models:
        med = {v: statistics.median(ts) for v, ts in times[m].items()}
        entry = {"epoch_s": med, "all_s": times[m]}
        if not args.explore:
            before = med.get("before", med.get("before-emulated"))
            entry["ratio_mfdv_over_hand"] = med["mfdv"] / med["hand:mfdv-choice"]
            entry["speedup_over_before"] = before / med["mfdv"]
        else:
            entry["speedup_over_fp32"] = {v: med["hand:fp32"] / t for v, t in med.items()}
        out["models"][m] = entry
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
