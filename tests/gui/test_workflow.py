"""Train → attack → table → gallery → CSV, driven through the GUI objects."""
import csv

from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester

from mfdv_engine.evaluation import Protocol
from mfdv_engine.project.store import Project
from mfdv_studio.views.robustness import COLUMNS, EvalProxy, EvalTableModel, table_contents

from .conftest import wait_results


def demo_wizard(win, epochs=1, **extra):
    from mfdv_studio.wizards import NewRunWizard

    w = NewRunWizard(win, default_device="cpu")
    w.set_preset("demo-lenet-mfdv")
    w.set_value("train.epochs", str(epochs))
    w.set_value("train.device", "cpu")
    for k, v in extra.items():
        w.set_value(k, v)
    assert not any(w.errors.values()), w.errors
    return w


def test_train_attack_gallery_csv(qtbot, window, tmp_path):
    w = demo_wizard(window, epochs=1, **{"data.limit_test": "300"})
    # navigate the real wizard pages to the summary; Finish must be possible
    w.show()
    for _ in range(4):
        w.next()
    assert w.currentPage().isComplete()
    assert "\n    epochs: 1\n" in w.summary.toPlainText()   # a readable key: value list (issue 21)
    seen_live = []
    window._start_from_wizard(w)
    w.close()
    qtbot.waitUntil(lambda: window.training.buffer.points > 0, timeout=60_000)
    seen_live.append(window.training.buffer.points)
    wait_results(qtbot, window, 1)
    assert not window.errors, window.errors
    title, res = window.results[-1]
    assert res["status"] == "finished"
    assert seen_live[0] > 0 and window.training.buffer.points > seen_live[0]
    assert window.training.redraws > 0
    assert "test_acc" in window.training.buffer.epoch
    runs = Project.open(window.project_path).runs()
    assert [r.status for r in runs] == ["finished"]
    rid = runs[0].run_id
    assert window.run_model.index(0, 1).data() == "finished"

    # attack
    window.start_attack([rid], "fgsm,pgd10", eps=None, proto=Protocol(n=64, eot_samples=4, reeval=2), device="cpu")
    wait_results(qtbot, window, 2)
    assert not window.errors, window.errors
    model = window.robustness.model
    assert model.rowCount() == 4  # fgsm and pgd10, each single-sample and EOT
    header = [model.headerData(c, Qt.Horizontal) for c in range(model.columnCount())]
    assert header == COLUMNS
    grads = [model.index(r, 4).data() for r in range(4)]
    attacks = [model.index(r, 1).data() for r in range(4)]
    assert attacks == ["fgsm", "fgsm", "pgd10", "pgd10"]
    assert grads == ["single-sample", "EOT-4", "single-sample", "EOT-4"]
    for r in range(4):
        assert model.index(r, 7).data() == "64"
        assert model.index(r, 6).data() == "15"
        assert model.index(r, 10).data().startswith("[")
        assert "n=64" in model.index(r, 0).data(Qt.ToolTipRole)

    # gallery
    key = model.row_dict(2)["key"]
    window.gallery.select(rid, key)
    qtbot.waitUntil(lambda: len(window.gallery.items) > 0, timeout=30_000)  # read on the reader thread
    assert len(window.gallery.items) > 0
    assert window.gallery.grid.count() == len(window.gallery.shown) > 0
    t = window.gallery.items[0]
    assert t["clean"].shape == t["pert"].shape == t["adv"].shape == (1, 28, 28)
    assert "×" in window.gallery.legend.text()
    window.gallery.filter_box.setCurrentIndex(1)
    assert all(window.gallery.items[i]["success"] for i in window.gallery.shown)
    window.gallery.enlarge(0)
    assert window.gallery.dialog is not None and window.gallery.dialog.isVisible()
    window.gallery.dialog.close()

    # CSV of exactly what the filtered, sorted table shows
    window.robustness.filter.setText("pgd")
    window.robustness.table.sortByColumn(4, Qt.DescendingOrder)
    out = tmp_path / "shown.csv"
    n = window.robustness.export_csv(str(out))
    with open(out, newline="", encoding="utf-8") as f:
        data = list(csv.DictReader(f))
    h, cells = table_contents(window.robustness.proxy)
    assert n == 2 and len(data) == len(cells)  # the rows shown, in the view's order, as numbers
    assert all(c[1] == "pgd10" for c in cells) and [d["attack"] for d in data] == ["pgd10", "pgd10"]
    assert cells[0][4] == "EOT-4" and data[0]["gradient"] == "EOT-4"
    info = window.snapshot.infos()[0].config  # the same data set, model and defense columns as `mfdv export`
    assert {(d["dataset"], d["model"], d["defense"]) for d in data} == {
        (info["data"]["name"], info["model"]["name"], info["defense"]["name"])} and data[0]["dataset"]
    for d, c in zip(data, cells):
        assert c[9] == f"{float(d['robust_acc']):.2%}" and float(d["ci_low"]) <= float(d["ci_high"])

    # an EOT sweep of the selected run: its points reach the EOT plot (margin loss by default), and the
    # refresh after the job keeps the run selected
    import pyqtgraph as pg

    from mfdv_studio import jobs

    window.explorer.setCurrentIndex(window.run_model.index(0, 0))
    window.submit(jobs.sweep_job(str(window.project_path), rid, "eot", proto=Protocol(n=16, mc_samples=2, reeval=1),
                                 values=[1, 3], device="cpu"))
    wait_results(qtbot, window, 3)
    assert not window.errors, window.errors
    assert window.selected_runs() == [rid]
    curves = [it for it in window.robustness.p_eot.items if isinstance(it, pg.PlotDataItem)]
    assert len(curves) == 1 and list(curves[0].xData) == [1, 3]
    assert [label.text for _, label in window.robustness.p_eot.legend.items] == [f"{rid}, C&W margin loss"]


def test_cancel_stops_training_at_the_next_step(qtbot, window):
    """Cancel is polled every step: the job ends interrupted inside the epoch it was in (its speed is
    bench/gui_latency.py's business, not a timed assertion)."""
    w = demo_wizard(window, epochs=50)
    window._start_from_wizard(w)
    qtbot.waitUntil(lambda: window.training.buffer.points >= 2, timeout=60_000)
    window.cancel_job()
    wait_results(qtbot, window, 1, timeout=60_000)
    assert window.results[-1][1]["status"] == "interrupted"
    info = Project.open(window.project_path).runs()[0]
    assert info.status == "interrupted" and info.epochs_done <= 1
    assert not window.worker.busy()


def test_engine_error_becomes_one_sentence_dialog(qtbot, window):
    window.start_attack(["r999"], "fgsm", eps=None, proto=Protocol(n=8), device="cpu")
    wait_results(qtbot, window, 1, timeout=30_000)
    title, sentence, details = window.errors[-1]
    assert "r999" in sentence and "Traceback" not in sentence
    assert "Traceback" in details
    box = window.last_error_box
    assert box.text() == sentence and "Traceback" in box.detailedText()
    box.close()
    # bad attack name is refused before queueing, also as a dialog
    window.start_attack(["r001"], "nosuchattack", eps=None, proto=Protocol(n=8))
    assert "nosuchattack" in window.errors[-1][1]


def test_close_with_running_job_asks_cancels_and_joins(qtbot, window):
    asked = []
    window.confirm = lambda title, text: asked.append(text) or True
    window._start_from_wizard(demo_wizard(window, epochs=50))
    qtbot.waitUntil(lambda: window.training.buffer.points >= 1, timeout=60_000)
    window.close()
    assert asked and not window.worker.thread.isRunning()  # joined before close() returned
    assert Project.open(window.project_path).runs()[0].status == "interrupted"


def test_wizard_field_errors_show_under_field(qtbot):
    from mfdv_studio.wizards import NewRunWizard

    w = NewRunWizard(default_device="cpu")
    qtbot.addWidget(w)
    w.set_preset("demo-lenet-mfdv")
    w.set_value("train.epochs", "-3")
    assert "train.epochs" in w.errors and "positive" in w.train_form.fields["train.epochs"][1].text()
    w.set_value("train.epochs", "2")
    assert "train.epochs" not in w.errors
    w.set_value("defense.lambda1", "abc")
    assert w.errors.get("defense.lambda1")
    w.defense_box.setCurrentText("none")
    assert not any(w.errors.values())
    assert w.config().defense.name == "none"


ROWS = [
    dict(run_id="r001", run_name="a", key=f"{a}|{g}", attack=a, norm="Linf", eps=e, steps=s, gradient=g,
         eot_samples=1 if g == "single-sample" else 20, mc_samples=15, n=100, seed=0, reeval=3, clean_acc=0.9,
         robust_acc=acc, robust_acc_mean=acc, ci_low=acc - 0.05, ci_high=acc + 0.05, time_s=1.5, params={},
         messages=[])
    for a, e, s, g, acc in [("pgd10", 0.3, 10, "EOT-20", 0.2), ("fgsm", 0.3, None, "single-sample", 0.5),
                            ("pgd10", 0.3, 10, "single-sample", 0.3), ("fgsm", 0.3, None, "EOT-20", 0.45)]
]


def test_table_model_passes_model_tester(qtbot):
    model = EvalTableModel()
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_rows(ROWS)
    proxy = EvalProxy()
    proxy.setSourceModel(model)
    QAbstractItemModelTester(proxy, QAbstractItemModelTester.FailureReportingMode.Fatal)
    proxy.sort(9)
    model.add_row(dict(ROWS[0], key="x", attack="cw"))
    assert model.rowCount() == 5
    # single-sample and EOT rows of one attack adjacent
    assert [model.index(r, 1).data() + "/" + model.index(r, 4).data() for r in range(1, 5)] == [
        "fgsm/single-sample", "fgsm/EOT-20", "pgd10/single-sample", "pgd10/EOT-20"]
    proxy.setFilterFixedString("EOT")
    assert proxy.rowCount() == 3
    del tester
