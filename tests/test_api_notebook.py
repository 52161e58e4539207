"""Issue 20, as a researcher drives it from a notebook: models defined here (a CNN, a torchvision
ResNet, an MLP with dropout left on), data in every form they have, results to work with, and the
model left exactly as it was given. Fails on a silent mode change or a contradicting label."""
import threading

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import mfdv_engine as mfdv
from mfdv_engine.data import load_dataset

PROTO = {"n": 64, "mc_samples": 4, "eot_samples": 4, "reeval": 2, "batch_size": 32}
DET = "single pass (deterministic)"


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("demo", None, splits=("test",))
    return ds.test.x[:256].float() / 255, ds.test.y[:256]


def _fit(net, x, y, steps=120):
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(steps):
        i = torch.randint(0, len(y), (64,))
        loss = nn.functional.cross_entropy(net(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


@pytest.fixture(scope="module")
def cnn(digits):
    net = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))
    return _fit(net, *digits).eval()


@pytest.fixture(scope="module")
def dropout_net(digits):
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 10))
    return _fit(net, *digits).train()   # left in train mode, as a user forgets to call eval()


def test_data_in_every_form_gives_the_same_rows(cnn, digits):
    x, y = digits
    forms = [(x, y), (x.numpy(), y.numpy()), TensorDataset(x, y), DataLoader(TensorDataset(x, y), batch_size=50),
             ((x * 255).to(torch.uint8), y)]
    accs = [mfdv.evaluate(cnn, data, ["fgsm"], eps=0.1, protocol=PROTO)[0].robust_acc for data in forms]
    assert len(set(accs)) == 1, accs
    by_name = mfdv.evaluate(cnn, "demo", "fgsm", eps=0.1, protocol=PROTO)
    assert by_name[0].n == 64 and by_name[0].gradient == DET


def test_normalised_data_is_refused_and_normalize_keeps_eps_in_pixel_space(cnn, digits):
    x, y = digits
    with pytest.raises(mfdv.MfdvError, match="look normalised.*normalize=\\(mean, std\\)"):
        mfdv.evaluate(cnn, ((x - 0.13) / 0.31, y), "fgsm", protocol=PROTO)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    _fit(nn.Sequential(mfdv_normalize((0.13,), (0.31,)), net), x, y)
    r = mfdv.evaluate(net.eval(), (x, y), "fgsm", eps=0.1, protocol=PROTO, normalize=((0.13,), (0.31,)))
    assert r[0].clean_acc > 0.5 and r[0].eps == pytest.approx(0.1)


def mfdv_normalize(mean, std):
    from mfdv_engine.models.base import Normalize

    return Normalize(mean, std)


def test_results_hold_verdicts_adversarials_and_display(cnn, digits):
    x, y = digits
    res = mfdv.evaluate(cnn, (x, y), ["fgsm", "pgd10"], eps=0.1, protocol=PROTO)
    assert isinstance(res, mfdv.Result) and [r.attack for r in res] == ["fgsm", "pgd10"]
    ex = res.verdicts(res[1])
    assert ex.robust.shape == (64,) and ex.robust.sum() == round(res[1].robust_acc * 64)
    adv = res.adversarial(res[1])
    assert adv.shape == (64, 1, 28, 28) and (adv - x[:64]).abs().max() <= 0.1 + 1e-6
    broken = ex.broken.nonzero().flatten()
    if len(broken):  # a broken example really is misclassified
        assert (cnn(adv[broken]).argmax(1) != y[:64][broken]).all()
    assert res.verdicts("pgd10") is ex and res.adversarial("pgd10") is adv  # by attack name
    assert repr(ex).startswith("Examples(n=64, ") and "shape (64, 1, 28, 28)" in repr(ex) and "tensor" not in repr(ex)
    text, html = repr(res), res._repr_html_()
    assert "pgd10" in text and "95% CI" in html and "<table>" in html and "n=64" in text
    assert text.count("<- worst") == 1 and "<- worst" in text.splitlines()[1 + res.rows.index(res.worst)]
    assert res.worst.robust_acc == min(r.robust_acc for r in res)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(mfdv.MfdvError, match="pip install pandas"):
            res.to_pandas()
    else:
        df = res.to_pandas()
        assert list(df["attack"]) == ["fgsm", "pgd10"] and df["robust_acc"].dtype.kind == "f"


def test_the_suite_gives_the_worst_case_adversarial_of_each_example(cnn, digits):
    x, y = digits
    res = mfdv.evaluate(cnn, (x, y), "adaptive", eps=0.1, protocol=dict(PROTO, n=32),
                        params={"adaptive": {"n_iter": 5, "restarts": 1, "square_queries": 20}})
    suite = res.worst
    assert "members" in suite.params and suite.attack == "adaptive"
    ex = res.verdicts()   # the worst case's, by default
    assert ex.robust.sum() == round(suite.robust_acc * 32)
    members = [res.verdicts(r) for r in res if r is not suite]
    assert torch.equal(ex.robust, torch.stack([m.robust for m in members]).all(0))
    assert res.adversarial().shape == (32, 1, 28, 28)


def test_a_model_is_never_changed_silently(dropout_net, digits):
    x, y = digits
    modes = [m.training for m in dropout_net.modules()]
    first_param = next(dropout_net.parameters())
    res = mfdv.evaluate(dropout_net, (x, y), "fgsm", eps=0.1, protocol=PROTO)   # mode="eval": dropout off
    assert res[0].gradient == DET
    assert [m.training for m in dropout_net.modules()] == modes   # its own modes back
    assert next(dropout_net.parameters()) is first_param and first_param.device.type == "cpu"
    res = mfdv.evaluate(dropout_net, (x, y), "fgsm", eps=0.1, protocol=PROTO, mode="as-is")   # dropout on
    assert [r.gradient for r in res] == ["single-sample", "EOT-4"] and res[0].mc_samples == 4
    with pytest.raises(mfdv.MfdvError, match="stochastic=True, but two passes"):
        mfdv.evaluate(dropout_net, (x, y), "fgsm", protocol=PROTO, stochastic=True)   # eval mode: deterministic
    with pytest.raises(mfdv.MfdvError, match="stochastic=False, but two passes"):
        mfdv.evaluate(dropout_net, (x, y), "fgsm", protocol=PROTO, mode="as-is", stochastic=False)
    with pytest.raises(mfdv.MfdvError, match="mode must be one of"):
        mfdv.evaluate(dropout_net, (x, y), "fgsm", protocol=PROTO, mode="test")
    assert [m.training for m in dropout_net.modules()] == modes


def test_a_torchvision_resnet_on_cifar_shaped_tensors():
    net = torchvision.models.resnet18(num_classes=10).eval()
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(16, 3, 32, 32, generator=g), torch.randint(0, 10, (16,), generator=g)
    res = mfdv.evaluate(net, (x, y), "fgsm", protocol=dict(PROTO, n=16))
    assert res[0].eps == pytest.approx(8 / 255) and res[0].gradient == DET   # CIFAR-shaped: 8/255 by default
    assert not net.training


def test_one_calling_convention_events_cancel_progress_and_argument_names(cnn, digits, capsys):
    x, y = digits
    events = []
    mfdv.evaluate(cnn, (x, y), "fgsm", protocol=PROTO, on_event=events.append, progress=True)
    assert events and all(isinstance(e, mfdv.Progress) for e in events) and events[-1].fraction == 1.0
    assert "%" in capsys.readouterr().err   # the tqdm bar
    cancel = threading.Event()
    cancel.set()
    assert mfdv.evaluate(cnn, (x, y), "pgd10", protocol=PROTO, cancel=cancel).cancelled
    for bad, says in ((dict(attacks=None), "attacks must"), (dict(protocol=[1]), "protocol must"),
                      (dict(params=[1]), "params must"), (dict(on_event=3), "on_event must"),
                      (dict(cancel=1), "cancel must"), (dict(protocol={"m": 1}), "protocol has no field 'm'")):
        with pytest.raises(mfdv.MfdvError, match=says):
            mfdv.evaluate(cnn, (x, y), **{"attacks": "fgsm", **bad})
    with pytest.raises(mfdv.MfdvError, match="params=") as e:
        mfdv.evaluate(cnn, (x, y), "fgsm", params=["nope=1"])
    assert "--param" not in str(e.value)   # worded for a Python caller
