"""Issue 21, item 4: the Training view's x axis (step, epoch, training time), a run of one point drawn
with axes around it, a note instead of an empty σ plot, and no "(live)" once the run ended."""
import numpy as np
import pytest

from mfdv_studio.views.plotfit import data_bounds
from mfdv_studio.views.training import NO_SIGMA, TrainingView

SPE = 20


def _curves(n_epochs=2, sigma=True, time=True, one=False):
    steps = np.array([1.0]) if one else np.arange(5.0, SPE * n_epochs + 1, 5.0)
    step = {"step": steps, "epoch": np.ceil(steps / SPE), "loss": 2.0 - steps / 100, "train_acc": 0.1 + steps / 100,
            "lr": np.full(len(steps), 0.05)}
    if time:
        step["time"] = steps * 0.5
    if sigma:
        step.update({"sigma_mean[fc1]": 0.2 + steps / 1000, "sigma_min[fc1]": np.full(len(steps), 0.1),
                     "sigma_max[fc1]": np.full(len(steps), 0.9)})
    epochs = np.arange(1.0, 1 + (0 if one else n_epochs))
    epoch = {"step": epochs * SPE, "epoch": epochs, "test_acc": np.full(len(epochs), 0.5)} if len(epochs) else {}
    if time and len(epochs):
        epoch["time"] = epochs * SPE * 0.5
    return {"step": step, "epoch": epoch}


@pytest.fixture
def view(qtbot):
    v = TrainingView()
    qtbot.addWidget(v)
    v.resize(930, 680)
    v.show()
    return v


def _has(line) -> bool:
    return line.xData is not None and len(line.xData) > 0


def _main_x(view, plot_key="loss"):
    (line,) = [ln for ln in view.main.curves_on(plot_key) if _has(ln)][:1]
    return np.asarray(line.xData)


def test_the_x_axis_is_steps_epochs_or_training_time(view):
    view.show_curves(_curves(), "a (r001)")
    view.refresh()
    np.testing.assert_allclose(_main_x(view), np.arange(5.0, 41, 5.0))
    view.x_axis.setCurrentIndex(view.x_axis.findData("epoch"))
    view.refresh()
    np.testing.assert_allclose(_main_x(view), np.arange(5.0, 41, 5.0) / SPE)   # fractional epochs
    test_acc = next(ln for ln in view.main.curves_on("acc") if ln.opts["symbol"] == "o")
    np.testing.assert_allclose(test_acc.xData, [1.0, 2.0])                      # each epoch's test point at its epoch
    assert view.p_loss.getAxis("bottom").labelText == "epoch"
    view.x_axis.setCurrentIndex(view.x_axis.findData("time"))
    view.refresh()
    np.testing.assert_allclose(_main_x(view), np.arange(5.0, 41, 5.0) * 0.5)
    assert "training time (s" in view.p_sigma.getAxis("bottom").labelText
    view.show_curves(_curves(time=False), "old (r002)")   # a run stored before runs kept their time
    view.refresh()
    assert "stored no training time" in view.p_loss.titleLabel.text


def test_a_live_run_has_epochs_before_its_first_epoch_ends(view):
    view.start_live("r001", "demo")
    view.set_steps_per_epoch(SPE)
    for s in (5, 10):
        view.add_event("step", {"step": s, "epoch": 1, "loss": 1.0, "time": s * 0.1})
    view.x_axis.setCurrentIndex(view.x_axis.findData("epoch"))
    view.refresh()
    np.testing.assert_allclose(_main_x(view), [0.25, 0.5])


def test_one_point_is_drawn_with_axes_around_it(view):
    view.show_curves(_curves(one=True), "one step (r001)")
    view.refresh()
    for key, plot in view.plots.items():
        (x0, x1), (y0, y1) = view.plots[key].viewRange()
        assert x1 - x0 > 0 and y1 - y0 > 0, key
        (bx, by) = data_bounds(plot)
        assert x0 < bx[0] <= bx[1] < x1 and y0 < by[0] <= by[1] < y1, (key, plot.viewRange(), bx, by)
        lines = [ln for ln in view.main.curves_on(key) if _has(ln)]
        assert lines and all(ln.opts["symbol"] is not None for ln in lines), f"{key}: a lone point gets a dot"
    (lo, hi) = view.p_acc.viewRange()[1]
    assert 0 <= lo < 11 < hi <= 100, "accuracy around its value, within 0–100 %"
    view.show_curves(_curves(), "two epochs (r002)")   # more points: the lines lose their dots
    view.refresh()
    assert all(ln.opts["symbol"] is None for ln in view.main.curves_on("loss") if _has(ln))


def test_a_run_without_sigma_says_so_in_the_sigma_plot(view):
    view.show_curves(_curves(), "mfdv (r001)")
    view.refresh()
    assert not view.sigma_note.shown
    view.show_curves(_curves(sigma=False), "plain (r002)")
    view.refresh()
    assert view.sigma_note.shown and view.sigma_note.item.textItem.toPlainText() == NO_SIGMA
    assert not view.p_sigma.getAxis("left").style["showValues"], "no axes left over from the previous run"
    view.show_curves(_curves(), "mfdv (r001)")
    view.refresh()
    assert not view.sigma_note.shown and view.p_sigma.getAxis("left").style["showValues"]


def test_the_legend_drops_live_once_the_run_ended(view):
    view.start_live("r002", "demo")
    view.add_event("step", {"step": 5, "epoch": 1, "loss": 1.0})
    view.set_overlays({"r001": {"name": "older", "curves": _curves()}}, keep_main=True)
    view.refresh()
    names = [label.text for _, label in view.run_legend.items]
    assert names[0] == "demo (live)"
    view.finish_live("run r002: finished")
    view.refresh()
    names = [label.text for _, label in view.run_legend.items]
    assert names[0] == "demo" and not any("(live)" in n for n in names)
