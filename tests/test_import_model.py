"""Models this tool did not train: `mfdv import`, attacks on imported runs, `evaluate()`.

The network lives in a file the test writes (not in the registry), is trained
here for a few hundred steps on real MNIST digits, and is saved as a plain
state_dict. The model file is Python: a project may name it, but only a file
this machine imported itself (same path, same bytes) is ever run again.
"""
import csv
import json
import textwrap

import pytest
import torch

from mfdv_engine.cli import main
from mfdv_engine.errors import ConfigError

NET = textwrap.dedent('''
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self, num_classes=10, noise=0.0):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 5, stride=2)
            self.conv2 = nn.Conv2d(8, 16, 5, stride=2)
            self.fc = nn.Linear(16 * 4 * 4, num_classes)
            self.noise = noise

        def forward(self, x):
            h = torch.relu(self.conv2(torch.relu(self.conv1(x)))).flatten(1)
            if self.noise:
                h = h + self.noise * torch.randn_like(h)
            return self.fc(h)


    def build(num_classes=10):
        return Net(num_classes)


    def build_noisy():
        return Net(10, noise=0.3)
''')


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    """Every test's own trust list: the user's settings are never touched."""
    d = tmp_path / "config"
    monkeypatch.setenv("MFDV_CONFIG_DIR", str(d))
    return d


def _load_net_module(path):
    ns = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    return ns


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    """my_net.py and weights w.pt of its CNN after 300 Adam steps on 4,000 real digits."""
    from mfdv_engine.data import load_dataset

    folder = tmp_path_factory.mktemp("byom")
    src = folder / "my_net.py"
    src.write_text(NET)
    ns = _load_net_module(src)
    ds = load_dataset("mnist", data_root, limit_train=4000, limit_test=1)
    torch.manual_seed(0)
    net = ns["build"]()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    x, y = ds.train.x.float() / 255, ds.train.y
    for step in range(300):
        idx = torch.randint(0, len(y), (64,))
        loss = torch.nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.save(net.state_dict(), folder / "w.pt")
    return folder, ns


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_sentence(capsys, *argv) -> str:
    code, out, err = run(capsys, *argv)
    lines = [ln for ln in err.strip().splitlines() if "%|" not in ln]  # (an empty progress bar is not a sentence)
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("mfdv: error:") and "Traceback" not in err, err
    return lines[0]


def _import(capsys, p, folder, data_root, entry="build", *extra):
    code, out, err = run(capsys, "import", "--project", p, "--model-file", f"{folder / 'my_net.py'}:{entry}",
                         "--weights", folder / "w.pt", "--data-root", data_root, "--limit", 500, "--device", "cpu",
                         *extra)
    assert code == 0, err
    return out.split()[1].rstrip(":")


def test_import_attack_and_export_end_to_end(trained, tmp_path, data_root, capsys):
    folder, _ = trained
    p = tmp_path / "p.mfdv.h5"
    det = _import(capsys, p, folder, data_root)
    noisy = _import(capsys, p, folder, data_root, "build_noisy", "--name", "noisy")
    code, out, _ = run(capsys, "runs", "--project", p, "--json")
    infos = {i["run_id"]: i for i in json.loads(out)}
    for rid, stochastic in ((det, False), (noisy, True)):
        info = infos[rid]
        assert info["status"] == "finished" and info["final"]["clean_acc"] > 0.5, info
        model = info["config"]["model"]
        assert model["name"] == "imported" and info["config"]["defense"]["name"] == "none"
        assert model["source"]["file"] == str(folder / "my_net.py") and len(model["source"]["sha256"]) == 64
        assert model["source"]["stochastic"] is stochastic
    assert infos[noisy]["final"]["clean_acc_short"] == "MC-15, n=500"
    assert infos[det]["final"]["clean_acc_short"] == "single pass, n=500"

    common = ["--attacks", "fgsm,pgd10", "--limit", 32, "--mc", 3, "--eot", 2, "--reeval", 2,
              "--data-root", data_root, "--device", "cpu", "--json"]
    code, out, err = run(capsys, "attack", "--project", p, "--run", det, *common)
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["attack"], r["gradient"]) for r in rows] == [("fgsm", "single pass (deterministic)"),
                                                            ("pgd10", "single pass (deterministic)")]
    assert all(r["eps"] == pytest.approx(0.3) and r["protocol"] and r["n"] == 32 for r in rows)
    code, out, err = run(capsys, "attack", "--project", p, "--run", noisy, *common)
    assert code == 0, err
    grads = {(r["attack"], r["gradient"]) for r in json.loads(out)}
    assert {("pgd10", "single-sample"), ("pgd10", "EOT-2"), ("fgsm", "single-sample"), ("fgsm", "EOT-2")} <= grads

    csv_path = tmp_path / "t.csv"
    code, _, err = run(capsys, "export", "--project", p, "--csv", csv_path)
    assert code == 0, err
    with open(csv_path) as f:
        table = list(csv.DictReader(f))
    assert {t["run_id"] for t in table} == {det, noisy} and len(table) == 6
    assert all(t["model"] == "imported" and t["mc_samples"] and t["gradient"] for t in table)


def test_evaluate_in_python_detects_noise_and_keeps_the_protocol(trained, data_root):
    from mfdv_engine.imported.byom import evaluate
    from mfdv_engine.evaluation import Protocol

    folder, ns = trained
    proto = Protocol(n=64, mc_samples=3, eot_samples=2, reeval=2)
    net = ns["build"]()
    net.load_state_dict(torch.load(folder / "w.pt", weights_only=True))
    rows = evaluate(net.eval(), "mnist", data_root=data_root, attacks="fgsm", protocol=proto)
    assert len(rows) == 1 and rows[0].gradient == "single pass (deterministic)" and rows[0].eps == pytest.approx(0.3)
    assert rows[0].clean_acc > 0.5 and "n=64" in rows[0].protocol_line() and rows[0].robust_acc < rows[0].clean_acc

    noisy = ns["build_noisy"]()
    noisy.load_state_dict(net.state_dict())
    rows = evaluate(noisy.eval(), "mnist", data_root=data_root, attacks="fgsm", protocol=proto, eps="0.1")
    assert [r.gradient for r in rows] == ["single-sample", "EOT-2"]
    assert rows[1].mc_samples == 3 and "MC-3" in rows[1].protocol_line()
    with pytest.raises(ConfigError, match="stochastic=False, but two passes"):  # issue 20: measured, not declared
        evaluate(noisy, "mnist", data_root=data_root, attacks="fgsm", protocol=proto, stochastic=False)
    for attacks in ("transfer-sigma0", "adaptive"):  # no σ = 0 surrogate of opaque noise; the suite says so first
        with pytest.raises(ConfigError, match="cannot be switched off"):
            evaluate(noisy, "mnist", data_root=data_root, attacks=attacks, protocol=proto)
    with pytest.raises(ConfigError, match="must return logits"):
        evaluate(torch.nn.Flatten(), "mnist", data_root=data_root, attacks="fgsm", protocol=proto)


class _Evil:
    """Unpickling this would call open(marker, "w"): code execution, visible as a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_weights_that_need_pickle_are_refused_without_running_them(trained, tmp_path, data_root, capsys):
    folder, _ = trained
    marker = tmp_path / "PWNED"
    evil = tmp_path / "evil.pt"
    state = torch.load(folder / "w.pt", weights_only=True)
    torch.save({"model": state, "payload": _Evil(marker)}, evil)
    p = tmp_path / "p.mfdv.h5"
    line = one_sentence(capsys, "import", "--project", p, "--model-file", f"{folder / 'my_net.py'}:build",
                        "--weights", evil, "--data-root", data_root)
    assert "only pickle can rebuild" in line and "state_dict" in line, line
    assert not marker.exists() and not p.exists()


def test_bad_import_input_is_one_sentence(trained, tmp_path, data_root, capsys):
    folder, ns = trained
    p = tmp_path / "p.mfdv.h5"
    base = ["import", "--project", p, "--data-root", data_root]
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(3, 3)}, wrong)
    assert "do not fit the model" in one_sentence(capsys, *base, "--model-file", f"{folder / 'my_net.py'}:build",
                                                  "--weights", wrong)
    assert "no function 'nope'" in one_sentence(capsys, *base, "--model-file", f"{folder / 'my_net.py'}:nope",
                                                "--weights", folder / "w.pt")
    assert "does not exist" in one_sentence(capsys, *base, "--model-file", tmp_path / "missing.py:build",
                                            "--weights", folder / "w.pt")
    try:
        import safetensors  # noqa: F401
    except ImportError:
        st = tmp_path / "w.safetensors"
        st.write_bytes(b"\0" * 16)
        assert "pip install safetensors" in one_sentence(capsys, *base, "--model-file", f"{folder / 'my_net.py'}:build",
                                                         "--weights", st)
    assert not p.exists()


def test_a_model_file_this_machine_did_not_import_is_never_run(trained, tmp_path, data_root, capsys, monkeypatch):
    folder, _ = trained
    marker = tmp_path / "RAN"
    src = tmp_path / "their_net.py"
    src.write_text(NET + f"\nopen({str(marker)!r}, 'w').close()\n")  # running the file leaves a mark
    (tmp_path / "w.pt").write_bytes((folder / "w.pt").read_bytes())
    p = tmp_path / "p.mfdv.h5"
    code, out, err = run(capsys, "import", "--project", p, "--model-file", f"{src}:build", "--weights",
                         tmp_path / "w.pt", "--data-root", data_root, "--limit", 64, "--device", "cpu")
    assert code == 0 and marker.exists(), err  # the user named it: it ran
    attack = ["attack", "--project", p, "--run", "r001", "--attacks", "fgsm", "--limit", 8,
              "--data-root", data_root, "--device", "cpu"]

    marker.unlink()
    monkeypatch.setenv("MFDV_CONFIG_DIR", str(tmp_path / "another-machine"))
    before = p.read_bytes()
    line = one_sentence(capsys, *attack)
    assert "run r001 was imported from their_net.py, which this machine has not imported" in line, line
    assert "is not run" in line and "mfdv import" not in line and "--model-file" not in line  # no command that runs it
    assert not marker.exists() and p.read_bytes() == before

    monkeypatch.setenv("MFDV_CONFIG_DIR", str(tmp_path / "config"))  # the machine that imported it ...
    src.write_text(src.read_text() + "# changed\n")  # ... but the file changed since
    assert "or which changed since" in one_sentence(capsys, *attack)
    assert not marker.exists() and p.read_bytes() == before


def test_imported_config_is_validated_and_trained_configs_keep_their_shape():
    from mfdv_engine.config import RunConfig

    assert "source" not in RunConfig().to_dict()["model"]  # a trained run's stored config is unchanged
    good = {"file": "/abs/my_net.py", "entry": "build", "sha256": "a" * 64, "stochastic": False, "weights": "w.pt"}
    cfg = RunConfig.from_dict({"model": {"name": "imported", "stochastic": "none", "source": good},
                               "defense": {"name": "none"}}).validate()
    assert RunConfig.from_dict(cfg.to_dict()).model.source == good
    for bad, words in (({**good, "sha256": "xyz"}, "sha256"), ({**good, "file": "rel.py"}, "absolute"),
                       ({**good, "code": "print()"}, "exactly the keys"), (None, "exactly the keys")):
        with pytest.raises(ConfigError, match=words):
            RunConfig.from_dict({"model": {"name": "imported", "stochastic": "none", "source": bad},
                                 "defense": {"name": "none"}}).validate()
    with pytest.raises(ConfigError, match="only for imported"):
        RunConfig.from_dict({"model": {"name": "lenet", "source": good}}).validate()


def test_crafted_weights_files_are_one_sentence_and_leave_nothing_behind(trained, tmp_path, data_root, capsys):
    """Issue 22.3: each used to escape as IndexError, KeyError, struct.error, RuntimeError or TypeError
    (complex64 even after storing a finished run without a checkpoint); NaN weights passed as noise."""
    import zipfile

    folder, _ = trained
    good = torch.load(folder / "w.pt", weights_only=True)
    cases = {}
    cases["empty.pt"] = lambda f: f.write_bytes(b"")
    cases["text.pt"] = lambda f: f.write_text("these are not weights\n" * 5)

    def junk_zip(f):
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("archive/data.pkl", b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x05u.junk\xff\xfe")
            z.writestr("archive/version", "3\n")
    cases["junk-zip.pt"] = junk_zip

    def sparse(f):
        torch.save({**good, "fc.weight": good["fc.weight"].to_sparse()}, f)
    cases["sparse.pt"] = sparse
    cases["complex.pt"] = lambda f: torch.save({k: v.to(torch.complex64) for k, v in good.items()}, f)
    if hasattr(torch, "float8_e4m3fn"):
        cases["float8.pt"] = lambda f: torch.save({k: v.to(torch.float8_e4m3fn) for k, v in good.items()}, f)
    cases["nan.pt"] = lambda f: torch.save({**good, "fc.bias": torch.full_like(good["fc.bias"], float("nan"))}, f)
    p = tmp_path / "p.mfdv.h5"
    for name, make in cases.items():
        w = tmp_path / name
        make(w)
        line = one_sentence(capsys, "import", "--project", p, "--model-file", f"{folder / 'my_net.py'}:build",
                            "--weights", w, "--data-root", data_root, "--limit", 64, "--device", "cpu")
        assert name in line, line
        assert not p.exists(), f"{name} left a project behind"


def test_resuming_an_imported_run_says_it_was_imported(trained, tmp_path, data_root, capsys):
    """Issue 22.8: it answered "unknown model 'imported'"."""
    folder, _ = trained
    p = tmp_path / "p.mfdv.h5"
    run_id = _import(capsys, p, folder, data_root)
    before = p.read_bytes()
    line = one_sentence(capsys, "train", "--project", p, "--resume", run_id, "--data-root", data_root)
    assert "was imported" in line and "nothing to resume" in line and "unknown model" not in line, line
    assert p.read_bytes() == before


def test_a_model_file_may_import_its_sibling_module(trained, tmp_path, data_root, capsys):
    """Issue 20: `import mynet` beside the model file failed with No module named 'mynet'."""
    folder, _ = trained
    (tmp_path / "mynet_parts.py").write_text(NET)
    (tmp_path / "entry.py").write_text("import mynet_parts\n\n\ndef build(num_classes=10):\n"
                                       "    return mynet_parts.build(num_classes)\n")
    (tmp_path / "w.pt").write_bytes((folder / "w.pt").read_bytes())
    code, out, err = run(capsys, "import", "--project", tmp_path / "p.mfdv.h5", "--model-file",
                         f"{tmp_path / 'entry.py'}:build", "--weights", tmp_path / "w.pt", "--data-root", data_root,
                         "--limit", 64, "--device", "cpu")
    assert code == 0, err


def test_an_imported_run_remembers_its_data_folder(trained, tmp_path, data_root, capsys, monkeypatch):
    """Issue 20: --data-root had to be repeated on every attack of an imported run."""
    folder, _ = trained
    p = tmp_path / "p.mfdv.h5"
    rid = _import(capsys, p, folder, data_root)
    empty = tmp_path / "no-data-here"
    empty.mkdir()
    monkeypatch.setenv("MFDV_DATA_DIR", str(empty))   # the default folder holds nothing
    code, out, err = run(capsys, "attack", "--project", p, "--run", rid, "--attacks", "fgsm", "--limit", 8,
                         "--device", "cpu")
    assert code == 0, err
    import mfdv_engine as mfdv

    assert mfdv.runs(p)[0].final["data_root"] == str(data_root.resolve())
