"""Readable plots: axis labels with units, legends outside the data, symlog losses, ε in 8-bit steps,
compared runs one colour each (smoothed like the main run), colour bars and class legends on boundary maps."""
import numpy as np
import pyqtgraph as pg
import pytest

from mfdv_studio.views.plotting import EPS255, SYMLOG, ScaleAxis, symlog

N = 200


def _curves(seed: int, n: int = N) -> dict:
    """A run's stored curves: noisy loss that turns negative (MFDV's regulariser), accuracy, lr, one σ layer."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1, dtype=float)
    reg = -0.3 - 0.4 * (1 - np.exp(-step / 30))
    ce = np.exp(-step / 50) + 0.1 * rng.random(n)
    return {"step": {"step": step, "loss": ce + reg, "ce": ce, "reg": reg, "train_acc": 1 - np.exp(-step / 40),
                     "lr": np.full(n, 0.05), "sigma_mean[head.0]": 0.5 + step / n,
                     "sigma_min[head.0]": np.full(n, 0.1), "sigma_max[head.0]": 1 + step / n},
            "epoch": {"step": np.array([n / 2, float(n)]), "test_acc": np.array([0.8, 0.9])}}


PER_PLOT = {"loss": 3, "acc": 2, "lr": 1, "sigma": 1}   # metrics of _curves on each training plot


@pytest.fixture
def training(qtbot):
    from mfdv_studio.views.training import TrainingView

    view = TrainingView()
    qtbot.addWidget(view)
    view.resize(930, 680)
    view.show()
    qtbot.waitExposed(view)
    yield view
    view.timer.stop()


def _sweep_rows(eps_values) -> list[dict]:
    rows = []
    for i, eps in enumerate(eps_values):
        for grad in ("single-sample", "EOT-20"):
            rows.append({"run_id": "r001", "attack": "pgd10", "norm": "Linf", "eps": eps, "steps": 10,
                         "gradient": grad, "eot_samples": 20 if grad != "single-sample" else 1, "mc_samples": 15,
                         "n": 200, "robust_acc": 0.9 - 0.1 * i, "ci_low": 0.85 - 0.1 * i, "ci_high": 0.93 - 0.1 * i,
                         "params": {"sweep": "eps"}, "key": f"pgd10|{eps}|{grad}|sweep=eps"})
    return rows


def _grid_result() -> dict:
    xs, ys = np.linspace(-2, 2, 21), np.linspace(-1, 1, 11)
    p = 1 / (1 + np.exp(-np.add.outer(ys, xs)))
    pts = np.random.default_rng(0).normal(size=(40, 2))
    return {"kind": "grid", "run_id": "r002", "xs": xs, "ys": ys, "on": p, "off": p, "points": pts,
            "labels": (pts[:, 1] > 0).astype(int), "classes": ["upper", "lower"], "eps": 0.1}


def _image_result() -> dict:
    rng = np.random.default_rng(1)
    lab = np.arange(60) % 10
    return {"kind": "image", "run_id": "r001", "coords": np.linspace(-3, 3, 15), "true": 7,
            "slice_pred": (np.add.outer(np.arange(15), np.arange(15)) // 3) % 10, "slice_p": rng.random((15, 15)),
            "axes": ["adversarial direction", "random direction"], "labels": lab, "classes": [], "eps": 0.3,
            "pca_clean": rng.normal(size=(60, 2)), "pca_noisy": rng.normal(size=(60, 5, 2)), "pca_labels": lab}


def _plot_items(graphics: pg.GraphicsLayoutWidget) -> list[pg.PlotItem]:
    return [it for it in graphics.ci.items if isinstance(it, pg.PlotItem) and not isinstance(it, pg.ColorBarItem)]


def _assert_labelled(plots: list[pg.PlotItem]) -> None:
    assert plots
    for p in plots:
        for side in ("left", "bottom"):
            text = p.getAxis(side).labelText
            assert text and "(" in text, (side, text, p.titleLabel.text)   # a label, with its unit in brackets


def _assert_legends_outside(qtbot, graphics: pg.GraphicsLayoutWidget) -> None:
    """Every legend is a cell of the layout, and its box meets no plot's data area."""
    qtbot.wait(10)
    legends = [it for it in graphics.scene().items() if isinstance(it, pg.LegendItem)]
    assert legends
    boxes = [p.vb.sceneBoundingRect() for p in _plot_items(graphics)]
    for legend in legends:
        assert legend.parentItem() is graphics.ci
        if legend.items:
            assert not any(legend.sceneBoundingRect().intersects(b) for b in boxes)


def test_every_plot_has_axis_labels_with_units_and_legends_outside(qtbot, training):
    from mfdv_studio.views.boundaries import BoundariesView
    from mfdv_studio.views.sweeps import SweepPlots

    training.show_curves(_curves(0), "r001")
    training.refresh()
    _assert_labelled(_plot_items(training.graphics))
    _assert_legends_outside(qtbot, training.graphics)
    assert "%" in training.p_acc.getAxis("left").labelText and "nats" in training.p_loss.getAxis("left").labelText

    sweeps = SweepPlots()
    qtbot.addWidget(sweeps)
    sweeps.resize(930, 320)
    sweeps.show()
    sweeps.set_rows(_sweep_rows([k / 255 for k in (0, 2, 4, 8)]))
    _assert_labelled(list(sweeps.plots.values()))
    _assert_legends_outside(qtbot, sweeps.graphics)

    bounds = BoundariesView()
    qtbot.addWidget(bounds)
    bounds.resize(930, 680)
    bounds.show()
    for res in (_grid_result(), _image_result()):
        bounds.show_result(res)
        _assert_labelled(_plot_items(bounds.graphics))
        _assert_legends_outside(qtbot, bounds.graphics)


def test_symlog_keeps_the_negative_loss_and_log_abs_says_what_it_drops(training):
    curves = _curves(0)
    curves["step"]["reg"][:5] = 0.0   # exact zeros: no place on a log axis
    training.show_curves(curves, "r001")
    training.smooth_slider.setValue(0)
    training.loss_axis.setCurrentIndex(training.loss_axis.findData("symlog"))
    training.refresh()
    reg = training.main.lines["reg"].line
    _, y = reg.getData()
    assert len(y) == N and np.isfinite(y).all() and (y[5:] < 0).all()   # every value, negatives below 0
    np.testing.assert_allclose(y[5:], symlog(curves["step"]["reg"][5:]))
    assert "symlog" in training.p_loss.getAxis("left").labelText
    assert "⚠" not in training.p_loss.titleLabel.text

    training.loss_axis.setCurrentIndex(training.loss_axis.findData("abs"))
    training.refresh()
    _, y = reg.getData()
    assert len(y) == N - 5 and np.isfinite(y).all()
    assert "|loss|" in training.p_loss.getAxis("left").labelText
    assert "regulariser: 5 zero value(s) not drawn" in training.p_loss.titleLabel.text   # said in the plot


def test_symlog_ticks_are_clean_and_do_not_overlap():
    axis = ScaleAxis("left")
    axis.set_scale(SYMLOG)
    lo, hi, size = float(symlog(-1.2)), float(symlog(4.0)), 180.0
    levels = axis.tickValues(lo, hi, size)
    pos = sorted(v for _, vals in levels for v in vals)
    assert np.all(np.diff(pos) * size / (hi - lo) >= 18)   # label centres at least a label height apart
    labels = axis.tickStrings(levels[0][1], 1, 1)
    assert {"-1", "0", "1"} <= set(labels) and all(len(s) <= 5 for s in labels), labels


def test_eps_axis_reads_in_255ths_or_raw(qtbot):
    from mfdv_studio.views.sweeps import SweepPlots

    sweeps = SweepPlots()
    qtbot.addWidget(sweeps)
    sweeps.resize(930, 320)
    sweeps.show()
    ks = (0, 1, 2, 4, 8)
    sweeps.set_rows(_sweep_rows([k / 255 for k in ks]))
    p = sweeps.plots["eps"]
    axis = p.getAxis("bottom")
    assert sweeps.eps_scale() and "×1/255" in axis.labelText
    curve = next(it for it in p.items if isinstance(it, pg.PlotDataItem))
    np.testing.assert_allclose(EPS255.inv(curve.xData), ks, atol=1e-9)   # drawn at ε·255 0 … 8
    sweeps.graphics.grab()   # a paint: the view takes its auto range
    lo, hi = p.viewRange()[0]
    assert -1 < float(EPS255.inv(lo)) <= 0 and 8 <= float(EPS255.inv(hi)) < 12   # not 0–0.03, not 0–300
    levels = axis.tickValues(lo, hi, 400)
    assert axis.tickStrings(levels[0][1], 1, 1) == ["0", "1", "2", "4", "8"]

    sweeps.eps_axis.setCurrentIndex(sweeps.eps_axis.findData("raw"))
    assert not sweeps.eps_scale() and "raw" in axis.labelText
    curve = next(it for it in p.items if isinstance(it, pg.PlotDataItem))
    np.testing.assert_allclose(curve.xData, [k / 255 for k in ks])
    sweeps.graphics.grab()
    assert p.viewRange()[0][1] < 0.05
    sweeps.eps_axis.setCurrentIndex(sweeps.eps_axis.findData("auto"))
    sweeps.set_rows([])  # no ε sweep (yet): the axis makes no claim about 255ths
    assert not sweeps.eps_scale() and "raw" in axis.labelText


def _pen_colors(lines) -> set[str]:
    return {ln.line.opts["pen"].color().name() for ln in lines.lines.values()}


def test_three_compared_runs_are_one_colour_each_one_curve_per_metric(training):
    training.show_curves(_curves(0), "r001")   # shown alone first: comparing must not draw it a second time
    runs = {f"r00{i}": {"name": f"run {i}", "curves": _curves(i)} for i in (1, 2, 3)}
    training.set_overlays(runs, keep_main=False)
    training.refresh()
    assert len(training.compared) == 3
    colors = [_pen_colors(r) for r in training.compared]
    assert all(len(c) == 1 for c in colors) and len(set().union(*colors)) == 3
    for key, n in PER_PLOT.items():
        for lines in training.compared:
            assert len(lines.curves_on(key)) == n
        drawn = [it for it in training.plots[key].listDataItems() if it.getData()[0] is not None
                 and len(it.getData()[0])]
        assert len(drawn) == 3 * n   # nothing else: the formerly shown run is not drawn again
    assert len(training.run_legend.items) == 3
    assert [label.text for _, label in training.run_legend.items] == ["run 1 (r001)", "run 2 (r002)", "run 3 (r003)"]


def test_many_runs_still_get_distinct_colours(training):
    runs = {f"r{i:03d}": {"name": str(i), "curves": _curves(i, 30)} for i in range(14)}
    training.set_overlays(runs, keep_main=False)
    assert len({r.color.name() for r in training.compared}) == 14


def test_smoothing_applies_to_compared_runs(training):
    training.set_overlays({"r001": {"name": "a", "curves": _curves(1)}, "r002": {"name": "b", "curves": _curves(2)}},
                          keep_main=False)
    training.smooth_slider.setValue(0)
    training.refresh()
    line = training.compared[0].lines["ce"].line
    raw = line.getData()[1].copy()
    np.testing.assert_allclose(raw, _curves(1)["step"]["ce"])
    training.smooth_slider.setValue(90)
    training.refresh()
    smoothed = line.getData()[1]
    assert len(smoothed) == len(raw) and not np.allclose(smoothed, raw)
    assert np.abs(np.diff(smoothed)).mean() < np.abs(np.diff(raw)).mean()


def test_the_live_run_keeps_its_place_among_compared_runs(training):
    training.start_live("r009", "live")
    for i in range(50):
        training.add_event("step", {"step": i, "loss": 1.0 - i / 100, "ce": 1.0, "reg": -0.1, "train_acc": 0.5,
                                    "lr": 0.1})
    training.set_overlays({"r001": {"name": "a", "curves": _curves(1)}})
    training.refresh()
    assert training.main.color is not None and training.main.color.name() not in _pen_colors(training.compared[0])
    assert len(training.main.curves_on("loss")) == 3 and len(training.run_legend.items) == 2


def test_boundary_maps_have_colour_bars_and_class_legends(qtbot):
    from mfdv_studio.views.boundaries import BoundariesView

    view = BoundariesView()
    qtbot.addWidget(view)
    view.resize(930, 680)
    view.show()
    view.show_result(_grid_result())
    bars = [it for it in view.graphics.ci.items if isinstance(it, pg.ColorBarItem)]
    assert len(bars) == 1 and "P(class 1" in bars[0].getAxis("left").labelText
    (legend,) = view.class_legends
    assert [label.text for _, label in legend.items] == ["test point, class upper", "test point, class lower"]

    view.show_result(_image_result())
    bars = [it for it in view.graphics.ci.items if isinstance(it, pg.ColorBarItem)]
    assert len(bars) == 1 and "P(true class)" in bars[0].getAxis("left").labelText
    (legend,) = view.class_legends
    assert [label.text for _, label in legend.items] == [f"class {k}" for k in range(10)]
    assert len(_plot_items(view.graphics)) == 3   # the slice, P(true class) and the PCA, all in view


def test_the_window_draws_each_selected_run_once(window):
    """One run shown, then three selected: the shown run becomes one of the compared runs, not a second copy."""
    from mfdv_studio.reads import Curves, CurvesFor

    names = {f"r00{i}": f"run {i}" for i in (1, 2, 3)}
    window._show_curves(Curves(CurvesFor.SHOW, {"r001": _curves(1)}, names))
    window._show_curves(Curves(CurvesFor.OVERLAY, {r: _curves(i) for i, r in enumerate(names, 1)}, names))
    view = window.training
    view.refresh()
    assert view.buffer.points == 0 and not view.main.curves_on("loss")
    assert len(view.compared) == 3 and len(view.p_loss.listDataItems()) == 3 * PER_PLOT["loss"]


def test_an_axis_between_0_and_1_is_never_rescaled_silently(qtbot):
    """pyqtgraph rescaled a (0, 1) range by 1000 even with its SI prefix off: ε 0–0.3 read "0 … 300"."""
    import pyqtgraph as pg

    from mfdv_studio.views.plotting import label_axes

    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    p = w.addPlot()
    p.plot([0, 0.1, 0.3], [1, 2, 3])
    p.setLabel("bottom", "x")
    w.show()
    p.setXRange(0, 0.3, padding=0)
    label_axes(p, "y (units)", "ε, raw")
    for lo, hi in ((0, 0.3), (0, 0.003), (0, 0.9)):
        p.setXRange(lo, hi, padding=0)
        ax = p.getAxis("bottom")
        assert ax.autoSIPrefixScale == 1.0 and ax.labelUnitPrefix == ""
        assert ax.tickStrings([hi], ax.scale * ax.autoSIPrefixScale, hi)[0] == f"{hi:g}"


def test_a_long_failure_sentence_does_not_widen_the_window(qtbot, window):
    window.resize(1280, 800)
    qtbot.waitExposed(window)
    window.training.finish_live("Train x failed: " + "the data set was not found in /a/very/long/path " * 20)
    qtbot.wait(50)
    assert window.width() <= 1280 and window.training.status.wordWrap()


def test_exporting_the_plots_to_a_folder_says_so_in_place(qtbot, tmp_path, monkeypatch):
    """A folder (or no permission, a full disk) is a sentence under the plots, not an exception in a slot."""
    from PySide6.QtWidgets import QFileDialog

    from mfdv_studio.views.training import TrainingView

    view = TrainingView()
    qtbot.addWidget(view)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path), ""))
    view._export_svg_dialog()
    # (the engine's output rule names the folder before anything is written)
    assert view.status.text().startswith(f"not written: {tmp_path} is a folder")
