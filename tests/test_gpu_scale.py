"""The `gpu` scale of the experiments and the bench/gpu pack + run scripts (all on the CPU)."""
import importlib.util
import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from mfdv_engine.cli import main
from mfdv_engine.reproduction.experiments import Experiment

REPO = Path(__file__).resolve().parents[1]
GPU_EXPERIMENTS = ("table1", "table3", "table4", "table8", "table9", "fig3", "eot")


def _script(name: str):
    spec = importlib.util.spec_from_file_location(f"gpu_{name}", REPO / "bench" / "gpu" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", GPU_EXPERIMENTS)
def test_gpu_scale_sits_between_smoke_and_paper_and_says_its_size(name):
    exp = Experiment.load(name)
    assert [s for s in exp.scales if s != "cpu"] == ["smoke", "gpu", "paper"]  # cpu: where 2 cores can finish it
    sc = exp.scales["gpu"]
    notes = sc["notes"]
    assert "epoch" in notes and "min on one H100" in notes
    assert "estimated from H200 measurements, not yet measured on an H100" in notes
    rows = [r for r in exp.rows if "only_groups" not in sc or r.get("group", "") in sc["only_groups"]]
    assert rows
    for row in rows:
        cfg = exp.run_config(row, "gpu")
        assert cfg.data.name == "cifar10", row["label"]  # the only offline data set a GPU run gets
        assert cfg.train.batch_size == 256
        assert f"{cfg.train.epochs} epochs" in notes or exp.kind == "timing"
        if exp.kind != "timing":
            assert cfg.data.limit_train is None  # the full training set
    if exp.kind != "timing":
        proto = sc["protocol"]
        assert 500 <= proto["batch_size"] <= 1000
        assert f"n = {proto['n']:,}" in notes


def test_l2p_row_gets_its_own_warm_up_at_gpu_scale():
    exp = Experiment.load("table1")
    rows = {r["label"]: r for r in exp.rows}
    assert exp.run_config(rows["ResNet-20 / L2P"], "gpu").defense.params["warmup_epochs"] == 1
    assert exp.run_config(rows["ResNet-20 / L2P"], "paper").defense.params["warmup_epochs"] == 10


@pytest.mark.parametrize("name,scale,device", [("table3", "gpu", "auto"), ("table8", "gpu", "auto"),
                                               ("table4", "paper", "auto"), ("table4", "gpu", "cpu")])
def test_cuda_scales_refuse_without_cuda_before_touching_the_project(name, scale, device, tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    p = tmp_path / "p.mfdv.h5"
    rc = main(["reproduce", name, "--scale", scale, "--device", device, "--project", str(p),
               "--data-root", str(tmp_path / "no-data")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert not p.exists() and not list(tmp_path.iterdir())
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--scale smoke" in err and "CUDA" in err


# ------------------------------------------------------------------ bench/gpu/pack.py


def test_pack_reads_the_pins_of_pyproject():
    pack = _script("pack")
    reqs = pack.pinned_requirements()
    assert [r.split(">")[0].split("=")[0].split("<")[0] for r in reqs] == list(pack.PACKAGES)
    text = (REPO / "pyproject.toml").read_text()
    for r in reqs:
        assert r in text.replace(" ", "")


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_pack_unzips_wheels_without_pyautoattack_examples(tmp_path):
    pack = _script("pack")
    whl = _wheel(tmp_path / "pyautoattack-0.2.0-py3-none-any.whl", {
        "pyautoattack/__init__.py": b"x = 1\n", "pyautoattack/examples/model_test.pt": b"0" * 1000,
        "pyautoattack-0.2.0.dist-info/METADATA": b"Name: pyautoattack\n"})
    site = tmp_path / "site"
    site.mkdir()
    assert pack.unpack_wheel(whl, site) == (2, 1)
    assert (site / "pyautoattack" / "__init__.py").is_file()
    assert not (site / "pyautoattack" / "examples").exists()
    evil = _wheel(tmp_path / "evil-1-py3-none-any.whl", {"../outside.py": b""})
    with pytest.raises(pack.PackError, match="outside its folder"):
        pack.unpack_wheel(evil, site)
    assert not (tmp_path / "outside.py").exists()


def test_pack_never_overwrites_a_folder_it_did_not_write(tmp_path):
    pack = _script("pack")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(pack.PackError, match="not written by this script"):
        pack.prepare_out(foreign)
    assert (foreign / "notes.txt").read_text() == "keep"
    assert pack.main(["--archive", str(tmp_path / "none.tar.gz"), "--out", str(tmp_path / "p")]) == 2


# ------------------------------------------------------------------ bench/gpu/run.py


def _fake_pack(root: Path, members: dict[str, bytes] | None = None) -> Path:
    pack = root / "pack"
    for name in ("torchattacks", "pyautoattack", "platformdirs", "tqdm"):
        (pack / "site" / name).mkdir(parents=True)
    members = members or {f"cifar10-jpeg/{split}/{c}/0.jpg": b"jpeg" for split in ("train", "test")
                          for c in ("airplane", "cat")}
    with tarfile.open(pack / "cifar10-jpeg.tar.gz", "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return pack


def test_run_dry_run_unpacks_once_and_prints_the_reproduce_command(tmp_path, capsys):
    run = _script("run")
    pack, data, out = _fake_pack(tmp_path), tmp_path / "data", tmp_path / "out"
    argv = ["table3", str(out), "--pack", str(pack), "--data", str(data), "--dry-run"]
    assert run.main(argv) == 0
    printed = capsys.readouterr().out
    assert (data / "cifar10-jpeg" / "train" / "cat" / "0.jpg").read_bytes() == b"jpeg"
    assert (data / "cifar10-jpeg" / "test" / "airplane" / "0.jpg").is_file()
    command = next(l for l in printed.splitlines() if l.startswith("command: "))
    assert command.endswith(f"-m mfdv_engine.cli reproduce table3 --scale gpu --device cuda --project "
                            f"{out}/table3.mfdv.h5 --data-root {data} --report {out}/table3.md")
    env = next(l for l in printed.splitlines() if l.startswith("env: "))
    assert f"PYTHONPATH={REPO}:{pack.resolve()}/site" in env and f"MFDV_CACHE_DIR={data}/cache" in env
    assert "unpacked now" in printed and not out.exists()  # a dry run writes no results
    assert run.main(argv) == 0
    assert "already unpacked" in capsys.readouterr().out


def test_run_refuses_bad_arguments_with_one_sentence(tmp_path, capsys):
    run = _script("run")
    pack = _fake_pack(tmp_path)
    assert run.main(["tableX", str(tmp_path / "out"), "--pack", str(pack), "--dry-run"]) == 2
    assert "unknown experiment 'tableX'" in capsys.readouterr().err
    assert run.main(["table3", str(tmp_path / "out"), "--pack", str(tmp_path / "nowhere"), "--dry-run"]) == 2
    assert "bench/gpu/pack.py" in capsys.readouterr().err
    bad = _fake_pack(tmp_path / "bad", {"../escape.txt": b"x"})
    assert run.main(["table3", str(tmp_path / "out"), "--pack", str(bad), "--data", str(tmp_path / "d"),
                     "--dry-run"]) == 2
    assert not (tmp_path / "escape.txt").exists()


def test_run_records_the_experiment_exit_code_and_wall_time(tmp_path):
    """End to end with the real CLI, made to refuse (--device cpu): no GPU experiment runs here."""
    run = _script("run")
    pack, out = _fake_pack(tmp_path), tmp_path / "out"
    rc = run.main(["eot", str(out), "--pack", str(pack), "--data", str(tmp_path / "data"), "--device", "cpu",
                   "--python", sys.executable])
    assert rc == 2
    record = json.loads((out / "eot.run.json").read_text())
    assert record["returncode"] == 2 and record["wall_s"] >= 0 and "nvidia_smi" in record
    assert "--scale gpu --device cpu" in record["command"]
    assert "--scale smoke" in (out / "eot.log").read_text()
    assert not (out / "eot.mfdv.h5").exists()
