"""Margin-loss PGD and the steps / EOT-samples sweeps ("where the attack stops gaining")."""
import json
import math

import pytest
import torch
import torchattacks
from torch import nn

from mfdv_engine.attacks import make_attack
from mfdv_engine.config import load_preset
from mfdv_engine.errors import ConfigError
from mfdv_engine.evaluation import Protocol
from mfdv_engine.imported.loading import load_run
from mfdv_engine.models import create_model
from mfdv_engine.training.runs import train_run
from mfdv_engine.project.store import Project
from mfdv_engine.evaluation.sweeps import DEFAULT_EOT, DEFAULT_STEPS, run_sweep, sweep_points
from test_cli import _bad, mfdv

CPU = torch.device("cpu")


class _Linear(nn.Module):
    """z = W x + b on 2 inputs, split as every model is: trunk (identity) + head (the linear map)."""

    def __init__(self, b0: float) -> None:
        super().__init__()
        self.trunk = nn.Identity()
        self.head = nn.Linear(2, 3)
        with torch.no_grad():
            # W1 − W0 = (1, −0.1) and W2 − W0 = (−0.1, 5): the best other class is 1, so the margin's
            # gradient is (1, −0.1); cross-entropy mixes in class 2 and its gradient is (+, +)
            self.head.weight.copy_(torch.tensor([[0.0, 0.0], [1.0, -0.1], [-0.1, 5.0]]))
            self.head.bias.copy_(torch.tensor([b0, 1.0, -1.05]))

    def forward(self, x):
        return self.head(self.trunk(x))


@pytest.mark.parametrize("b0", [3.0, 0.0])  # 3: correctly classified; 0: already fooled (the margin is not clamped)
@pytest.mark.parametrize("eot", [1, 3])
def test_margin_pgd_steps_along_the_margin_gradient(b0, eot):
    model, x, y = _Linear(b0), torch.tensor([[0.5, 0.5]]), torch.tensor([0])
    logits = model(x)[0]
    assert logits[1] > logits[2]  # class 1 is the best other class: margin gradient = W1 − W0
    kw = dict(eps=0.1, steps=1, alpha=0.1, random_start=False)
    margin = make_attack("pgd", loss="cw", **kw).run(model, x, y, eot_samples=eot)
    torch.testing.assert_close(margin, torch.tensor([[0.6, 0.4]]))  # x + α·sign(1, −0.1)
    ce = make_attack("pgd", loss="ce", **kw).run(model, x, y, eot_samples=eot)
    torch.testing.assert_close(ce, torch.tensor([[0.6, 0.6]]))  # x + α·sign(p1(1, −0.1) + p2(−0.1, 5))


def test_single_sample_margin_pgd_does_not_fall_back_to_torchattacks(monkeypatch):
    model, x, y = _Linear(3.0), torch.tensor([[0.5, 0.5]]), torch.tensor([0])

    def refuse(*a, **k):
        raise AssertionError("torchattacks.PGD is cross-entropy only")

    monkeypatch.setattr(torchattacks, "PGD", refuse)
    make_attack("pgd10", eps=0.1, loss="cw").run(model, x, y)
    with pytest.raises(AssertionError, match="cross-entropy only"):
        make_attack("pgd10", eps=0.1).run(model, x, y)


def test_pgd_loss_is_validated_and_recorded():
    assert make_attack("pgd10").protocol()["loss"] == "ce"
    assert make_attack("eot-pgd", loss="cw").protocol()["loss"] == "cw"
    for bad in ("hinge", "", None, 1):
        with pytest.raises(ConfigError, match="loss"):
            make_attack("pgd10", loss=bad)


# -- sweeps on a LeNet MFDV trained one epoch on 3,000 real MNIST images ------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_root):
    p = tmp_path_factory.mktemp("sweep") / "p.mfdv.h5"
    cfg = load_preset("mnist-lenet-mfdv").with_overrides(
        ["train.device=cpu", "train.epochs=1", "data.limit_train=3000", "data.limit_test=200"])
    return p, {"mfdv": train_run(p, cfg, data_root=data_root).run_id}


def _load(trained, data_root, which):
    p, ids = trained
    return load_run(Project.open(p), ids[which], data_root=data_root, device=CPU, limit_test=16)


def test_eot_sweep_defaults_to_the_margin_loss_one_row_per_point(trained, data_root):
    _, ds, model = _load(trained, data_root, "mfdv")
    seen = []
    rows = run_sweep(model, ds.test, Protocol(n=12, mc_samples=2, reeval=1), kind="eot", device=CPU, eps=0.3,
                     values=[1, 2, 4], on_row=lambda r, g: seen.append(r))
    assert seen == rows
    assert [r.eot_samples for r in rows] == [1, 2, 4]
    assert [r.gradient for r in rows] == ["single-sample", "EOT-2", "EOT-4"]
    for r in rows:
        assert (r.params["sweep"], r.params["loss"], r.steps) == ("eot", "cw", 10)
        assert r.key.endswith("|loss=cw") and "C&W margin loss" in r.protocol_line()
        assert r.ci_low <= r.robust_acc <= r.ci_high


def test_steps_sweep_rows_carry_steps_and_loss_and_keys_keep_losses_apart(trained, data_root):
    _, ds, model = _load(trained, data_root, "mfdv")
    proto = Protocol(n=8, mc_samples=2, eot_samples=2, reeval=1)
    cw = run_sweep(model, ds.test, proto, kind="steps", device=CPU, eps=0.3, values=[1, 3])
    assert [(r.steps, r.gradient, r.params["loss"]) for r in cw] == [
        (1, "single-sample", "cw"), (1, "EOT-2", "cw"), (3, "single-sample", "cw"), (3, "EOT-2", "cw")]
    ce = run_sweep(model, ds.test, proto, kind="steps", device=CPU, eps=0.3, values=[1, 3], loss="ce")
    assert {r.params["loss"] for r in ce} == {"ce"}
    keys = [r.key for r in cw + ce]
    assert len(set(keys)) == len(keys) == 8  # a CE row never overwrites the margin row of the same point
    eps = run_sweep(model, ds.test, proto, kind="eps", device=CPU, eps=0.3, values=[0.1])
    assert {r.params["loss"] for r in eps} == {"ce"}  # the ε sweep keeps Figure 3's cross-entropy


def test_default_points_reach_s100_and_1000_steps():
    assert max(DEFAULT_EOT) == 100 and max(DEFAULT_STEPS) == 1000
    pts = sweep_points("eot", None, 0.3, 20, True)
    assert [s for _, s in pts] == list(DEFAULT_EOT) and {spec.loss for spec, _ in pts} == {"cw"}
    pts = sweep_points("steps", None, 0.3, 20, True)
    assert [spec.steps for spec, s in pts if s == 1] == list(DEFAULT_STEPS)


@pytest.mark.parametrize("kind, values, loss, match", [
    ("eot", [0], None, "whole numbers ≥ 1"),
    ("eot", [2.5], None, "whole numbers ≥ 1"),
    ("eot", [math.inf], None, "whole numbers ≥ 1"),
    ("eot", [math.nan], None, "whole numbers ≥ 1"),
    ("eot", [True], None, "whole numbers ≥ 1"),
    ("steps", [0], None, "whole numbers ≥ 1"),
    ("steps", [-3], None, "whole numbers ≥ 1"),
    ("steps", [10.5], None, "whole numbers ≥ 1"),
    ("steps", [], None, "at least one value"),
    ("eps", [1.5], None, r"\[0, 1\]"),
    ("steps", [10], "hinge", "unknown sweep loss 'hinge'"),
    ("boundary", [1], None, "unknown sweep"),
])
def test_bad_sweep_input_is_refused(kind, values, loss, match):
    with pytest.raises(ConfigError, match=match):
        sweep_points(kind, values, 0.3, 20, True, loss)


def test_eot_sweep_of_a_deterministic_model_is_refused(trained, data_root):
    _, ds, _ = _load(trained, data_root, "mfdv")
    model = create_model("lenet", 10, 1, stochastic="none", input_size=28).eval()  # no noise anywhere
    with pytest.raises(ConfigError, match="stochastic model"):
        run_sweep(model, ds.test, Protocol(n=4, mc_samples=1, reeval=1), kind="eot", device=CPU, eps=0.3)


def test_cli_sweep_loss_and_bad_input(trained, data_root):
    p, ids = trained
    base = ["sweep", "--project", p, "--run", ids["mfdv"], "--data-root", data_root]
    before = p.read_bytes()
    assert "whole numbers ≥ 1" in _bad(*base, "--kind", "eot", "--values", "0")
    assert "whole numbers ≥ 1" in _bad(*base, "--kind", "steps", "--values", "1,2.5")
    assert "whole numbers ≥ 1" in _bad(*base, "--kind", "steps", "--values", "0")
    assert "invalid choice" in _bad(*base, "--kind", "steps", "--loss", "dlr")
    assert p.read_bytes() == before
    rows = json.loads(mfdv(*base, "--kind", "eot", "--values", "1,3", "--limit", 6, "--mc", 2, "--reeval", 1,
                           "--loss", "ce", "--json").stdout)
    assert [(r["eot_samples"], r["params"]["loss"]) for r in rows] == [(1, "ce"), (3, "ce")]
    assert all("cross-entropy loss" in r["protocol"] for r in rows)
