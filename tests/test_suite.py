"""The adaptive suite on the real MNIST (LeNet, one epoch): worst case, members, storage."""

import numpy as np
import pytest
import torch
from torch import nn

from mfdv_engine import cli
from mfdv_engine.attacks import make_attack
from mfdv_engine.attacks.adaptive import eot_margin_and_loss
from mfdv_engine.config import load_preset
from mfdv_engine.errors import ConfigError
from mfdv_engine.evaluation import Protocol, evaluate_examples
from mfdv_engine.imported.loading import load_run
from mfdv_engine.training.runs import train_run
from mfdv_engine.stochastic import noise_off
from mfdv_engine.project.store import Project
from mfdv_engine.evaluation import Outcome, Row
from mfdv_engine.evaluation.suite import CLEAN_WRONG, SURVIVED, SuiteSpec, combine, parse_attacks, run_suite

CPU = torch.device("cpu")
SMALL = {"n_iter": 10, "restarts": 1, "square_queries": 100, "eot_samples": 4}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_root):
    p = tmp_path_factory.mktemp("suite") / "s.mfdv.h5"
    ids = {}
    for name, preset in (("mfdv", "mnist-lenet-mfdv"), ("plain", "mnist-lenet-plain")):
        cfg = load_preset(preset).with_overrides(["train.device=cpu", "train.epochs=1", "data.limit_train=5000"])
        ids[name] = train_run(p, cfg, data_root=data_root).run_id
    return p, ids, data_root


def _model(runs, which, n=60):
    p, ids, root = runs
    return load_run(Project.open(p), ids[which], data_root=root, device=CPU, limit_test=n)


def test_suite_robust_set_is_the_intersection_of_its_members(runs):
    """Per example, not only in count; checked on the arrays stored in the project."""
    p, ids, root = runs
    code = cli.main(["attack", "--project", str(p), "--run", ids["mfdv"], "--attacks", "adaptive", "--eps", "0.1",
                     "--limit", "48", "--mc", "4", "--reeval", "2", "--eot", "4", "--batch-size", "24",
                     "--data-root", str(root), "--device", "cpu"]
                    + [f"--param=adaptive.{k}={v}" for k, v in SMALL.items() if k != "eot_samples"])
    assert code == 0
    project = Project.open(p)
    rows = project.eval_rows(ids["mfdv"])
    suite = next(r for r in rows if r["attack"] == "adaptive")
    members = [r for r in rows if r["attack"] != "adaptive"]
    assert [m["attack"] for m in suite["params"]["members"]] == [m["attack"] for m in members]
    assert len(members) == 8
    robust = np.stack([project.gallery(ids["mfdv"], m["key"])["robust"] for m in members])
    broken_by = project.gallery(ids["mfdv"], suite["key"])["broken_by"]
    assert broken_by.shape == (48,)
    np.testing.assert_array_equal(broken_by == SURVIVED, (robust == 1).all(0))
    np.testing.assert_array_equal(broken_by == CLEAN_WRONG, robust[0] == -1)
    for i in np.flatnonzero(broken_by >= 0):  # the first member that broke it
        assert robust[broken_by[i], i] == 0 and (robust[:broken_by[i], i] == 1).all()
    assert suite["robust_acc"] == pytest.approx((broken_by == SURVIVED).mean())
    assert suite["robust_acc"] <= min(m["robust_acc"] for m in members)
    assert suite["ci_low"] <= suite["robust_acc"] <= suite["ci_high"]
    assert [m["broke_first"] for m in suite["params"]["members"]] == [int((broken_by == i).sum()) for i in range(8)]


def _outcome(robust, clean, name):
    t = lambda v: torch.tensor(v, dtype=torch.bool)  # noqa: E731
    row = Row(attack=name, norm="Linf", eps=0.1, steps=None, gradient="EOT-4", eot_samples=4, mc_samples=4, n=len(robust),
              seed=0, reeval=2, clean_acc=sum(clean) / len(clean), robust_acc=sum(robust) / len(robust),
              robust_acc_mean=0.0, ci_low=0.0, ci_high=1.0, time_s=1.0)
    return Outcome(row, None, t(robust), t(clean), torch.tensor(robust, dtype=torch.float))


def test_combine_intersects_members_that_break_different_examples():
    clean = [1, 1, 1, 1, 1, 0]
    outs = [_outcome([0, 1, 1, 1, 1, 0], clean, "a"), _outcome([1, 0, 1, 0, 1, 0], clean, "b"),
            _outcome([1, 1, 0, 0, 1, 0], clean, "c")]
    res = combine(outs, SuiteSpec(eps=0.1, eot_samples=4))
    assert res.broken_by.tolist() == [0, 1, 2, 1, SURVIVED, CLEAN_WRONG]
    assert res.row.robust_acc == pytest.approx(1 / 6)  # weaker than every member (each leaves 3 or 4 of 6)
    assert [m["broke_first"] for m in res.row.params["members"]] == [1, 2, 1]


def test_plain_lenet_is_broken_by_the_suite(runs):
    cfg, ds, model = _model(runs, "plain")
    res = run_suite(model, ds.test, SuiteSpec(eps=0.3, **SMALL), Protocol(n=60, batch_size=30), device=CPU)
    assert [r.attack for r in res.members] == ["pgd10", "pgd100", "eot-apgd-ce", "eot-apgd-cw", "autoattack", "square"]
    assert all(r.gradient == "single pass (deterministic)" and r.eot_samples == 1 for r in res.members)
    assert res.row.clean_acc > 0.3
    assert res.row.robust_acc <= 0.02


def test_sigma0_transfer_switches_the_noise_off(runs):
    """Crafted on the noise-free network: it must equal APGD-CE run on that network
    by hand, which it cannot if any draw of noise entered its gradients."""
    from pyautoattack.autopgd_base import APGDAttack
    from mfdv_engine.attacks import rng_isolated

    cfg, ds, model = _model(runs, "mfdv", n=20)
    x, y = ds.test.x[:20].float().div(255), ds.test.y[:20]
    spec = make_attack("transfer-sigma0", eps=0.1, n_iter=10)
    ours = spec.run(model, x, y)
    assert all(m.noise_enabled for m in model.modules() if hasattr(m, "noise_enabled")), "noise must be back on"
    with noise_off(model), rng_isolated(CPU, spec.seed):
        ref = APGDAttack(model, n_iter=10, eps=0.1, seed=spec.seed, loss="ce", device=CPU).perturb(x, y, best_loss=True)
    torch.testing.assert_close(ours, ref.clamp(0, 1))
    with rng_isolated(CPU, spec.seed):  # the same attack with the noise on gives other points
        noisy = APGDAttack(model, n_iter=10, eps=0.1, seed=spec.seed, loss="ce", device=CPU).perturb(x, y, best_loss=True)
    assert not torch.allclose(ours, noisy.clamp(0, 1))


class _CoinFlip(nn.Module):
    """Two classes; the head's noise flips the prediction on half the draws:
    margin z_0 − z_1 = +2 or −1 with probability ½ each (mean +0.5)."""

    noise_enabled = True

    def trunk(self, x):
        return x.flatten(1)[:, :1] * 0

    def head(self, h):
        flip = torch.rand(h.shape[0], 1) < 0.5
        return torch.where(flip, torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 0.0]])) + h

    def forward(self, x):
        return self.head(self.trunk(x))


def test_eot_square_averages_its_loss_over_the_draws():
    """Square lowers the per-draw loss averaged over S draws, and stops an example
    only when the MC-averaged prediction is wrong, never on one lucky draw."""
    model = _CoinFlip()
    x, y = torch.rand(400, 1, 4, 4), torch.zeros(400, dtype=torch.long)
    torch.manual_seed(0)
    z = torch.stack([model(x) for _ in range(200)])  # (S, B, 2): the draws, one pass at a time
    for loss in ("margin", "ce"):
        torch.manual_seed(0)  # the same draws again
        margin, value = eot_margin_and_loss(model, x, y, samples=200, loss=loss)
        per_draw = z[..., 0] - z[..., 1] if loss == "margin" else -torch.nn.functional.cross_entropy(
            z.flatten(0, 1), y.repeat(200), reduction="none").view(200, -1)
        torch.testing.assert_close(value, per_draw.mean(0))
        pbar = z.softmax(-1).mean(0)
        torch.testing.assert_close(margin, (pbar[:, 0] / pbar[:, 1]).log())
        assert (margin > 0).all(), "no example may count as fooled: the averaged prediction is right"
    assert value.mean().item() == pytest.approx(-(0.127 + 1.313) / 2, abs=0.05)  # −CE of [2, 0] and [0, 1]
    single, _ = eot_margin_and_loss(model, x, y, samples=1)
    assert 0.3 < (single < 0).float().mean() < 0.7  # what plain Square sees: half "fooled" by one draw


def test_eot_square_attack_never_stops_on_a_lucky_draw():
    """The attack itself, not only its scoring: on the coin-flip model no query can
    change the prediction, so EOT-Square must spend every query on every example,
    while Square on single draws stops about half of them at once."""
    from pyautoattack.square import SquareAttack

    from mfdv_engine.attacks.adaptive import _eot_square_class

    model = _CoinFlip()
    x, y = torch.rand(60, 1, 4, 4), torch.zeros(60, dtype=torch.long)
    kw = dict(norm="Linf", n_queries=20, eps=0.1, p_init=0.8, n_restarts=1, seed=0, verbose=False, device=CPU)
    torch.manual_seed(0)
    eot = _eot_square_class()(model, 400, **kw)  # S = 400: an averaged vote this far off 1/2 is ~1e-6
    eot.init_hyperparam(x)
    queries, _ = eot.attack_single_run(x, y)
    assert (queries == 21).all()
    plain = SquareAttack(model, **kw)
    plain.init_hyperparam(x)
    queries, _ = plain.attack_single_run(x, y)
    assert 0.3 < (queries == 1).float().mean() < 0.7


def test_head_only_autoattack_rand_matches_full_passes(runs):
    """Same seed, same attack; only where the noise is drawn differs (one (S·B)
    head block against S whole passes), so near-boundary examples may flip.
    Tolerance: the two robust sets agree on ≥ 90 % of the examples and their
    robust accuracies differ by at most 8 points (n = 60, EOT-8, ε = 0.1)."""
    cfg, ds, model = _model(runs, "mfdv")
    proto = Protocol(n=60, mc_samples=8, reeval=2, batch_size=60)
    outs = {}
    for head_only in (True, False):
        spec = make_attack("autoattack-rand", eps=0.1, n_iter=20, eot_iter=8, head_only=head_only)
        outs[head_only] = evaluate_examples(model, ds.test, spec, proto, eot=1, device=CPU)
    a, b = outs[True], outs[False]
    assert (a.robust == b.robust).float().mean() >= 0.9
    assert abs(a.row.robust_acc - b.row.robust_acc) <= 0.08
    assert a.row.robust_acc < a.row.clean_acc  # the attack does something at this ε
    assert "our EOT gradient" in a.row.gradient and "its own EOT loop" in b.row.gradient


def test_bad_suite_input_is_one_sentence_and_leaves_the_project_alone(runs, capsys, tmp_path):
    p, ids, root = runs
    before = p.read_bytes()
    base = ["attack", "--project", str(p), "--run", ids["mfdv"], "--attacks", "adaptive", "--data-root", str(root)]
    for extra, says in ((["--param", "adaptive.members=pgd10,nope"], "unknown member"),
                        (["--eot", "0"], "eot_samples"),
                        (["--param", "adaptive.n_iter=0"], "n_iter"),
                        (["--param", "adaptive.bogus=1"], "parameters are")):
        assert cli.main(base + extra) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err and err.count("\n") == 1
    assert p.read_bytes() == before
    empty = tmp_path / "e.mfdv.h5"
    project = Project.open(empty, create=True)
    with project:
        rid = project.create_run(load_preset("mnist-lenet-mfdv").to_dict(), "never trained")
    before = empty.read_bytes()
    assert cli.main(["attack", "--project", str(empty), "--run", rid, "--attacks", "adaptive",
                     "--data-root", str(root)]) == 2
    assert "no finished epoch" in capsys.readouterr().err and empty.read_bytes() == before
    with pytest.raises(ConfigError, match="does not apply"):
        SuiteSpec(members=("transfer-sigma0",)).member_specs(stochastic=False)
    with pytest.raises(ConfigError, match="not in --attacks"):
        parse_attacks("adaptive", eps=0.1, params=["pgd10.steps=3"])
    with pytest.raises(ConfigError, match="names no member"):
        parse_attacks("adaptive", eps=0.1, params=["adaptive.members="])
    # a member that does not apply to the model fails before any row is written (fgsm would come first)
    plain_before = p.read_bytes()
    assert cli.main(["attack", "--project", str(p), "--run", ids["plain"], "--attacks", "fgsm,adaptive",
                     "--param", "adaptive.members=transfer-sigma0", "--data-root", str(root), "--limit", "8"]) == 2
    assert "does not apply" in capsys.readouterr().err and p.read_bytes() == plain_before


def test_trunk_noise_defense_gets_the_stochastic_suite_with_full_pass_eot(tmp_path, data_root):
    """PNI's noise sits in the trunk: the same members, EOT by whole passes."""
    p = tmp_path / "pni.mfdv.h5"
    cfg = load_preset("mnist-lenet-pni").with_overrides(["train.device=cpu", "train.epochs=1", "data.limit_train=1000"])
    rid = train_run(p, cfg, data_root=data_root).run_id
    cfg, ds, model = load_run(Project.open(p), rid, data_root=data_root, device=CPU, limit_test=16)
    assert getattr(model, "noise_in_trunk", False)
    res = run_suite(model, ds.test, SuiteSpec(eps=0.3, n_iter=3, restarts=1, square_queries=10, eot_samples=3),
                    Protocol(n=16, mc_samples=3, reeval=1, batch_size=16), device=CPU)
    assert [r.attack for r in res.members][2:6] == ["eot-apgd-ce", "eot-apgd-cw", "autoattack-rand", "eot-square"]
    assert res.members[2].eot_samples == 3 and res.row.gradient == "worst case of 8"
    assert all(m.noise_enabled for m in model.modules() if hasattr(m, "noise_enabled"))  # σ = 0 transfer restored it


def _suite_cli(p, run_id, root, extra=()):
    return cli.main(["attack", "--project", str(p), "--run", run_id, "--attacks", "adaptive", "--eps", "0.1",
                     "--limit", "24", "--mc", "4", "--reeval", "2", "--eot", "4", "--batch-size", "24",
                     "--data-root", str(root), "--device", "cpu", *extra]
                    + [f"--param=adaptive.{k}={v}" for k, v in SMALL.items() if k != "eot_samples"])


def test_a_rerun_suite_reads_its_finished_members_back(runs, monkeypatch):
    """Issue 22.6: members stored with the same protocol are not measured again, after a
    complete suite or one cut short; the suite row comes out identical."""
    from mfdv_engine.evaluation import suite as suite_mod

    p, ids, root = runs
    calls = []
    real = suite_mod.evaluate_examples
    monkeypatch.setattr(suite_mod, "evaluate_examples", lambda *a, **k: calls.append(a[2].name) or real(*a, **k))
    assert _suite_cli(p, ids["plain"], root) == 0
    first = [r for r in Project.open(p).eval_rows(ids["plain"]) if r["attack"] == "adaptive"]
    assert len(calls) == 6
    calls.clear()
    assert _suite_cli(p, ids["plain"], root) == 0
    assert calls == []  # every member read back
    again = [r for r in Project.open(p).eval_rows(ids["plain"]) if r["attack"] == "adaptive"]
    strip = lambda r: {k: v for k, v in r.items() if k != "time_s"}  # noqa: E731
    assert [strip(r) for r in again] == [strip(r) for r in first]
    # another protocol (the seed) measures every member again
    calls.clear()
    assert _suite_cli(p, ids["plain"], root, ["--seed", "1"]) == 0
    assert len(calls) == 6


def test_a_suite_cut_short_resumes_after_its_last_finished_member(runs, monkeypatch):
    from mfdv_engine.evaluation import suite as suite_mod
    from mfdv_engine.errors import Cancelled

    p, ids, root = runs
    calls = []
    real = suite_mod.evaluate_examples

    def dies_at_third(*a, **k):
        calls.append(a[2].name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # a Ctrl-C inside the third member
        return real(*a, **k)

    monkeypatch.setattr(suite_mod, "evaluate_examples", dies_at_third)
    try:
        code = _suite_cli(p, ids["plain"], root, ["--seed", "2"])
    except (KeyboardInterrupt, Cancelled):
        code = 130
    assert code != 0
    calls.clear()
    monkeypatch.setattr(suite_mod, "evaluate_examples", lambda *a, **k: calls.append(a[2].name) or real(*a, **k))
    assert _suite_cli(p, ids["plain"], root, ["--seed", "2"]) == 0
    assert calls == ["eot-apgd-ce", "eot-apgd-cw", "autoattack", "square"]  # pgd10 and pgd100 were kept
