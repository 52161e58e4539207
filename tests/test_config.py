import pytest

from mfdv_engine.config import RunConfig, list_presets, load_preset, parse_value
from mfdv_engine.errors import ConfigError


def test_presets_load_and_validate():
    names = list_presets()
    for required in ("mnist-lenet-mfdv", "mnist-lenet-plain", "cifar10-resnet20-mfdv", "cifar10-resnet18-mfdv"):
        assert required in names
    for n in names:
        cfg = load_preset(n).validate()
        assert RunConfig.from_json(cfg.to_json()) == cfg


def test_overrides_and_fractions():
    cfg = load_preset("mnist-lenet-mfdv").with_overrides(["train.epochs=3", "defense.lambda1=1/50", "train.lr=0.1"])
    assert cfg.train.epochs == 3 and cfg.defense.params["lambda1"] == pytest.approx(0.02) and cfg.train.lr == 0.1
    plain = load_preset("mnist-lenet-mfdv").with_overrides(["defense=none"]).validate()
    assert plain.defense.name == "none" and plain.model.stochastic == "none"
    assert parse_value("8/255") == pytest.approx(8 / 255)


@pytest.mark.parametrize("sets, match", [
    (["defense.lambda1=-0.1"], r"lambda1 must be a finite number in \[0, 10000\]"),
    (["train.weight_decay=-1"], "weight_decay"),
    (["train.epochs=0"], "train.epochs"),
    (["train.lr=abc"], "train.lr must be a number"),
    (["model.name=resnet99"], "unknown model 'resnet99'"),
    (["defense=magic"], "unknown defense 'magic'"),
    (["model.stochastic=conv3"], "unknown stochastic placement"),
    (["train.bogus=1"], "unknown setting"),
    (["defense.bogus=1"], "has no parameter 'bogus'"),
    (["model.stochastic=none"], "needs at least one stochastic layer"),
])
def test_bad_values_get_one_sentence(sets, match):
    with pytest.raises(ConfigError, match=match) as e:
        load_preset("mnist-lenet-mfdv").with_overrides(sets).validate()
    assert "\n" not in str(e.value)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset 'nope'.*mnist-lenet-mfdv"):
        load_preset("nope")
