"""Issue 21, item 5: reading results — the gallery's rows named and ordered as people read them, the
checklist's checks readable in full, the filtered robustness table keeping each suite's row, Esc in a
filter box, and class colours that can be told apart."""
import itertools

import numpy as np
from PySide6.QtCore import Qt

from mfdv_studio.views.boundaries import class_colors
from mfdv_studio.views.gallery import GalleryView
from mfdv_studio.views.robustness import RobustnessView

MEMBERS = [{"attack": "pgd10", "gradient": "single-sample"}, {"attack": "eot-apgd-ce", "gradient": "EOT-8"}]


def _row(attack, eps, *, gradient="single-sample", steps=None, key=None, **params):
    return {"run_id": "r001", "run_name": "demo", "attack": attack, "norm": "Linf", "eps": eps, "steps": steps,
            "gradient": gradient, "eot_samples": 1, "mc_samples": 15, "n": 100, "seed": 0, "clean_acc": 0.9,
            "robust_acc": 0.4, "ci_low": 0.3, "ci_high": 0.5, "time_s": 1.0, "params": params, "messages": [],
            "key": key or f"{attack}|eps={eps}|steps={steps}|{gradient}|{params}"}


ROWS = [_row("pgd10", 0.3, steps=10, gradient="EOT-8"), _row("eot-apgd-ce", 0.3, gradient="EOT-8", suite="adaptive"),
        _row("fgsm", 2 / 255, key="fgsm|eps=0.00784314"), _row("pgd10", 0.3, steps=10),
        _row("adaptive", 0.3, key="adaptive|eps=0.3|steps=None|worst case of 8", gradient="worst case of 2", members=MEMBERS),
        _row("pgd10", 0.3, steps=10, suite="adaptive")]


def test_the_gallery_names_rows_readably_in_the_tables_order(qtbot):
    view = GalleryView()
    qtbot.addWidget(view)
    view.set_source(lambda rid, key: None, {"r001": ROWS}, {"r001": "demo"})
    labels = [view.key_box.itemText(i) for i in range(view.key_box.count())]
    assert labels == ["fgsm · ε=2/255 · single-sample",
                      "pgd10 · ε=0.3 · 10 steps · single-sample",
                      "pgd10 · ε=0.3 · 10 steps · EOT-8",
                      "adaptive suite · ε=0.3 · worst case of 2",
                      "↳ pgd10 · ε=0.3 · 10 steps · single-sample",
                      "↳ eot-apgd-ce · ε=0.3 · EOT-8"], labels
    assert not any("|" in label for label in labels), "no raw keys"
    view.select("r001", "fgsm|eps=0.00784314")   # the item's data is still the row's key
    assert view.key_box.currentText().startswith("fgsm · ε=2/255")
    assert view.key_box.itemData(0, Qt.ToolTipRole)


def test_the_checklist_reads_in_full_in_tooltips_and_a_detail_pane(qtbot):
    view = RobustnessView()
    qtbot.addWidget(view)
    title = "Black-box (Square, 1000 queries) is not stronger than white-box PGD under EOT — " * 2
    view.set_checklist("demo (r001)", [{"title": title, "passed": False, "evidence": "Square 12% < PGD 30%",
                                        "numbers": {"square": 0.12, "attacked": 90}}])
    item = view.checklist.topLevelItem(1)
    for col in range(3):
        assert title in item.toolTip(col) and "Square 12% < PGD 30%" in item.toolTip(col)
    assert view.checklist_pane.detail.toPlainText() == ""
    view.checklist.setCurrentItem(item)
    detail = view.checklist_pane.detail.toPlainText()
    assert detail.startswith(f"FLAG: {title}") and "Square 12% < PGD 30%" in detail and "square: 12.0%" in detail and "attacked: 90" in detail


def test_filtering_the_table_keeps_a_members_suite_row_and_esc_clears_the_filter(qtbot):
    view = RobustnessView()
    qtbot.addWidget(view)
    view.show()
    view.set_rows(ROWS)

    def shown():
        return [view.proxy.index(r, 1).data() for r in range(view.proxy.rowCount())]

    view.filter.setText("eot-apgd")
    assert shown() == ["adaptive [suite of 2]", "↳ eot-apgd-ce"], "the member comes with the suite it belongs to"
    view.filter.setText("fgsm")
    assert shown() == ["fgsm"]
    view.filter.setFocus()
    qtbot.waitUntil(view.filter.hasFocus, timeout=5000)
    qtbot.keyClick(view.filter, Qt.Key_Escape)
    assert view.filter.text() == "" and len(shown()) == len(ROWS)


def test_ten_class_colours_are_told_apart():
    colors = [c.getRgb()[:3] for c in class_colors(10)]
    assert len(set(colors)) == 10
    # every pair differs clearly (classes 6 and 7 were two blues ~40 apart)
    assert min(np.linalg.norm(np.subtract(a, b)) for a, b in itertools.combinations(colors, 2)) > 60
    assert len({c.getRgb() for c in class_colors(100)}) == 100   # CIFAR-100: still one colour per class


def test_a_cancelled_checklist_rerun_keeps_the_stored_checklist_on_screen(window, monkeypatch):
    """Walk-through finding: cancelling a rerun blanked the pane although the stored checklist still stood."""
    import threading

    from mfdv_engine.evaluation import Protocol
    from mfdv_studio import jobs

    items = [{"title": "Iterative attacks beat single-step ones", "passed": True, "evidence": "PGD 3% < FGSM 9%",
              "numbers": {}}]
    window.robustness.set_checklist("demo (r001)", items)
    cancel = threading.Event()
    cancel.set()
    monkeypatch.setattr(jobs.api, "checklist", lambda *a, **k: [])   # what the API returns once cancelled
    job = jobs.checklist_job("p.mfdv.h5", "r001", proto=Protocol(n=20))
    result = job.fn(jobs.JobContext(lambda e: None, lambda *a: None, cancel))
    assert result["status"] == "cancelled" and result["items"] is None
    window.on_job_returned(job, result)
    tree = window.robustness.checklist
    assert tree.topLevelItemCount() == 2 and "Iterative attacks" in tree.topLevelItem(1).text(1)
    assert not window.errors
