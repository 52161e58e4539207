"""Data-parallel training (torchrun, gloo on the CPU) matches a single process."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mfdv_engine.cli import train_argv, build_parser
from mfdv_engine.config import load_preset
from mfdv_engine.data import Split, iterate_batches
from mfdv_engine.training.distributed import DistContext, iterate_shard
from mfdv_engine.training.runs import train_run
from mfdv_engine.project.store import Project

REPO = Path(__file__).resolve().parents[1]
# fp32: bf16 autocast (on by default where the CPU has native bf16) rounds the two reduction orders apart
SETS = ["data.limit_train=512", "data.limit_test=128", "train.batch_size=64", "train.epochs=1",
        "model.stochastic=none", "defense=none", "train.device=cpu", "train.eval_mc_samples=1", "train.amp=false"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ctx(rank: int, world: int) -> DistContext:
    return DistContext(rank, world, rank, "gloo", torch.device("cpu"), owns_group=False)


@pytest.mark.parametrize("augment", ["none", "crop-flip"])
def test_shards_union_is_the_single_process_batch(augment):
    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (70, 1, 8, 8), dtype=torch.uint8, generator=g), torch.arange(70))
    single = list(iterate_batches(split, 16, shuffle=True, augment=augment, generator=torch.Generator().manual_seed(3)))
    shards = [list(iterate_shard(split, 16, _ctx(r, 2), shuffle=True, augment=augment,
                                 generator=torch.Generator().manual_seed(3))) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(single) == 5
    for b, (x, y) in enumerate(single):
        for r in range(2):
            xs, ys, n = shards[r][b]
            assert n == len(y)
            assert torch.equal(ys, y[r::2]) and torch.equal(xs, x[r::2])


def test_train_argv_drops_nproc():
    args = build_parser().parse_args(["train", "--preset", "demo-lenet-mfdv", "--project", "p.h5", "--nproc", "2",
                                      "--set", "a=1", "--set", "b=2", "--epochs", "3", "--json"])
    assert args.nproc == 2
    argv = train_argv(args)
    assert "--nproc" not in argv
    again = build_parser().parse_args(argv)
    assert again.preset == "demo-lenet-mfdv" and again.set == ["a=1", "b=2"] and again.epochs == 3 and again.json


def test_two_gloo_processes_match_one_process(tmp_path):
    # single process, same global batch
    single = train_run(tmp_path / "one.mfdv.h5", load_preset("demo-lenet-mfdv").with_overrides(SETS), device="cpu")
    assert single.status == "finished"
    # two processes through torchrun
    proj = tmp_path / "two.mfdv.h5"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "--master_addr=127.0.0.1", "-m", "mfdv_engine.cli", "train", "--preset", "demo-lenet-mfdv",
           "--project", str(proj), "--device", "cpu", "--json"]
    for kv in SETS:
        cmd += ["--set", kv]
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert res.returncode == 0, res.stderr[-4000:]
    p2 = Project.open(proj)
    runs = p2.runs()
    assert len(runs) == 1 and runs[0].status == "finished"  # only rank 0 wrote
    assert runs[0].final["processes"] == 2
    p1 = Project.open(tmp_path / "one.mfdv.h5")
    w1 = p1.load_checkpoint(single.run_id)["model"]
    w2 = p2.load_checkpoint(runs[0].run_id)["model"]  # the unwrapped model's keys
    assert w1.keys() == w2.keys()
    diff = max((w1[k].float() - w2[k].float()).abs().max().item() for k in w1)
    assert diff < 1e-4, diff
    c1, c2 = p1.curves(single.run_id)["step"]["loss"], p2.curves(runs[0].run_id)["step"]["loss"]
    assert len(c1) == len(c2) and max(abs(a - b) for a, b in zip(c1, c2)) < 1e-4
    e1, e2 = p1.curves(single.run_id)["epoch"], p2.curves(runs[0].run_id)["epoch"]
    assert e1["train_acc"][0] == pytest.approx(e2["train_acc"][0]) and e1["test_acc"][0] == pytest.approx(e2["test_acc"][0])


def test_attack_sharded_over_two_gloo_processes_matches_one(tmp_path):
    """``mfdv attack --nproc 2``: the batches are dealt out to the ranks, each
    keeping its examples and noise seeds, so even PGD (random start) on a
    stochastic model gives exactly the single-process row; rank 0 alone stores it."""
    proj = tmp_path / "p.mfdv.h5"
    sets = [kv for kv in SETS if kv not in ("model.stochastic=none", "defense=none")]
    run = train_run(proj, load_preset("demo-lenet-mfdv").with_overrides(sets), device="cpu")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    base = [sys.executable, "-m", "mfdv_engine.cli", "attack", "--project", str(proj), "--run", run.run_id,
            "--attacks", "pgd10", "--eps", "4/255", "--limit", "101", "--batch-size", "25", "--mc", "3",
            "--eot", "2", "--reeval", "2", "--device", "cpu", "--json"]
    one = subprocess.run(base, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(base + ["--nproc", "2"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=150)
    assert two.returncode == 0, two.stderr[-4000:]
    rows1, rows2 = json.loads(one.stdout), json.loads(two.stdout)  # rank 1 prints nothing
    assert [r["gradient"] for r in rows1] == [r["gradient"] for r in rows2] == ["single-sample", "EOT-2"]
    for r1, r2 in zip(rows1, rows2):
        assert r2["n"] == r1["n"] == 101
        for k in ("clean_acc", "robust_acc", "robust_acc_mean"):
            assert r2[k] == pytest.approx(r1[k], abs=1e-12), (k, r1, r2)
    assert 0 < rows1[0]["robust_acc"] < rows1[0]["clean_acc"]  # the attack did something and not everything
    stored = Project.open(proj).eval_rows(run.run_id)
    assert len(stored) == 2  # two keys, each written once per command: rank 0 only
