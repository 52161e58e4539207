import torch
from torch import nn

from mfdv_engine.models import create_model
from mfdv_engine.stochastic import (
    SIGMA_FLOOR, StochasticLayer, mc_predict, mfdv_regulariser, set_noise, stochastic_layers,
)


def test_noise_is_drawn_per_example_and_stays_on_in_eval():
    layer = StochasticLayer(5)
    layer.eval()
    h = torch.zeros(4, 5)
    out = layer(h)
    assert out.shape == (4, 5)
    # every row got its own draw: no two rows equal
    assert all(not torch.equal(out[i], out[j]) for i in range(4) for j in range(i + 1, 4))
    assert not torch.equal(layer(h), layer(h))


def test_sigma_init_uniform_positive_and_switchable():
    torch.manual_seed(0)
    layer = StochasticLayer(10000)
    s = layer.sigma.detach()
    assert s.min() >= SIGMA_FLOOR and s.max() <= 1.0
    assert abs(s.mean().item() - 0.5) < 0.02  # Uniform(0, 1)
    layer.noise_enabled = False
    h = torch.randn(3, 10000)
    assert torch.equal(layer(h), h)
    with torch.no_grad():
        layer.sigma.fill_(-1.0)
    layer.project_()
    assert abs(layer.sigma.min().item() - SIGMA_FLOOR) < 1e-9


def test_regulariser_value_and_gradient_cover_every_layer():
    torch.manual_seed(0)
    model = create_model("simplenet", num_classes=10, in_channels=1, stochastic="linear123", input_size=28)
    layers = stochastic_layers(model)
    assert len(layers) == 3
    lam = 0.37
    reg = mfdv_regulariser(model, lam)
    # hand computation: −λ1 Σ over all layers Σ_i ln σ_i
    expected = -lam * sum(float(torch.log(l.sigma.detach().double()).sum()) for l in layers)
    assert abs(reg.item() - expected) < 1e-3 * abs(expected)
    reg.backward()
    for l in layers:
        torch.testing.assert_close(l.sigma.grad, -lam / l.sigma.detach(), rtol=1e-5, atol=0)


def test_regulariser_respects_regularised_subset():
    model = create_model("simplenet", num_classes=10, in_channels=1, stochastic="linear12(1)", input_size=28)
    layers = stochastic_layers(model)
    reg = mfdv_regulariser(model, 1.0)
    reg.backward()
    covered = [l for l in layers if l.regularised]
    skipped = [l for l in layers if not l.regularised]
    assert len(covered) == 1 and len(skipped) == 1
    assert skipped[0].sigma.grad is None
    torch.testing.assert_close(covered[0].sigma.grad, -1.0 / covered[0].sigma.detach())


def test_sigma_zero_ablation_makes_model_deterministic():
    model = create_model("lenet", 10, 1, stochastic="linear1", input_size=28).eval()
    x = torch.rand(3, 1, 28, 28)
    assert not torch.equal(model(x), model(x))
    set_noise(model, False)
    assert torch.equal(model(x), model(x))


def _count_calls(module: nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *a: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_mc_predict_matches_full_passes_in_distribution_and_runs_trunk_once():
    torch.manual_seed(1)
    model = create_model("lenet", 10, 1, stochastic="linear1", input_size=28).eval()
    with torch.no_grad():  # large σ so the noise matters
        stochastic_layers(model)[0].sigma.fill_(3.0)
    x = torch.rand(2, 1, 28, 28)
    trunk_calls = _count_calls(model.trunk)
    S = 4000
    p_mc = mc_predict(model, x, samples=S)
    assert trunk_calls[0] == 1, "MC prediction must run the trunk once"
    with torch.no_grad():
        full = torch.stack([torch.softmax(model(x), -1) for _ in range(S)])
    assert trunk_calls[0] == 1 + S
    p_full = full.mean(0)
    # the two estimates of the same expectation agree within a few standard errors
    se = full.std(0) / S**0.5
    assert torch.all((p_mc - p_full).abs() <= 5 * se * 2**0.5 + 1e-6)
    assert p_mc.shape == (2, 10) and torch.allclose(p_mc.sum(-1), torch.ones(2))
    # and the distribution is not degenerate: noise really changes single predictions
    assert full[:, 0].std(0).max() > 0.01


def test_mc_predict_is_deterministic_for_plain_model():
    model = create_model("lenet", 10, 1, stochastic="none", input_size=28).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(mc_predict(model, x, 15), torch.softmax(model(x), -1), rtol=1e-5, atol=1e-6)


def test_mfdv_defense_loss_uses_the_same_regulariser_and_projects_sigma():
    from mfdv_engine.defenses import get_defense

    d = get_defense("mfdv")
    params = d.parse_params({"lambda1": 0.3})
    model = create_model("simplenet", 10, 1, stochastic="linear12(1)", input_size=28)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    total, parts = d.loss(model, x, y, params)
    torch.testing.assert_close(parts["reg"], mfdv_regulariser(model, 0.3))
    torch.testing.assert_close(total, parts["ce"] + parts["reg"])
    with torch.no_grad():
        stochastic_layers(model)[1].sigma.fill_(-5.0)
    d.after_step(model)
    assert abs(stochastic_layers(model)[1].sigma.min().item() - SIGMA_FLOOR) < 1e-9
