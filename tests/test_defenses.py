"""Baseline defenses: loss terms against hand computations, per-example noise,
weight-decay exclusion, and a few real Trainer steps on the demo data."""
import math

import pytest
import torch
from torch import nn

from mfdv_engine.config import load_preset
from mfdv_engine.data import load_dataset
from mfdv_engine.defenses import get_defense
from mfdv_engine.defenses._common import AdvTrainParams, adversarial_batch
from mfdv_engine.defenses.adv_bnn import BayesConv2d, BayesLinear, model_kl
from mfdv_engine.defenses.l2p import L2PNoise, l2p_gamma, l2p_regulariser
from mfdv_engine.defenses.se_snn import InputDependentNoise, entropy_regulariser
from mfdv_engine.defenses.wca import AnisotropicNoise, trace_term, wca_regulariser
from mfdv_engine.errors import ConfigError
from mfdv_engine.training import Trainer, param_groups

BASELINES = ["pgd-at", "pni", "adv-bnn", "l2p", "se-snn", "wca", "rse"]
STOCHASTIC = ["pni", "adv-bnn", "l2p", "se-snn", "wca", "rse"]


@pytest.fixture(scope="module")
def demo():
    return load_dataset("demo", limit_train=256, limit_test=128)


def _build(name, demo, **params):
    cfg = load_preset(f"mnist-lenet-{name}").with_overrides(["data.name=demo"]).validate()
    d = get_defense(name)
    p = d.parse_params({**cfg.defense.params, **params})
    return d, p, d.build_model(cfg.model, demo, p)


# ------------------------------------------------------------ loss terms

def test_adv_bnn_kl_sums_over_all_layers():
    torch.manual_seed(0)
    s0 = 0.3
    conv = BayesConv2d(nn.Conv2d(2, 3, 3), init_log_sigma=-1.0, prior_sigma=s0)
    lin = BayesLinear(nn.Linear(4, 2), init_log_sigma=-2.0, prior_sigma=s0)
    with torch.no_grad():
        lin.weight_log_sigma.uniform_(-3, 0)
    model = nn.Sequential(conv, nn.Flatten(), lin)

    def kl(mu, ls):
        tot = 0.0
        for m, l in zip(mu.flatten().tolist(), ls.flatten().tolist()):
            s = math.exp(l)
            tot += math.log(s0 / s) + (s * s + m * m) / (2 * s0 * s0) - 0.5
        return tot

    expect = sum(kl(getattr(m, f"{k}_mu"), getattr(m, f"{k}_log_sigma"))
                 for m in (conv, lin) for k in ("weight", "bias"))
    assert model_kl(model).item() == pytest.approx(expect, rel=1e-5)


def test_adv_bnn_loss_is_ce_plus_kl_over_n(demo):
    d, p, model = _build("adv-bnn", demo, eps=0.0, kl_weight=2.0)
    x, y = demo.train.x[:8].float() / 255, demo.train.y[:8]
    total, parts = d.loss(model, x, y, p)
    assert parts["reg"].item() == pytest.approx(2.0 * model_kl(model).item() / len(demo.train), rel=1e-5)
    assert total.item() == pytest.approx(parts["ce"].item() + parts["reg"].item(), rel=1e-5)


def test_l2p_schedule_and_regulariser():
    tau = 0.3
    assert [l2p_gamma(t, tau) for t in (1, 2, 4, 9)] == pytest.approx([0.3, 0.3 / math.sqrt(2), 0.15, 0.1])
    with pytest.raises(ValueError):
        l2p_gamma(0, tau)
    a, b = L2PNoise((2, 2), 0.25), L2PNoise((3,), 0.04)
    reg = l2p_regulariser(nn.Sequential(a, b), 0.5)
    assert reg.item() == pytest.approx(-0.5 * (4 * 0.5 + 3 * 0.2))


def test_l2p_epoch_counter_and_alternation(demo):
    d, p, model = _build("l2p", demo, eps=0.0)
    thetas = [m.theta for m in model.modules() if isinstance(m, L2PNoise)]
    assert thetas and all(t.dim() == 3 for t in thetas)  # C×H×W maps
    x, y = demo.train.x[:128].float() / 255, demo.train.y[:128]
    assert d.epoch_of(model) == 1
    d.loss(model, x, y, p)  # step 0: weights update, θ frozen
    assert not thetas[0].requires_grad
    d.after_step(model)
    assert all(q.requires_grad for q in model.parameters())
    d.loss(model, x, y, p)  # step 1: θ updates, weights frozen
    assert thetas[0].requires_grad
    assert not any(q.requires_grad for q in model.parameters() if all(q is not t for t in thetas))
    d.after_step(model)
    assert d.epoch_of(model) == 2  # 256 examples seen = one epoch of the 256-example split


def test_se_snn_entropy_term():
    torch.manual_seed(0)
    layer = InputDependentNoise(3, init_sigma=0.7)
    h = torch.randn(4, 3)
    layer(h)
    a = h @ layer.f_sigma.weight.T + layer.f_sigma.bias
    sig = torch.log1p(torch.exp(a))
    expect = sum(math.log(v) for v in sig.flatten().tolist()) / 4
    assert layer.last_entropy.item() == pytest.approx(expect, rel=1e-5)
    assert entropy_regulariser(nn.Sequential(layer), 0.1).item() == pytest.approx(-0.1 * expect, rel=1e-5)


def test_wca_trace_term():
    torch.manual_seed(0)
    layer = AnisotropicNoise(3)
    with torch.no_grad():
        layer.L.copy_(torch.randn(3, 3))  # upper part must be ignored
    lin = nn.Linear(3, 2)
    layer.next_linear.append(lin)
    L = [[layer.L[i, j].item() if j <= i else 0.0 for j in range(3)] for i in range(3)]
    S = [[sum(L[i][k] * L[j][k] for k in range(3)) for j in range(3)] for i in range(3)]
    W = lin.weight.tolist()
    tr = sum(W[o][i] * S[i][j] * W[o][j] for o in range(2) for i in range(3) for j in range(3))
    assert trace_term(layer).item() == pytest.approx(tr, rel=1e-5)
    reg = wca_regulariser(nn.Sequential(layer, lin), 0.2)
    assert reg.item() == pytest.approx(-0.2 * math.log(tr), rel=1e-5)
    # the noise covariance is L Lᵀ
    torch.manual_seed(1)
    z = layer(torch.zeros(20000, 3))
    assert torch.allclose(torch.cov(z.T), layer.covariance().detach(), atol=0.15 * layer.covariance().abs().max().item())


# ------------------------------------------------------- adversarial batch

def test_pgd_batch_stays_in_ball_and_leaves_param_grads_alone(demo):
    d, p, model = _build("pgd-at", demo)
    x, y = demo.train.x[:16].float() / 255, demo.train.y[:16]
    for variant in ("pgd", "fgsm-rs"):
        q = AdvTrainParams(eps=0.1, alpha=0.05, steps=3, variant=variant)
        xa = adversarial_batch(model, x, y, q)
        assert (xa - x).abs().max() <= 0.1 + 1e-6 and xa.min() >= 0 and xa.max() <= 1
        assert not xa.requires_grad
    assert all(q.grad is None for q in model.parameters())


def test_bad_params_are_config_errors():
    with pytest.raises(ConfigError):
        get_defense("pgd-at").parse_params({"variant": "cw"})
    with pytest.raises(ConfigError):
        get_defense("pni").parse_params({"mode": "global"})
    with pytest.raises(ConfigError):
        load_preset("mnist-lenet-rse").with_overrides(["model.name=mlp"]).validate()


# ------------------------------------------------------ per-example noise

@pytest.mark.parametrize("name,extra", [(n, {}) for n in STOCHASTIC] + [("pni", {"target": "weight"}),
                                        ("pni", {"mode": "elementwise"}), ("pni", {"mode": "channelwise", "target": "weight"})])
def test_per_example_noise(name, extra, demo):
    torch.manual_seed(0)
    _, _, model = _build(name, demo, **extra)
    model.eval()
    x = demo.train.x[:1].float().div(255).repeat(2, 1, 1, 1)
    with torch.no_grad():
        out = model(x)
    assert not torch.allclose(out[0], out[1]), f"{name}: identical rows got identical outputs"
    assert getattr(model, "noise_in_trunk", False) == (name not in ("se-snn", "wca"))


# ------------------------------------------------------ weight decay

@pytest.mark.parametrize("name", ["pni", "adv-bnn", "l2p", "wca"])
def test_noise_scales_get_no_weight_decay(name, demo):
    _, _, model = _build(name, demo, mode="elementwise") if name == "pni" else _build(name, demo)
    noise_names = ("alpha", "log_sigma", "theta", ".L")
    groups = param_groups(model, 5e-4)
    decayed = {id(p) for p in groups[0]["params"]}
    noise = [(n, p) for n, p in model.named_parameters() if any(k in n for k in noise_names)]
    assert noise
    assert all(id(p) not in decayed for _, p in noise)
    assert any(p.ndim >= 2 for _, p in noise)  # the exclusion is not just the ndim rule


# ------------------------------------------------------ real training

@pytest.mark.parametrize("name", BASELINES)
def test_trains_on_demo(name, demo):
    cfg = load_preset(f"mnist-lenet-{name}").with_overrides(
        ["data.name=demo", "data.limit_train=256", "data.limit_test=128", "train.device=cpu", "train.epochs=1",
         "train.eval_mc_samples=2"])
    trainer = Trainer(cfg, demo)
    (res,) = trainer.fit()
    assert math.isfinite(res.row["loss"]) and math.isfinite(res.row["ce"]) and math.isfinite(res.row["reg"])
    assert 0 <= res.row["test_acc"] <= 1


def test_every_fixed_choice_parameter_is_listed_with_its_values():
    """Issue 21: the wizard offers these as lists, not free text; each default is one of its values."""
    from mfdv_engine.defenses import get_defense, list_defenses

    assert get_defense("pni").param_choices()["mode"] == ("layerwise", "channelwise", "elementwise")
    assert get_defense("pgd-at").param_choices()["random_start"] == (True, False)
    for name in list_defenses():
        d = get_defense(name)
        for key, values in d.param_choices().items():
            assert d.default_params()[key] in values, (name, key)
            for v in values:  # every listed value validates
                d.parse_params({key: v})
