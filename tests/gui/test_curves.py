"""The live curves' data path: vectorised smoothing, growing columns, the σ band's envelope."""
import numpy as np
import pytest

from mfdv_studio.views.curvedata import CurveBuffer, envelope, smooth


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
    assert len(names) == 2 and all("r001" in n and "CE loss" in n for n in names), names
    # what every series shares is said once, in the title; the bars say what they are
    assert "MC-15" in view.p_eps.titleLabel.text and "n=200" in view.p_eps.titleLabel.text
    assert "95% CI" in view.p_eps.getAxis("left").labelText


def _sweep_row(sweep, *, steps, eot, loss, acc, run="r001"):
    grad = f"EOT-{eot}" if eot > 1 else "single-sample"
    key = f"pgd|steps={steps}|{grad}|sweep={sweep}" + (f"|loss={loss}" if loss != "ce" else "")
    return {"run_id": run, "attack": "pgd", "norm": "Linf", "eps": 0.3, "steps": steps, "gradient": grad,
            "eot_samples": eot, "mc_samples": 15, "n": 200, "seed": 0, "reeval": 3, "clean_acc": 0.95,
            "robust_acc": acc, "robust_acc_mean": acc, "ci_low": acc - 0.05, "ci_high": acc + 0.04, "time_s": 1.0,
            "params": {"sweep": sweep, "loss": loss}, "messages": [], "key": key}


def _curves_and_bars(plot):
    import pyqtgraph as pg

    curves = [it for it in plot.items if isinstance(it, pg.PlotDataItem)]
    bars = [it for it in plot.items if isinstance(it, pg.ErrorBarItem)]
    return curves, bars


def test_steps_and_eot_sweeps_draw_points_with_their_intervals(qtbot):
    import numpy as np

    from mfdv_studio.views.robustness import RobustnessView

    view = RobustnessView()
    qtbot.addWidget(view)
    steps, samples = (1, 10, 100, 1000), (1, 2, 5, 10, 20, 50, 100)
    rows = [_sweep_row("steps", steps=s, eot=e, loss="cw", acc=0.8 - 0.2 * i - 0.1 * (e > 1))
            for i, s in enumerate(steps) for e in (1, 20)]
    rows += [_sweep_row("steps", steps=s, eot=1, loss="ce", acc=0.9 - 0.2 * i) for i, s in enumerate(steps)]
    rows += [_sweep_row("eot", steps=10, eot=e, loss="cw", acc=0.7 - 0.1 * i) for i, e in enumerate(samples)]
    view.set_rows(rows)

    for plot, xs, n_series in ((view.p_steps, steps, 3), (view.p_eot, samples, 1)):
        curves, bars = _curves_and_bars(plot)
        assert len(curves) == len(bars) == n_series
        assert plot.getAxis("bottom").logMode  # the swept value on a log axis
        for curve, bar in zip(curves, bars):
            np.testing.assert_allclose(curve.xData, xs)
            # each interval sits on its point (log10 x, as the axis draws it) and spans [ci_low, ci_high] in %
            np.testing.assert_allclose(bar.opts["x"], np.log10(xs))
            np.testing.assert_allclose(bar.opts["y"], curve.yData)
            np.testing.assert_allclose(bar.opts["bottom"], 5.0)
            np.testing.assert_allclose(bar.opts["top"], 4.0)
    _, eot_y = _curves_and_bars(view.p_eot)[0][0].getData()
    np.testing.assert_allclose(eot_y, [100 * (0.7 - 0.1 * i) for i in range(len(samples))])

    steps_names = [label.text for _, label in view.p_steps.legend.items]
    assert len(steps_names) == 3
    assert sum("single-sample" in n and "C&W margin" in n for n in steps_names) == 1
    assert sum("EOT-20" in n and "C&W margin" in n for n in steps_names) == 1
    assert sum("CE loss" in n for n in steps_names) == 1
    (eot_name,) = [label.text for _, label in view.p_eot.legend.items]
    assert "C&W margin loss" in eot_name
    for plot in (view.p_steps, view.p_eot):
        assert all(part in plot.titleLabel.text for part in ("ε=0.3", "MC-15", "n=200")), plot.titleLabel.text
    assert "steps" in view.p_steps.getAxis("bottom").labelText
    assert "EOT samples S" in view.p_eot.getAxis("bottom").labelText
    assert "%" in view.p_eot.getAxis("left").labelText and "95% CI" in view.p_eot.getAxis("left").labelText


def test_sweep_buttons_ask_for_eot_and_the_chosen_loss(qtbot):
    from mfdv_studio.views.robustness import RobustnessView

    view = RobustnessView()
    qtbot.addWidget(view)
    assert view.sweep_loss_choice() is None  # each sweep's own default
    view.sweep_loss.setCurrentIndex(view.sweep_loss.findData("ce"))
    assert view.sweep_loss_choice() == "ce"
    with qtbot.waitSignal(view.sweep_requested, timeout=2000) as sig:
        view._eot_sweep()
    assert sig.args == ["eot"]


def test_sweep_legend_keeps_what_differs_between_series():
    from mfdv_studio.views.sweeps import series_labels, sweep_series

    rows = [dict(_sweep_row("eot", steps=10, eot=e, loss="cw", acc=0.5, run=run), n=n)
            for run, n in (("r001", 200), ("r002", 100)) for e in (1, 10)]
    title, labels = series_labels([f for f, _, _ in sweep_series(rows, "eot")])
    assert title == ["ε=0.3", "MC-15"]  # n differs between the runs: it stays in each label
    assert labels == ["r001, C&W margin loss, n=200", "r002, C&W margin loss, n=100"]


def test_the_run_column_takes_the_spare_width_so_names_do_not_wrap(qtbot):
    """Walk-through finding: "demo-lenet-mfdv (r001)" wrapped onto two lines while "time (s)" stood wide."""
    from mfdv_studio.views.robustness import RobustnessView

    view = RobustnessView()
    qtbot.addWidget(view)
    view.resize(1040, 600)
    view.show()
    row = dict(_sweep_row("", steps=10, eot=1, loss="ce", acc=0.3), run_name="demo-lenet-mfdv", params={})
    view.set_rows([dict(row, key=f"k{i}", attack=a) for i, a in enumerate(("fgsm", "pgd10"))])
    qtbot.wait(50)
    header = view.table.horizontalHeader()
    needed = view.table.fontMetrics().horizontalAdvance("demo-lenet-mfdv (r001)")
    assert header.sectionSize(0) > needed, (header.sectionSize(0), needed)
    last = view.model.columnCount() - 1
    assert header.sectionSize(last) < 2 * view.table.fontMetrics().horizontalAdvance("time (s)") + 40
