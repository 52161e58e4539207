"""`mfdv noise`: where the learned noise sits, checked against a model whose answer is known."""
import json

import pytest
import torch
from torch import nn

import mfdv_engine as mfdv
from mfdv_engine.data.base import Split
from mfdv_engine.errors import ConfigError
from mfdv_engine.evaluation.noise import measure_noise
from mfdv_engine.stochastic import StochasticLayer
from planting import run


class _Mask(nn.Module):
    def forward(self, x):
        return x * torch.tensor([1.0, 1.0, 0.0, 0.0])   # features 2 and 3 are dead: 0 for every input


class _Known(nn.Module):
    """trunk → noise → linear head, as the tool's models are built (MC prediction runs the head only)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = _Mask()
        noise, linear = StochasticLayer(4), nn.Linear(4, 2, bias=False)
        with torch.no_grad():
            noise.sigma.copy_(torch.tensor([0.1, 0.2, 3.0, 5.0]))
            linear.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))  # the dead features are ignored
        self.head = nn.Sequential(noise, linear)

    def forward(self, x):
        return self.head(self.trunk(x))


def _known_model() -> nn.Module:
    return _Known().eval()


def test_a_known_model_gives_its_known_numbers():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 4, generator=g) * torch.tensor([1.0, 2.0, 1.0, 1.0])
    split = Split(x, (x[:, 1] > x[:, 0]).long())
    rep = measure_noise(_known_model(), split, run_id="t", draws=50, device=torch.device("cpu"))
    (layer,) = rep.layers
    assert (layer.dim, layer.live) == (4, 2)
    assert layer.sigma_live == pytest.approx(0.15) and layer.sigma_dead == pytest.approx(4.0)
    assert layer.noise_to_signal == pytest.approx((0.1 / 1.0 + 0.2 / 2.0) / 2, rel=0.05)  # median of two = mean
    assert rep.logit_noise_sd == pytest.approx(0.15, rel=0.05)   # the logits wobble by the live σ only
    assert rep.logit_spread_sd == pytest.approx(1.5, rel=0.05)   # std of x0 and x1: 1 and 2
    assert rep.acc_noise_off == 1.0 and 0.9 < rep.acc_one_draw < 1.0 and rep.acc_mc >= rep.acc_one_draw
    assert "2/4 features live" in str(rep) and "σ = 0 100.0%" in str(rep)


def test_a_model_without_learned_noise_is_one_sentence():
    with pytest.raises(ConfigError, match="has no learned-variance layer"):
        measure_noise(nn.Linear(4, 2), Split(torch.zeros(3, 4), torch.zeros(3).long()), run_id="r9",
                      device=torch.device("cpu"))


def test_noise_from_the_cli_and_the_api(base, capsys, data_root):
    code, out, err = run(capsys, "noise", "--project", base, "--run", "r002", "--n", "300", "--data-root", data_root,
                         "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["n"] == 300 and d["layers"] and 0 <= d["acc_mc"] <= 1 and d["logit_noise_sd"] > 0
    rep = mfdv.noise(base, "r002", n=300, data_root=data_root, device="cpu")
    assert rep.to_dict() == d   # same seed, same numbers
    code, out, err = run(capsys, "noise", "--project", base, "--run", "r002", "--n", "1", "--data-root", data_root)
    assert code == 2 and "n ≥ 2" in err and "Traceback" not in err
