"""The Compare tab: the runs × attacks matrix, its exports, clicks, the hyper-parameter table; sweep rows
kept out of the robustness table. Projects are planted (no training)."""
import csv
import io

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QAbstractItemModelTester

from planting import COMPARE_NAMES, compare_rows, plant_compare_project

from mfdv_engine.evaluation.matrix import WORST, WORST_COL
from mfdv_engine.evaluation.matrix_export import to_latex, to_markdown
from mfdv_engine.safetext import printable
from mfdv_studio import reads
from mfdv_studio.views.compare import CompareView, header_label


@pytest.fixture
def snapshot(tmp_path):
    return reads.read_snapshot(plant_compare_project(tmp_path / "c.mfdv.h5"))


@pytest.fixture
def view(qtbot, snapshot):
    v = CompareView()
    qtbot.addWidget(v)
    QAbstractItemModelTester(v.model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    v.set_snapshot(snapshot.infos(), snapshot.rows())
    return v


def _col(view, label):
    return view.contents()[0].index(label)


def test_matrix_shows_each_runs_numbers(view):
    header, cells = view.contents()
    assert header[:5] == ["run", "id", "clean", "σ", WORST] and WORST_COL == 4
    assert [c[:4] for c in cells] == [[COMPARE_NAMES[0], "r001", "98.1%", "0.123"],
                                      [printable(COMPARE_NAMES[1]), "r002", "99.0%", "—"]]
    assert cells[0][_col(view, "pgd10 · EOT")] == "31.0% ±6.4"
    assert cells[0][_col(view, "pgd10 · single-sample")] == "40.0% ±6.7"
    assert cells[0][WORST_COL] == cells[0][_col(view, "adaptive · worst of members")] == "25.0% ±6.0"
    assert cells[1][WORST_COL] == "0.0% +1.9/−0.0†"
    assert not any("sweep" in h for h in header)
    # the header reads on two lines; the colour runs from red (0%) to green
    assert view.model.headerData(_col(view, "pgd10 · EOT"), Qt.Horizontal) == header_label("pgd10 · EOT") == "pgd10\nEOT"
    red = view.model.index(1, _col(view, "pgd10 · EOT")).data(Qt.BackgroundRole)
    green = view.model.index(0, _col(view, "fgsm, ε=0.1 · single-sample")).data(Qt.BackgroundRole)
    assert red.hueF() < 0.05 and green.hueF() > 0.2
    assert view.model.index(0, 0).data(Qt.BackgroundRole) is None
    tip = view.model.index(0, _col(view, "pgd10 · EOT")).data(Qt.ToolTipRole)
    assert "EOT-20" in tip and "n=200" in tip and "95% CI" in tip


def test_csv_export_equals_the_view(view, tmp_path):
    out = tmp_path / "m.csv"
    view.export(out, "csv")
    lines = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    header, cells = view.contents()
    names = [c[0] for c in cells]
    for ln in lines:  # each tidy line's number is what the view shows in that cell
        shown = cells[names.index(ln["run_name"].lstrip("'"))][header.index(ln["column"])]
        assert shown.startswith(f"{float(ln['robust_acc']):.1%}"), (ln, shown)
    assert {ln["seed"] for ln in lines} == {"0"} and all(ln["ci_low"] <= ln["ci_high"] for ln in lines)
    view.export(tmp_path / "m.md", "md")
    view.export(tmp_path / "m.tex", "tex")
    assert (tmp_path / "m.md").read_text(encoding="utf-8") == to_markdown(view.model.matrix)
    assert (tmp_path / "m.tex").read_text(encoding="utf-8") == to_latex(view.model.matrix)


def _click(qtbot, view, row, col, double=False):
    idx = view.model.index(row, col)
    view.table.scrollTo(idx)
    pos = view.table.visualRect(idx).center()
    qtbot.mouseClick(view.table.viewport(), Qt.LeftButton, pos=pos)
    if double:   # (a view takes a double click only on the cell its last press was on, as a real one is)
        qtbot.mouseDClick(view.table.viewport(), Qt.LeftButton, pos=pos)


def test_clicking_a_cell_emits_its_row_and_shows_its_protocol(qtbot, view):
    view.resize(1100, 600)
    view.show()
    qtbot.waitExposed(view)
    key = next(r["key"] for r in compare_rows() if r["run_id"] == "r001" and r["attack"] == "pgd10"
               and r["gradient"] == "EOT-20" and not r["params"].get("sweep"))
    with qtbot.waitSignal(view.row_selected, timeout=2000) as sig:
        _click(qtbot, view, 0, _col(view, "pgd10 · EOT"))
    assert sig.args == ["r001", key]
    assert "pgd10 (Linf, ε=0.3, 10 steps" in view.details.toPlainText() and "EOT-20" in view.details.toPlainText()
    with qtbot.waitSignal(view.row_selected, timeout=2000) as sig:   # the worst case names its own row
        _click(qtbot, view, 1, WORST_COL)
    assert sig.args[0] == "r002" and sig.args[1].startswith("pgd10|")
    assert "worst case: pgd10" in view.details.toPlainText()
    with qtbot.assertNotEmitted(view.row_selected):   # a run's own columns are no row
        _click(qtbot, view, 0, 2)
    assert "MC-15, n=10000" in view.details.toPlainText()
    with qtbot.waitSignal(view.row_activated, timeout=2000) as sig:
        _click(qtbot, view, 0, _col(view, "pgd10 · EOT"), double=True)
    assert sig.args == ["r001", key]


def test_hparams_follow_the_selection(view):
    h = view.hparams_model
    assert h.rowCount() == 2 and h.header[3:5] == ["defense.name", "train.lr"]
    view.set_selected(["r002"])
    assert h.rowCount() == 1 and h.lines[0][1] == "r002" and "batch_size" in " ".join(h.header)
    assert "selected" in view.hparams_title.text()
    view.set_selected([])
    assert h.rowCount() == 2 and "all runs" in view.hparams_title.text()


def test_window_compare_tab_and_sweep_rows_out_of_the_table(qtbot, window, tmp_path):
    path = plant_compare_project(tmp_path / "c.mfdv.h5")
    window.open_project(path, create=False)
    qtbot.waitUntil(lambda: window.compare.model.rowCount() == 2, timeout=30_000)
    rows = compare_rows()
    sweeps = [r for r in rows if r["params"].get("sweep")]
    rob = window.robustness
    assert rob.model.rowCount() == len(rows) - len(sweeps) == 9
    assert not any(rob.model.row_dict(i)["params"].get("sweep") for i in range(rob.model.rowCount()))
    assert rob.sweep_model.rowCount() == 2   # under the plots, and on the plot
    assert sum(1 for it in rob.p_eps.items if type(it).__name__ == "PlotDataItem") == 2

    cmp = window.compare
    window.tabs.setCurrentWidget(cmp)
    window.resize(1280, 800)
    qtbot.waitExposed(window)
    col = cmp.contents()[0].index("pgd10 · EOT")
    with qtbot.waitSignal(cmp.row_activated, timeout=2000):
        _click(qtbot, cmp, 0, col, double=True)
    assert window.tabs.currentWidget() is window.gallery and window.gallery.run_box.currentData() == "r001"
    for row, rid in ((0, "r001"), (1, "r002")):   # the explorer's selection picks the hyper-parameter table's run
        window.explorer.setCurrentIndex(window.run_model.index(row, 0))
        qtbot.waitUntil(lambda: [ln[1] for ln in cmp.hparams_model.lines] == [rid])
    window.explorer.clearSelection()
    assert cmp.hparams_model.rowCount() == 2
