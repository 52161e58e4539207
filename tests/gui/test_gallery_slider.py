"""The gallery's sweep slider: one position per row of the shown row's sweep, in swept-value order;
moving it reads and shows that row's examples. Also the source row's protocol in the legend and the
suite's per-example "broken by" in cells and the enlarged dialog."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from mfdv_studio.views.gallery import GalleryView

RID = "r001"


def _gallery(n: int, broken_by=None) -> dict:
    rng = np.random.default_rng(n)
    g = {"clean": (rng.random((n, 1, 8, 8)) * 255).astype(np.uint8), "adv": rng.random((n, 1, 8, 8)).astype(np.float16),
         "label": np.zeros(n, dtype=np.int64), "clean_pred": np.zeros(n, dtype=np.int64),
         "clean_conf": np.ones(n, dtype=np.float32), "adv_pred": np.ones(n, dtype=np.int64),
         "adv_conf": np.ones(n, dtype=np.float32)}
    if broken_by is not None:
        g["broken_by"] = np.asarray(broken_by, dtype=np.int16)
    return g


def _row(eps: float, gradient: str = "EOT-20", sweep: str | None = "eps", steps: int = 10) -> dict:
    params = {"sweep": sweep} if sweep else {}
    key = f"pgd|eps={eps:.6g}|steps={steps}|{gradient}" + (f"|sweep={sweep}" if sweep else "")
    return {"key": key, "run_id": RID, "attack": "pgd", "norm": "Linf", "eps": eps, "steps": steps,
            "gradient": gradient, "eot_samples": 20 if gradient.startswith("EOT") else 1, "mc_samples": 8, "n": 500,
            "seed": 7, "robust_acc": 0.5, "params": params}


# stored out of ε order; the single-sample twins and the plain attack row are not on the EOT slider
SWEEP = [_row(8 / 255), _row(2 / 255), _row(0.3)]
ROWS = SWEEP + [_row(2 / 255, "single-sample"), _row(8 / 255, "single-sample"), _row(8 / 255, sweep=None)]
#: each sweep row's gallery has its own number of examples, so the shown row can be told apart
SIZES = {SWEEP[0]["key"]: 3, SWEEP[1]["key"]: 4, SWEEP[2]["key"]: 5}


class Reader:
    """The studio's loader: records the request and answers later through show_gallery."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def __call__(self, rid: str, key: str) -> None:
        self.asked.append((rid, key))
        return None

    def answer(self, view: GalleryView) -> None:
        rid, key = self.asked[-1]
        view.show_gallery(rid, key, _gallery(SIZES.get(key, 2)))


def _view(qtbot) -> tuple[GalleryView, Reader]:
    view = GalleryView()
    qtbot.addWidget(view)
    reader = Reader()
    view.set_source(reader, {RID: ROWS}, {RID: "demo"})
    return view, reader


def test_the_slider_steps_through_the_eps_sweep_in_eps_order(qtbot):
    view, reader = _view(qtbot)
    view.show()
    view.select(RID, SWEEP[0]["key"])           # 8/255: the middle of 2/255, 8/255, 0.3
    reader.answer(view)
    s = view.sweep
    assert s.isVisible() and s.slider.maximum() - s.slider.minimum() + 1 == 3
    assert [r["key"] for r in s.rows] == [SWEEP[1]["key"], SWEEP[0]["key"], SWEEP[2]["key"]]
    assert s.slider.value() == 1 and s.value.text() == "ε = 8/255 · 2 of 3" and s.title.text() == "ε sweep"
    assert len(view.items) == 3

    s.slider.setValue(2)                        # as a drag ends there
    assert reader.asked[-1] == (RID, SWEEP[2]["key"])
    assert view.key_box.currentData() == SWEEP[2]["key"] and s.value.text() == "ε = 0.3 · 3 of 3"
    reader.answer(view)
    assert len(view.items) == 5 and view.grid.count() == 5

    s.slider.setFocus()
    qtbot.keyClick(s.slider, Qt.Key_Left)
    qtbot.keyClick(s.slider, Qt.Key_Left)
    assert s.slider.value() == 0 and reader.asked[-1] == (RID, SWEEP[1]["key"])
    reader.answer(view)
    assert len(view.items) == 4 and s.value.text() == "ε = 2/255 · 1 of 3"


def test_a_late_answer_for_a_row_the_slider_left_is_dropped(qtbot):
    view, reader = _view(qtbot)
    view.select(RID, SWEEP[0]["key"])
    stale = reader.asked[-1]
    view.sweep.slider.setValue(0)
    view.show_gallery(*stale, _gallery(3))      # the read of the row left behind arrives late
    assert view.items == []
    reader.answer(view)
    assert len(view.items) == 4


def test_the_slider_hides_for_a_row_outside_a_sweep(qtbot):
    view, reader = _view(qtbot)
    view.show()
    view.select(RID, SWEEP[0]["key"])
    assert view.sweep.isVisible()
    view.select(RID, ROWS[-1]["key"])
    assert not view.sweep.isVisible()
    view.select(RID, ROWS[3]["key"])            # a single-sample point: its own series of two
    assert view.sweep.isVisible() and len(view.sweep.rows) == 2


def test_the_legend_names_the_source_rows_protocol(qtbot):
    view, reader = _view(qtbot)
    view.select(RID, SWEEP[0]["key"])
    reader.answer(view)
    first = view.legend.text().splitlines()[0]
    for part in ("pgd", "ε=8/255", "10 steps", "gradients: EOT-20", "EOT samples 20", "MC-8", "n=500", "seed 7"):
        assert part in first


def test_cells_and_dialog_name_the_member_and_gradient_that_broke_it(qtbot):
    members = [{"attack": "pgd10", "gradient": "single-sample"}, {"attack": "eot-apgd-cw", "gradient": "EOT-20"}]
    row = {"key": "adaptive|x", "attack": "adaptive", "eps": 8 / 255, "steps": None,
           "gradient": "worst case of 2", "params": {"members": members}}
    view = GalleryView()
    qtbot.addWidget(view)
    view.set_source(lambda rid, key: _gallery(3, broken_by=[1, -1, 0]), {RID: [row]}, {RID: "demo"})
    texts = [w.text() for w in view.grid_host.findChildren(QLabel)]
    assert "broken by eot-apgd-cw (EOT-20)" in texts and "broken by pgd10 (single-sample)" in texts
    assert "held: no member broke it" in texts
    assert not view.sweep.isVisible()
    view.enlarge(0)
    captions = [w.text() for w in view.dialog.findChildren(QLabel)]
    assert any("broken by eot-apgd-cw (EOT-20)" in c for c in captions)
    view.dialog.close()
    view.enlarge(1)
    assert any("held: no member broke it" in w.text() for w in view.dialog.findChildren(QLabel))
    view.dialog.close()


def test_cells_reflow_to_the_panes_width(qtbot):
    view, reader = _view(qtbot)
    view.select(RID, SWEEP[2]["key"])
    reader.answer(view)                         # five cells
    view.resize(1400, 700)
    view.show()
    qtbot.waitExposed(view)

    def columns() -> int:
        return 1 + max(view.grid.getItemPosition(view.grid.indexOf(c))[1] for c in view._cells)

    wide = columns()
    view.resize(420, 700)
    qtbot.waitUntil(lambda: columns() < wide)
    right = max(c.geometry().right() for c in view._cells)
    assert right <= view._viewport.width(), (right, view._viewport.width(), view.width(), columns())
