"""Benchmark: ``mfdv.evaluate`` against torchattacks and pyautoattack called by hand, same model and data.

A small CNN is trained for a few hundred steps on the real MNIST (or the embedded
demo digits without ``--data-root``) and put in eval mode (deterministic: one
pass judges, so the libraries' own numbers are comparable). On the same first n
test images, in one run, interleaved, best of ``--repeats``:

* PGD-10 (ε = 0.1, α = ε/10 as mfdv's pgd10, random start): ``torchattacks.PGD`` + an accuracy
  loop, against ``mfdv.evaluate(model, (x, y), "pgd10")``;
* AutoAttack ``standard`` (APGD-CE, APGD-T, FAB-T, Square, ``--aa-iters``
  iterations, ``--aa-queries`` queries): ``pyautoattack.AutoAttack`` with its
  own ``run_standard_evaluation``, against ``mfdv.evaluate(..., "autoattack")``.

Prints one JSON object: seconds of each, ``ratio`` = mfdv ÷ reference (goal ≤ 1.1:
the protocol's clean pass and its CI cost little), the robust accuracies and
whether each reference value lies in mfdv's 95% interval (goal: both true).
Usage: python bench/api_vs_reference.py [--n 1000] [--n-aa 200] [--repeats 2] [--data-root DIR]
"""
from __future__ import annotations

import argparse
import datetime
import json
import time

import torch
from torch import nn


#: the budget (MNIST): small enough that a briefly trained CNN keeps some robust accuracy to compare
EPS = 0.1


def _data(root, n: int):
    from mfdv_engine.data import load_dataset

    name = "mnist" if root else "demo"
    ds = load_dataset(name, root, limit_train=6000, limit_test=n)
    return (ds.train.x.float() / 255, ds.train.y), (ds.test.x.float() / 255, ds.test.y), name


def _model(train) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 16, 5, stride=2), nn.ReLU(), nn.Conv2d(16, 32, 5, stride=2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(32 * 4 * 4, 10))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    x, y = train
    for _ in range(400):
        i = torch.randint(0, len(y), (128,))
        loss = nn.functional.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def reference_pgd(net, x, y) -> float:
    """What a researcher writes with torchattacks: attack the correct ones, count survivors."""
    import torchattacks

    atk = torchattacks.PGD(net, eps=EPS, alpha=EPS / 10, steps=10, random_start=True)
    with torch.no_grad():
        ok = net(x).argmax(1) == y
    adv = atk(x[ok], y[ok])
    with torch.no_grad():
        return float((net(adv).argmax(1) == y[ok]).sum()) / len(y)


def reference_aa(net, x, y, iters: int, queries: int) -> float:
    from pyautoattack import AutoAttack

    aa = AutoAttack(net, norm="Linf", eps=EPS, version="standard", seed=0)
    aa.apgd.n_iter = aa.apgd_targeted.n_iter = aa.fab.n_iter = iters
    aa.square.n_queries = queries
    adv, _ = aa.run_standard_evaluation(x, y, batch_size=len(y))
    with torch.no_grad():
        return float((net(adv).argmax(1) == y).float().mean())


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    import mfdv_engine as mfdv

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--n-aa", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--aa-iters", type=int, default=20)
    ap.add_argument("--aa-queries", type=int, default=200)
    ap.add_argument("--data-root")
    args = ap.parse_args()
    train, (x, y), name = _data(args.data_root, max(args.n, args.n_aa))
    net = _model(train)
    proto = {"n": args.n, "batch_size": args.n}
    aa_params = {"autoattack": {"n_iter": args.aa_iters, "n_queries": args.aa_queries}}
    runs = {"pgd_ref": [], "pgd_mfdv": [], "aa_ref": [], "aa_mfdv": []}
    for r in range(args.repeats + 1):  # round 0: an untimed warm-up of each (first calls pay for imports)
        runs["pgd_ref"].append(timed(lambda: reference_pgd(net, x[:args.n], y[:args.n])))
        runs["pgd_mfdv"].append(timed(lambda: mfdv.evaluate(net, (x, y), "pgd10", eps=EPS, protocol=proto)[0]))
        runs["aa_ref"].append(timed(lambda: reference_aa(net, x[:args.n_aa], y[:args.n_aa], args.aa_iters,
                                                         args.aa_queries)))
        runs["aa_mfdv"].append(timed(lambda: mfdv.evaluate(net, (x, y), "autoattack", eps=EPS, params=aa_params,
                                                           protocol={"n": args.n_aa, "batch_size": args.n_aa})[0]))
    best = {k: min(t for t, _ in v[1:]) for k, v in runs.items()}
    pgd_row, aa_row = runs["pgd_mfdv"][0][1], runs["aa_mfdv"][0][1]
    pgd_ref, aa_ref = runs["pgd_ref"][0][1], runs["aa_ref"][0][1]
    print(json.dumps({
        "bench": "api_vs_reference", "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "data": name, "n_pgd": args.n, "n_autoattack": args.n_aa, "seconds_best_of": args.repeats, "seconds": best,
        "ratio_pgd": best["pgd_mfdv"] / best["pgd_ref"], "ratio_autoattack": best["aa_mfdv"] / best["aa_ref"],
        "robust_acc": {"pgd_ref": pgd_ref, "pgd_mfdv": pgd_row.robust_acc, "pgd_mfdv_ci": [pgd_row.ci_low, pgd_row.ci_high],
                       "aa_ref": aa_ref, "aa_mfdv": aa_row.robust_acc, "aa_mfdv_ci": [aa_row.ci_low, aa_row.ci_high]},
        "within_ci": {"pgd": pgd_row.ci_low <= pgd_ref <= pgd_row.ci_high,
                      "autoattack": aa_row.ci_low <= aa_ref <= aa_row.ci_high},
        "protocol": {"pgd": pgd_row.protocol_line(), "autoattack": aa_row.protocol_line()},
    }, indent=2))


if __name__ == "__main__":
    main()
