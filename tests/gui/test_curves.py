"""The live curves' data path: vectorised smoothing, growing columns, the σ band's envelope."""
import numpy as np
import pytest

from mfdv_studio.views.training import CurveBuffer, envelope, smooth


def _ema_loop(y, w):
    out, acc = np.empty(len(y)), float(y[0])
    for i, v in enumerate(y):
        acc = w * acc + (1 - w) * float(v)
        out[i] = acc
    return out


@pytest.mark.parametrize("n", [1, 5, 256, 257, 1000])
@pytest.mark.parametrize("w", [0.3, 0.6, 0.99])
def test_block_smoothing_equals_the_running_average(n, w):
    y = np.random.default_rng(n).normal(size=n)
    np.testing.assert_allclose(smooth(y, w), _ema_loop(y, w), atol=1e-9)


def test_columns_grow_and_keep_fields_that_start_late():
    b = CurveBuffer()
    for i in range(200):
        b.add("step", {"step": i, "loss": float(i), "note": "not a number", **({"sigma": 2.0} if i >= 100 else {})})
    s = b.arrays()["step"]
    assert len(s["step"]) == len(s["loss"]) == len(s["sigma"]) == 200
    assert np.isnan(s["sigma"][:100]).all() and (s["sigma"][100:] == 2.0).all()
    assert s["loss"][199] == 199.0 and "note" not in s and b.points == 200


def test_envelope_keeps_the_extremes():
    x = np.arange(10_000.0)
    lo, hi = np.sin(x / 50) - 1, np.cos(x / 70) + 1
    bx, blo, bhi = envelope(x, lo, hi, points=500)
    assert len(bx) <= 500 and bx[0] == 0
    assert blo.min() == lo.min() and bhi.max() == hi.max()


def test_sweep_plots_carry_intervals_and_protocol(qtbot):
    import pyqtgraph as pg

    from mfdv_studio.views.robustness import RobustnessView

    view = RobustnessView()
    qtbot.addWidget(view)
    rows = []
    for i, eps in enumerate((0.0, 0.1, 0.2)):
        for grad in ("single-sample", "EOT-20"):
            rows.append({"run_id": "r001", "attack": "pgd10", "norm": "Linf", "eps": eps, "steps": 10, "gradient": grad,
                         "eot_samples": 20 if grad != "single-sample" else 1, "mc_samples": 15, "n": 200, "seed": 0,
                         "reeval": 3, "clean_acc": 0.9, "robust_acc": 0.9 - 0.3 * i, "robust_acc_mean": 0.9 - 0.3 * i,
                         "ci_low": 0.85 - 0.3 * i, "ci_high": 0.93 - 0.3 * i, "time_s": 1.0,
                         "params": {"sweep": "eps"}, "messages": [], "key": f"pgd10|{eps}|{grad}|sweep=eps"})
    view.set_rows(rows)
    bars = [it for it in view.p_eps.items if isinstance(it, pg.ErrorBarItem)]
    assert len(bars) == 2
    names = [name for _, name in ((s, l.text) for s, l in view.p_eps.legend.items)]
    assert all("MC-15" in n and "n=200" in n and "95% CI" in n for n in names), names
