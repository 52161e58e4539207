import pytest
import torch
from torch import nn

from mfdv_engine.errors import ConfigError
from mfdv_engine.models import Normalize, create_model, list_models, model_entry
from mfdv_engine.stochastic import stochastic_layers

MNIST_MODELS = {"lenet", "simplenet"}
SLOW_FORWARD: set[str] = set()  # every model forwards a batch of 2 quickly enough on CPU


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name,expected",
    [
        ("resnet20", 269722),
        ("resnet32", 464154),
        ("resnet44", 658586),
        ("resnet56", 853018),
        ("resnet20_1.5x", 605026),
        ("resnet20_2x", 1073962),
        ("resnet20_4x", 4286026),
        ("resnet18", 11173962),
    ],
)
def test_plain_cifar10_parameter_counts(name, expected):
    model = create_model(name, num_classes=10, in_channels=3, stochastic="none")
    assert n_params(model) == expected
    assert not stochastic_layers(model)


def test_registry_lists_the_zoo():
    expected = {
        "lenet", "simplenet", "mlp", "resnet20", "resnet32", "resnet44", "resnet56",
        "resnet20_1.5x", "resnet20_2x", "resnet20_4x", "resnet18", "resnet50",
        "wrn34_10", "vgg16", "googlenet", "densenet121",
    }
    assert expected <= set(list_models())
    assert model_entry("lenet").default_input_size == 28
    assert model_entry("resnet20").default_input_size == 32


@pytest.mark.parametrize("name", list_models())
def test_every_model_builds_and_forwards(name):
    torch.manual_seed(0)
    if name == "mlp":
        model = create_model(name, num_classes=3, in_channels=2)
        x = torch.rand(2, 2)
        num_classes = 3
    else:
        ch, size = (1, 28) if name in MNIST_MODELS else (3, 32)
        model = create_model(name, num_classes=10, in_channels=ch)
        x = torch.rand(2, ch, size, size)
        num_classes = 10
        body = model.trunk[0]
        first = body[0] if isinstance(body, nn.Sequential) else next(body.children())
        assert isinstance(first, Normalize)  # the body starts with the in-model normalisation
    assert model.model_name == name
    if name in SLOW_FORWARD:
        return
    model.eval()
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, num_classes)
    assert torch.isfinite(y).all()


def test_lenet_shape():
    model = create_model("lenet", 10, 1)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(400, 120), (120, 84), (84, 10)]


def test_linear123_on_simplenet_all_in_head():
    model = create_model("simplenet", 10, 1, stochastic="linear123")
    assert len(stochastic_layers(model.head)) == 3
    assert len(stochastic_layers(model.trunk)) == 0
    assert len(stochastic_layers(model)) == 3
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3  # simplenet already has three linear layers
    assert sorted(l.dim for l in stochastic_layers(model)) == [128, 256, 64 * 7 * 7]


def test_linear1_is_classifier_input():
    model = create_model("simplenet", 10, 1, stochastic="linear1")
    layers = stochastic_layers(model)
    assert len(layers) == 1
    classifier = [m for m in model.head.modules() if isinstance(m, nn.Linear)][-1]
    assert classifier.out_features == 10
    assert layers[0].dim == classifier.in_features == 128
    assert len(stochastic_layers(model.trunk)) == 0


def test_partial_regularisation():
    model = create_model("simplenet", 10, 1, stochastic="linear12(1)")
    layers = stochastic_layers(model)
    assert len(layers) == 2
    by_dim = {l.dim: l for l in layers}
    assert by_dim[128].regularised  # position 1: classifier input
    assert not by_dim[256].regularised  # position 2


def test_resnet20_linear12_adds_one_hidden_layer():
    plain = create_model("resnet20", 10, 3)
    stoch = create_model("resnet20", 10, 3, stochastic="linear12")
    assert n_params(stoch) - n_params(plain) == 64 * 64 + 64 + 2 * 64
    linears = [m for m in stoch.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(64, 64), (64, 10)]
    assert len(stochastic_layers(stoch.head)) == 2


@pytest.mark.parametrize("bad", ["linear0", "foo", "linear", "linear12(3)", "conv1"])
def test_invalid_placement_raises(bad):
    with pytest.raises(ConfigError):
        create_model("simplenet", 10, 1, stochastic=bad)


def test_unknown_model_raises():
    with pytest.raises(ConfigError):
        create_model("no_such_net", 10, 3)


@pytest.mark.parametrize("name,ch,size", [("simplenet", 1, 28), ("resnet20", 3, 32)])
def test_trunk_deterministic_model_stochastic_in_eval(name, ch, size):
    torch.manual_seed(0)
    model = create_model(name, 10, ch, stochastic="linear1").eval()
    x = torch.rand(2, ch, size, size)
    with torch.no_grad():
        assert torch.equal(model.trunk(x), model.trunk(x))
        assert not torch.equal(model(x), model(x))
