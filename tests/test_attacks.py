"""Attack layer: registry, RNG isolation, head-only EOT, PGD/CW/pixel/AutoAttack."""
from __future__ import annotations

import pytest
import torch
import torchattacks

from mfdv_engine.attacks import (
    ExpectationModel, eot_loss_and_grad, list_attacks, make_attack, pgd_eot, rng_isolated,
)
from mfdv_engine.attacks.standard import PerExampleCW
from mfdv_engine.errors import ConfigError
from mfdv_engine.models import create_model
from mfdv_engine.stochastic import StochasticLayer, mc_predict

torch.set_num_threads(2)


def _lenet(stochastic="linear1", seed=0):
    torch.manual_seed(seed)
    return create_model("lenet", 10, 1, stochastic=stochastic, input_size=28).eval()


def _data(n=8, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def _train_on_templates(stochastic: str):
    """LeNet trained briefly on a synthetic 10-class template task."""
    torch.manual_seed(0)
    templates = torch.rand(10, 1, 28, 28)
    def batch(n):
        y = torch.randint(0, 10, (n,))
        return (0.6 * templates[y] + 0.4 * torch.rand(n, 1, 28, 28)).clamp(0, 1), y
    model = create_model("lenet", 10, 1, stochastic=stochastic, input_size=28)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()
    for _ in range(60):
        x, y = batch(64)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    x, y = batch(64)
    return model, x, y


@pytest.fixture(scope="module")
def trained_plain():
    return _train_on_templates("none")


# -- registry / validation ----------------------------------------------------
def test_registry_names_and_errors():
    names = list_attacks()
    for n in ("fgsm", "pgd", "pgd10", "pgd100", "eot-pgd", "cw", "pixel1", "pixel2", "pixel3",
              "pixel5", "autoattack", "autoattack-rand", "square"):
        assert n in names
    with pytest.raises(ConfigError, match="pgd10"):
        make_attack("nope")
    with pytest.raises(ConfigError, match="bogus"):
        make_attack("pgd10", bogus=1)
    with pytest.raises(ConfigError, match="eps"):
        make_attack("pgd10", eps=1.5)
    with pytest.raises(ConfigError, match="steps"):
        make_attack("pgd", steps=0)
    with pytest.raises(ConfigError, match="eot_samples"):
        make_attack("autoattack", eot_samples=5)
    with pytest.raises(ConfigError):
        make_attack("pixel1", eps=2.0)
    p10, p100 = make_attack("pgd10", eps=0.3), make_attack("pgd100", eps=0.3)
    assert p10.protocol()["alpha"] == pytest.approx(0.03) and p100.protocol()["alpha"] == pytest.approx(0.003)
    assert make_attack("eot-pgd").protocol()["eot_samples"] == 20
    cw = make_attack("cw").for_inputs((1, 3, 32, 32)).protocol()  # the paper's settings on CIFAR-like data
    assert (cw["lr"], cw["steps"], cw["c"], cw["binary_search_steps"], cw["kappa"]) == (5e-4, 1000, 1e-3, 9, 0.0)
    assert make_attack("pixel3").protocol()["steps"] == 75


def test_rng_isolated_restores_state():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with rng_isolated("cpu", 7):
        a = torch.rand(3)
        torch.manual_seed(99)
        torch.rand(5)
    assert torch.equal(torch.random.get_rng_state(), before)
    with rng_isolated("cpu", 7):
        assert torch.equal(torch.rand(3), a)


QUICK = {
    "fgsm": {}, "pgd10": {"steps": 2}, "pgd": {"steps": 2, "restarts": 2}, "eot-pgd": {"steps": 2, "eot_samples": 3},
    "cw": {"steps": 5, "binary_search_steps": 2, "lr": 0.01},
    "pixel1": {"steps": 2, "popsize": 20}, "square": {"n_queries": 20, "eps": 0.1},
    "autoattack": {"n_iter": 2, "n_queries": 10, "eps": 0.1},
}


@pytest.mark.parametrize("name", sorted(QUICK))
def test_rng_untouched_and_reproducible(name):
    model = _lenet("none")
    x, y = _data(4)
    atk = make_attack(name, **QUICK[name])
    torch.manual_seed(5)
    import numpy as np
    np.random.seed(5)
    before, np_before = torch.random.get_rng_state(), np.random.get_state()[1].copy()
    a = atk.run(model, x, y)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert (np.random.get_state()[1] == np_before).all()
    b = atk.run(model, x, y)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1


# -- EOT ----------------------------------------------------------------------
class _FixedNoise:
    """Replaces StochasticLayer.forward: serves rows from pre-drawn noise, so a
    head-only (S·B)-row block and S full passes of B rows see the same draws."""

    def __init__(self, noise):
        self.noise, self.pos = noise, 0

    def __call__(self, layer, h):
        n = h.shape[0]
        eps = self.noise[self.pos:self.pos + n]
        self.pos += n
        return h + eps * layer.sigma


def test_eot_gradient_equals_mean_of_full_pass_gradients(monkeypatch):
    model = _lenet("linear1")
    x, y = _data(5)
    S, B = 6, x.shape[0]
    noise = torch.randn(S * B, model.feature_dim)
    fixed = _FixedNoise(noise)
    monkeypatch.setattr(StochasticLayer, "forward", lambda self, h: fixed(self, h))
    _, g_eot = eot_loss_and_grad(model, x, y, S)
    assert fixed.pos == S * B
    fixed.pos = 0
    grads = []
    for _ in range(S):
        xr = x.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(model(xr), y, reduction="sum")
        grads.append(torch.autograd.grad(loss, xr)[0])
    torch.testing.assert_close(g_eot, torch.stack(grads).mean(0), rtol=1e-4, atol=1e-6)
    # and the C&W margin loss variant is finite
    fixed.pos = 0
    _, g_cw = eot_loss_and_grad(model, x, y, S, loss="cw")
    assert torch.isfinite(g_cw).all()


def test_eot_runs_trunk_once_per_gradient():
    model = _lenet("linear1")
    x, y = _data(4)
    calls = []
    h = model.trunk.register_forward_hook(lambda *a: calls.append(1))
    eot_loss_and_grad(model, x, y, 20)
    assert len(calls) == 1
    calls.clear()
    make_attack("eot-pgd", steps=3).run(model, x, y)
    assert len(calls) == 3
    h.remove()


def test_eot_noise_in_trunk_falls_back_to_full_passes(monkeypatch):
    model = _lenet("linear1")
    monkeypatch.setattr(type(model), "noise_in_trunk", True, raising=False)
    x, y = _data(4)
    calls = []
    h = model.trunk.register_forward_hook(lambda *a: calls.append(1))
    _, g = eot_loss_and_grad(model, x, y, 4)
    h.remove()
    assert len(calls) == 4 and torch.isfinite(g).all()


def test_expectation_model_is_log_mc_average():
    model = _lenet("linear1")
    x, _ = _data(3)
    out = ExpectationModel(model, 8)(x)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))


# -- PGD ----------------------------------------------------------------------
def test_eot_pgd_loop_matches_torchattacks_on_plain_model():
    model = _lenet("none")
    x, y = _data(8)
    ours = pgd_eot(model, x, y, eps=0.1, alpha=0.02, steps=5, random_start=False, eot_samples=1)
    ref = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5, random_start=False)(x, y)
    torch.testing.assert_close(ours, ref)


def test_pgd10_lowers_accuracy(trained_plain):
    model, x, y = trained_plain
    clean = (model(x).argmax(1) == y).float().mean().item()
    assert clean > 0.8
    for spec in (make_attack("pgd10", eps=0.3), make_attack("pgd10", eps=0.3, eot_samples=2)):
        adv = spec.run(model, x, y)
        assert (adv - x).abs().max() <= 0.3 + 1e-6
        acc = (model(adv).argmax(1) == y).float().mean().item()
        assert acc < clean - 0.5


def test_fgsm_eot_stays_in_ball():
    model = _lenet("linear1")
    x, y = _data(4)
    adv = make_attack("fgsm", eps=0.05, eot_samples=4).run(model, x, y)
    assert (adv - x).abs().max() <= 0.05 + 1e-6


# -- C&W ----------------------------------------------------------------------
def test_cw_one_search_step_equals_torchattacks(trained_plain):
    model, x, y = trained_plain
    x, y = x[:8], y[:8]
    ours = make_attack("cw", c=0.5, steps=30, lr=0.01, binary_search_steps=1).run(model, x, y)

    class ReferenceMapping(torchattacks.CW):  # torchattacks' loop with our two fixes
        inverse_tanh_space = PerExampleCW.inverse_tanh_space
        TANH_SHRINK = PerExampleCW.TANH_SHRINK
        f = PerExampleCW.margin

    ref = ReferenceMapping(model, c=0.5, kappa=0, steps=30, lr=0.01)(x, y)
    torch.testing.assert_close(ours, ref)


def test_cw_moves_pixels_that_are_exactly_0_or_1(trained_plain):
    """Most MNIST pixels are exactly 0 or 1; torchattacks maps them to ±inf in
    tanh space where nothing moves, the reference C&W code does not."""
    model, x, y = trained_plain
    x = (x[:8] > 0.5).float()
    y = model(x).argmax(1)
    ref = torchattacks.CW(model, c=1.0, steps=100, lr=0.1)(x, y)
    assert torch.equal(ref, x)
    # Adam moves w by about lr per step: from arctanh(0.999999) ≈ 7.25 to the middle in ~75 steps
    ours = make_attack("cw", c=1.0, steps=100, lr=0.1, binary_search_steps=1).run(model, x, y)
    ok = (ours - x).flatten(1).abs().amax(1) > 0
    assert ok.sum() >= 4
    assert (model(ours[ok]).argmax(1) != y[ok]).all()


def test_cw_says_when_it_did_not_converge(trained_plain):
    model, x, y = trained_plain
    x = x[:4]
    y = model(x).argmax(1)
    spec = make_attack("cw", c=1e-3, steps=2, lr=1e-5, binary_search_steps=1)
    adv = spec.run(model, x, y)
    assert torch.equal(adv, x)
    assert any("did not converge" in m and "cw.lr" in m for m in spec.last_messages)


def test_cw_margin_is_right_when_every_logit_is_negative():
    """torchattacks masks the true class with a 0 and takes the max: with
    negative outputs (log-probabilities, as EOT feeds it) its margin is 0."""
    logp = torch.log_softmax(torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 1.0]]), dim=1)
    y = torch.tensor([0, 0])
    want = torch.tensor([logp[0, 0] - logp[0, 1], 0.0])  # second: misclassified, clamped at -κ = 0
    model = torch.nn.Linear(3, 3)
    torch.testing.assert_close(PerExampleCW(model, 1.0).margin(logp, y), want)
    assert torch.equal(torchattacks.CW(model).f(logp, y), torch.zeros(2))  # the bug we work around


def test_cw_with_eot_finds_adversarials_on_a_stochastic_model():
    model, x, y = _train_on_templates("linear1")
    x, y = x[:8], y[:8]
    keep = mc_predict(model, x, 30).argmax(1) == y
    x, y = x[keep], y[keep]
    spec = make_attack("cw", c=10.0, steps=100, lr=0.05, binary_search_steps=1, eot_samples=8)
    adv = spec.run(model, x, y)
    moved = (adv - x).flatten(1).norm(dim=1) > 0.05
    assert moved.sum() >= len(y) // 2
    assert (mc_predict(model, adv[moved], 30).argmax(1) != y[moved]).float().mean() >= 0.5


def test_per_example_cw_scales_f_per_example(trained_plain):
    model, x, y = trained_plain
    x, y = x[:6], y[:6]
    c = torch.tensor([0.1, 0.1, 0.1, 2.0, 2.0, 2.0])
    logits = model(x)
    plain = PerExampleCW(model, 1.0).margin(logits, y)
    torch.testing.assert_close(PerExampleCW(model, c).f(logits, y), c * plain)
    same = PerExampleCW(model, torch.full((6,), 0.3))
    assert same.c == pytest.approx(0.3) and same._cvec is None
    assert PerExampleCW(model, c, steps=5, lr=0.01)(x, y).shape == x.shape


def test_cw_binary_search_finds_at_least_as_many(trained_plain):
    model, x, y = trained_plain
    x, y = x[:16], y[:16]
    def n_success(adv):
        return int(((adv - x).flatten(1).abs().amax(1) > 0).sum())
    fixed = make_attack("cw", c=1e-3, steps=50, lr=0.01, binary_search_steps=1).run(model, x, y)
    searched = make_attack("cw", c=1e-3, steps=50, lr=0.01, binary_search_steps=5).run(model, x, y)
    assert n_success(searched) >= n_success(fixed)
    assert n_success(searched) > 0
    ok = (searched - x).flatten(1).abs().amax(1) > 0
    assert (model(searched[ok]).argmax(1) != y[ok]).all()


# -- n-pixel ------------------------------------------------------------------
@pytest.mark.parametrize("name,n", [("pixel1", 1), ("pixel3", 3)])
def test_pixel_attack_changes_at_most_n_pixels(name, n):
    model = _lenet("none")
    x, y = _data(3)
    adv = make_attack(name, steps=3, popsize=30).run(model, x, y)
    changed = (adv != x).any(dim=1).flatten(1).sum(1)
    assert (changed <= n).all()


def test_batched_perturb_equals_torchattacks_loop():
    import numpy as np
    from mfdv_engine.attacks.standard import BatchedOnePixel
    model = create_model("resnet20", 10, 3, stochastic="none").eval()
    img = torch.rand(1, 3, 8, 8)
    rng = np.random.default_rng(0)
    delta = np.concatenate([rng.uniform(0, 7.99, (50, 2)), rng.uniform(0, 1, (50, 3))], 1)
    delta = np.concatenate([delta, delta[::-1]], 1)  # 2 pixels
    ours = BatchedOnePixel(model, pixels=2)._perturb(img, delta)
    ref = torchattacks.OnePixel(model, pixels=2)._perturb(img, delta)
    torch.testing.assert_close(ours, ref)


# -- AutoAttack / Square --------------------------------------------------------
def test_autoattack_rand_reports_and_stays_in_ball():
    model = _lenet("linear1")
    x, y = _data(8)
    std = make_attack("autoattack", eps=0.1, n_iter=2, n_queries=10)
    adv = std.run(model, x, y)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert any("randomized defense" in m for m in std.last_messages)
    rand = make_attack("autoattack-rand", eps=0.1, n_iter=2, eot_iter=2)
    adv = rand.run(model, x, y)
    assert (adv - x).abs().max() <= 0.1 + 1e-6
    assert rand.protocol()["version"] == "rand" and rand.protocol()["eot_iter"] == 2


def test_square_respects_eps():
    model = _lenet("linear1")
    x, y = _data(8)
    for s in (1, 3):
        adv = make_attack("square", eps=0.05, n_queries=15, eot_samples=s).run(model, x, y)
        assert (adv - x).abs().max() <= 0.05 + 1e-6
