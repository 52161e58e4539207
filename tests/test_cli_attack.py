"""`mfdv attack / sweep / checklist / export` end to end on LeNet trained on the real MNIST."""
import csv
import json

import pytest

from mfdv_engine.project.export import COLUMNS
from test_cli import _bad, mfdv

ALL = "fgsm,pgd10,pgd100,cw,pixel1,pixel2,pixel3,pixel5,autoattack,autoattack-rand,square,eot-pgd"
# the paper's settings are the defaults; these shrink the slow ones for a CPU test
SMALL = ["cw.steps=30", "cw.binary_search_steps=2", "pixel1.steps=3", "pixel2.steps=3", "pixel3.steps=3",
         "pixel5.steps=3", "pixel1.popsize=20", "pixel2.popsize=20", "pixel3.popsize=20", "pixel5.popsize=20",
         "autoattack.n_iter=5", "autoattack.n_queries=50", "autoattack-rand.n_iter=5",
         "square.n_queries=50", "pgd100.steps=20"]


@pytest.fixture(scope="module")
def project(tmp_path_factory, data_root):
    p = tmp_path_factory.mktemp("atk") / "p.mfdv.h5"
    ids = {}
    for preset in ("mnist-lenet-mfdv", "mnist-lenet-plain"):
        out = json.loads(mfdv("train", "--preset", preset, "--epochs", 1, "--limit-train", 20000,
                              "--project", p, "--data-root", data_root, "--json").stdout)
        ids[preset.rsplit("-", 1)[1]] = out["run_id"]
    return p, ids


def test_every_attack_lands_in_project_and_csv(project, data_root, tmp_path):
    p, ids = project
    params = [a for s in SMALL for a in ("--param", s)]
    r = mfdv("attack", "--project", p, "--run", ids["mfdv"], "--attacks", ALL, *params, "--eps", "0.3",
             "--limit", 12, "--mc", 5, "--eot", 3, "--reeval", 2, "--data-root", data_root, "--json")
    rows = json.loads(r.stdout)
    attacks = {row["attack"] for row in rows}
    assert attacks == set(ALL.split(","))
    grads = {(row["attack"], row["gradient"]) for row in rows}
    assert ("pgd10", "single-sample") in grads and ("pgd10", "EOT-3") in grads  # side by side
    assert ("eot-pgd", "EOT-3") in grads  # --eot governs every EOT attack
    aa_rand = next(row for row in rows if row["attack"] == "autoattack-rand")
    assert aa_rand["eot_samples"] == 3 and aa_rand["params"]["eot_iter"] == 3  # AutoAttack rand's EOT too
    aa = [row for row in rows if row["attack"] == "autoattack"][0]
    assert any("random" in m.lower() for m in aa["messages"]), aa["messages"]  # AutoAttack's own warning surfaced
    out = tmp_path / "t.csv"
    mfdv("export", "--project", p, "--csv", out)
    with open(out) as f:
        table = list(csv.DictReader(f))
    assert list(table[0].keys()) == COLUMNS
    assert len([t for t in table if t["run_id"] == ids["mfdv"]]) == len(rows)
    for t in table:
        for col in ("attack", "eps", "gradient", "eot_samples", "mc_samples", "n", "seed", "robust_acc", "ci_low", "ci_high"):
            assert t[col] != "", col


def test_pgd10_at_03_breaks_plain_lenet(project, data_root):
    p, ids = project
    rows = json.loads(mfdv("attack", "--project", p, "--run", ids["plain"], "--attacks", "pgd10", "--eps", "0.3",
                           "--limit", 300, "--data-root", data_root, "--json").stdout)
    assert [r["gradient"] for r in rows] == ["single pass (deterministic)"]
    assert (rows[0]["mc_samples"], rows[0]["eot_samples"], rows[0]["reeval"]) == (1, 1, 1)
    assert rows[0]["clean_acc"] > 0.95 and rows[0]["robust_acc"] < 0.05


def test_sweep_and_checklist_from_the_command_line(project, data_root):
    p, ids = project
    rows = json.loads(mfdv("sweep", "--project", p, "--run", ids["mfdv"], "--kind", "eps", "--values", "0,8/255,1",
                           "--limit", 20, "--mc", 3, "--eot", 2, "--reeval", 1, "--data-root", data_root, "--json").stdout)
    assert len(rows) == 6 and rows[-1]["robust_acc"] == 0.0  # ε = 1 leaves nothing
    r = mfdv("checklist", "--project", p, "--run", ids["plain"], "--eps", "0.3", "--limit", 20, "--mc", 1,
             "--reeval", 1, "--data-root", data_root)
    assert r.stdout.count("[PASS]") + r.stdout.count("[FLAG]") == 5


def test_bad_attack_input_is_one_sentence_and_leaves_project_alone(project, data_root):
    p, ids = project
    before = p.read_bytes()
    base = ["attack", "--project", p, "--data-root", data_root]
    assert "unknown attack" in _bad(*base, "--run", ids["plain"], "--attacks", "fgsm,zap")
    assert "outside [0, 1]" in _bad(*base, "--run", ids["plain"], "--attacks", "fgsm", "--eps", "2")
    assert "outside [0, 1]" in _bad(*base, "--run", ids["plain"], "--attacks", "fgsm", "--eps=-1/255")
    assert "no run 'r999'" in _bad(*base, "--run", "r999", "--attacks", "fgsm")
    assert p.read_bytes() == before


def test_run_without_checkpoint_is_refused(tmp_path, data_root):
    p = tmp_path / "p.mfdv.h5"
    # λ1 = 1 diverges within the first epoch, before any checkpoint exists
    mfdv("train", "--preset", "mnist-lenet-mfdv", "--set", "defense.lambda1=1.0", "--epochs", 1,
         "--project", p, "--data-root", data_root, check=False)
    run = json.loads(mfdv("runs", "--project", p, "--json").stdout)[0]
    assert run["status"] == "failed"
    before = p.read_bytes()
    assert "no finished epoch" in _bad("attack", "--project", p, "--run", run["run_id"], "--attacks", "fgsm",
                                       "--data-root", data_root)
    assert p.read_bytes() == before


def test_timing_prints_epoch_times_and_ratios(data_root):
    out = json.loads(mfdv("timing", "--dataset", "mnist", "--model", "lenet", "--defenses", "none,mfdv,pgd-at",
                          "--limit-train", 640, "--data-root", data_root, "--json").stdout)
    assert set(out["median_s"]) == {"none", "mfdv", "pgd-at"}
    assert all(t > 0 for t in out["median_s"].values())
    assert set(out["ratios"]) == {"mfdv/none", "pgd-at/none", "pgd-at/mfdv"}
    assert "unknown defense" in _bad("timing", "--dataset", "mnist", "--model", "lenet", "--defenses", "none,zzz")
