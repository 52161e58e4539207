"""Bad input is one sentence and exit 2, and leaves the project as it was (issue 12).

Every case runs ``mfdv`` in-process against a copy of one small trained
project and checks: exit code 2, exactly one stderr line ``mfdv: error: ...``
naming the offending setting or file, no traceback, the project file's bytes
unchanged and no run added.

Sections: fixtures and helpers; validation helpers (``mfdv_engine.validate``);
``mfdv train`` config values; ``mfdv attack`` options; damaged MNIST files.
The rest of the bad-input suite, split to keep files short:
``test_bad_input_damaged.py`` (every damaged-project-file variant) and
``test_bad_input_divergence.py`` (divergence within one epoch with its cause,
runs that end at chance, crafted checkpoint state on resume).
"""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from mfdv_engine.cli import main
from mfdv_engine.errors import ConfigError
from mfdv_engine.project.store import Project
from mfdv_engine.validate import SEED_MAX, finite_in, parse_device, sub_seed, whole_in

#: a demo run that trains in a second or two (shipped data, 64 examples)
TINY = ["--preset", "demo-lenet-mfdv", "--set", "data.limit_train=64", "--set", "data.limit_test=32",
        "--set", "train.eval_mc_samples=1"]
#: a quick attack protocol against the project's run r001
QUICK = ["--run", "r001", "--limit", "8", "--mc", "1", "--reeval", "1", "--eot", "2"]


# ------------------------------------------------------------------ fixtures and helpers

@pytest.fixture(scope="module")
def trained_project(tmp_path_factory) -> Path:
    """A project with one finished run (r001), trained once for the whole module."""
    p = tmp_path_factory.mktemp("bad-input") / "p.mfdv.h5"
    assert main(["train", *TINY, "--project", str(p)]) == 0
    return p


@pytest.fixture
def project(trained_project: Path, tmp_path: Path, capsys) -> Path:
    """This test's own copy of the module's project (the module's one stays pristine)."""
    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(trained_project, p)
    capsys.readouterr()  # the module fixture's training output is not this test's
    return p


def state(p: Path) -> tuple[str, list[str]]:
    """The project file's sha256 and its runs' files beside it (a new run's live file shows here)."""
    live = p.with_name(p.name + ".live")
    return hashlib.sha256(p.read_bytes()).hexdigest(), sorted(f.name for f in live.glob("*")) if live.is_dir() else []


def one_sentence(capsys, argv: list) -> str:
    """Run ``mfdv argv``; assert exit 2 and a single ``mfdv: error:`` line; return that line."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("mfdv: error: "), err
    return lines[0]


def refused_untouched(capsys, project: Path, argv: list) -> str:
    """:func:`one_sentence`, and the project is byte for byte as before with only run r001."""
    before = state(project)
    msg = one_sentence(capsys, argv)
    assert state(project) == before, msg
    assert [r.run_id for r in Project.open(project).runs()] == ["r001"], msg
    return msg


# ------------------------------------------------------------------ mfdv_engine.validate

def test_ranges_are_stated_and_non_finite_numbers_fail_every_range():
    assert finite_in("x", 10, 0, 10, low_open=True) == 10.0
    for v in (float("inf"), float("-inf"), float("nan"), 1e300, 0):
        with pytest.raises(ConfigError, match=r"^x must be a finite number in \(0, 10\], got "):
            finite_in("x", v, 0, 10, low_open=True)
    with pytest.raises(ConfigError, match=r"x must be a number, got True"):
        finite_in("x", True, 0, 1)
    assert whole_in("n", SEED_MAX, 0, SEED_MAX) == SEED_MAX
    with pytest.raises(ConfigError, match=r"n must be a whole number from 0 to 2\*\*63 - 1, got 2\.5"):
        whole_in("n", 2.5, 0, SEED_MAX)
    with pytest.raises(ConfigError, match=r"n must be a positive whole number \(at most 5\), got 6"):
        whole_in("n", 6, 1, 5)


def test_device_strings_are_parsed_before_torch_sees_them():
    for ok in ("auto", "cpu", "cuda", "cuda:0", "cuda:7"):
        assert parse_device(ok, "d") == ok
    for bad in ("cuda:abc", "cuda:", "cuda:-1", "cuda:01", "cuda:99999", "gpu", "cpu:0", " cpu", "", None, 3):
        with pytest.raises(ConfigError, match=r"^d must be auto, cpu, cuda or cuda:N"):
            parse_device(bad, "d")


def test_sub_seeds_never_overflow_and_keep_ordinary_seeds():
    assert sub_seed(5, 104729, 16) == 5 + 104729 + 16  # results of ordinary seeds are unchanged
    assert 0 <= sub_seed(SEED_MAX, 104729, 7919 * 3, 9750) <= SEED_MAX


# ------------------------------------------------------------------ mfdv train: config values

@pytest.mark.parametrize("sets, says", [
    (["train.seed=1e30"], "train.seed must be a whole number from 0 to 2**63 - 1, got 1e+30"),
    (["train.seed=9223372036854775808"], "train.seed must be a whole number from 0 to 2**63 - 1"),
    (["train.seed=-1"], "train.seed must be a whole number from 0 to 2**63 - 1, got -1"),
    (["train.lr=1e300"], "train.lr must be a finite number in (0, 10], got 1e+300"),
    (["train.lr=1e400"], "train.lr must be a finite number in (0, 10], got inf"),  # JSON reads 1e400 as inf
    (["train.weight_decay=Infinity"], "train.weight_decay (2·λ2) must be a finite number in [0, 1], got inf"),
    (["train.momentum=NaN"], "train.momentum must be a finite number in [0, 1), got nan"),
    (["train.gamma=0"], "train.gamma must be a finite number in (0, 1], got 0"),
    (["train.schedule=multistep", "train.milestones=[0.5, 1e400]"], "train.milestones[1] (a fraction of the run) must be"),
    (["train.epochs=1e30"], "train.epochs must be a positive whole number (at most 100000), got 1e+30"),
    (["train.batch_size=100000"], "train.batch_size must be a positive whole number (at most 65536)"),
    (["train.eval_mc_samples=0"], "train.eval_mc_samples must be a positive whole number (at most 10000), got 0"),
    (["train.device=cuda:abc"], "train.device must be auto, cpu, cuda or cuda:N"),
    (["defense.lambda1=1e400"], "defense 'mfdv': lambda1 must be a finite number in [0, 10000], got inf"),
    (["defense.lambda1=-0.1"], "defense 'mfdv': lambda1 must be a finite number in [0, 10000], got -0.1"),
    (["defense=se-snn", "defense.init_sigma=Infinity"], "defense 'se-snn': init_sigma must be a finite number in (0, 10]"),
    (["defense=rse", "defense.sigma_init=NaN"], "defense 'rse': sigma_init must be a finite number in [0, 10], got nan"),
    (["defense=pgd-at", "defense.steps=1e9"], "defense 'pgd-at': steps must be a positive whole number (at most 100000)"),
    (["defense=adv-bnn", "defense.kl_weight=1e300"], "defense 'adv-bnn': kl_weight must be a finite number in [0, 10000]"),
])
def test_train_refuses_out_of_range_values_before_a_run_exists(capsys, project, sets, says):
    argv = ["train", *TINY, "--project", project]
    for s in sets:
        argv += ["--set", s]
    msg = refused_untouched(capsys, project, argv)
    assert says in msg
    assert "λ1 (defense.lambda1) is probably too large" not in msg  # no run failed and blamed the defense


def test_a_bad_config_creates_no_project(capsys, tmp_path):
    p = tmp_path / "new.mfdv.h5"
    assert "train.lr" in one_sentence(capsys, ["train", *TINY, "--set", "train.lr=1e400", "--project", p])
    assert not p.exists() and not p.with_name(p.name + ".live").exists()


def test_the_largest_seed_trains(capsys, project):
    assert main(["train", *TINY, "--set", f"train.seed={SEED_MAX}", "--project", str(project)]) == 0
    runs = Project.open(project).runs()
    assert [r.status for r in runs] == ["finished", "finished"] and runs[1].config["train"]["seed"] == SEED_MAX


# ------------------------------------------------------------------ mfdv attack: options

@pytest.mark.parametrize("extra, says", [
    (["--attacks", "fgsm", "--seed", "100000000000000000000000"], "seed must be a whole number from 0 to 2**63 - 1"),
    (["--attacks", "fgsm", "--seed", "-1"], "seed must be a whole number from 0 to 2**63 - 1, got -1"),
    (["--attacks", "fgsm", "--eps", "1e400"], "--eps 1e400 is outside [0, 1]"),
    (["--attacks", "pgd", "--param", "pgd.eps=1e400"], "attack 'pgd': eps (Linf) must be a finite number in [0, 1], got inf"),
    (["--attacks", "pgd", "--param", "pgd.steps=1e30"], "attack 'pgd': steps must be a positive whole number (at most 100000)"),
    (["--attacks", "pgd", "--param", "pgd.alpha=NaN"], "attack 'pgd': alpha must be a finite number in [0, 1], got nan"),
    (["--attacks", "cw", "--param", "cw.kappa=Infinity"], "attack 'cw': kappa must be a finite number in [0, 1000]"),
    (["--attacks", "square", "--param", "square.n_queries=1000000"], "attack 'square': n_queries must be a positive whole"),
    (["--attacks", "fgsm", "--limit", "1000000"], "n must be a positive whole number (at most 100000), got 1000000"),
    (["--attacks", "fgsm", "--mc", "20000"], "mc_samples must be a positive whole number (at most 10000)"),
    (["--attacks", "fgsm", "--reeval", "0"], "reeval must be a positive whole number (at most 100000), got 0"),
    (["--attacks", "fgsm", "--batch-size", "100000"], "batch_size must be a positive whole number (at most 65536)"),
])
def test_attack_refuses_out_of_range_options_before_a_row_is_written(capsys, project, extra, says):
    argv = ["attack", "--project", project, *QUICK, *extra]
    assert says in refused_untouched(capsys, project, argv)
    assert Project.open(project).eval_rows("r001") == []


def test_the_largest_seed_attacks_without_overflow(capsys, project):
    """Its derived seeds (per batch, ATTACK_STREAM, per re-judging) all wrap below 2**63."""
    argv = ["attack", "--project", str(project), *QUICK, "--attacks", "fgsm,autoattack-rand", "--reeval", "2",
            "--seed", str(SEED_MAX), "--param", "autoattack-rand.n_iter=2", "--param", "autoattack-rand.n_queries=2"]
    assert main(argv) == 0, capsys.readouterr().err
    rows = Project.open(project).eval_rows("r001")
    assert len(rows) == 3 and {r["seed"] for r in rows} == {SEED_MAX}


# ------------------------------------------------------------------ damaged MNIST files

def damaged_root(data_root: Path, tmp_path: Path, name: str, damage) -> Path:
    """A data root whose MNIST/raw links to the real files except ``name``, a damaged copy."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (data_root / "MNIST" / "raw").iterdir():
        if f.name != name:
            os.symlink(f, raw / f.name)
    (raw / name).write_bytes(bytes(damage(bytearray((data_root / "MNIST" / "raw" / name).read_bytes()))))
    return tmp_path / "data"


def _set(b: bytearray, at: int, value: int, width: int = 4) -> bytearray:
    b[at:at + width] = value.to_bytes(width, "big")
    return b


@pytest.mark.parametrize("name, damage, says", [
    ("t10k-images-idx3-ubyte", lambda b: _set(b, 0, 0x0804), "does not start with 0x00000803"),  # wrong magic
    ("t10k-labels-idx1-ubyte", lambda b: _set(b, 0, 0x0B01), "does not start with 0x00000801"),  # int16, not bytes
    ("t10k-images-idx3-ubyte", lambda b: _set(b, 8, 32), "holds items of shape 32x28, not 28x28"),  # wrong dims
    ("t10k-images-idx3-ubyte", lambda b: b[:4000], "is 4000 bytes, but its header announces 10000 items"),
    ("t10k-labels-idx1-ubyte", lambda b: _set(b, 4, 9999)[:-1], "has 9999 labels but"),  # label/image count
    ("train-labels-idx1-ubyte", lambda b: _set(b, 8 + 17, 12, 1), "holds label 12 at position 17, but the classes are 0 to 9"),
])
def test_damaged_mnist_is_one_sentence_naming_the_file(capsys, project, data_root, tmp_path, name, damage, says):
    root = damaged_root(data_root, tmp_path, name, damage)
    argv = ["train", "--preset", "mnist-lenet-mfdv", "--epochs", "1", "--limit-train", "64",
            "--set", "data.limit_test=32", "--project", project, "--data-root", root]
    msg = refused_untouched(capsys, project, argv)
    assert says in msg and str(root / "MNIST" / "raw" / name) in msg


def test_damaged_mnist_creates_no_project(capsys, data_root, tmp_path):
    root = damaged_root(data_root, tmp_path, "t10k-images-idx3-ubyte", lambda b: _set(b, 0, 0x0804))
    p = tmp_path / "new.mfdv.h5"
    msg = one_sentence(capsys, ["train", "--preset", "mnist-lenet-mfdv", "--epochs", "1", "--project", p,
                                "--data-root", root])
    assert "t10k-images-idx3-ubyte is not an idx file" in msg
    assert not p.exists() and not p.with_name(p.name + ".live").exists()
