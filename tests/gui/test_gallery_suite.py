"""The gallery shows a suite's per-example verdict: which member broke each example first."""

import numpy as np

from mfdv_studio.views.gallery import GalleryView, triplets


def _gallery(n=4, **extra):
    rng = np.random.default_rng(0)
    g = {"clean": (rng.random((n, 1, 8, 8)) * 255).astype(np.uint8), "adv": rng.random((n, 1, 8, 8)).astype(np.float16),
         "label": np.zeros(n, dtype=np.int64), "clean_pred": np.zeros(n, dtype=np.int64),
         "clean_conf": np.ones(n, dtype=np.float32), "adv_pred": np.zeros(n, dtype=np.int64),
         "adv_conf": np.ones(n, dtype=np.float32)}
    g.update(extra)
    return g


MEMBERS = [{"attack": "pgd10"}, {"attack": "eot-apgd-cw"}, {"attack": "eot-square"}]


def test_triplets_take_the_suite_verdict_and_name_the_member():
    g = _gallery(broken_by=np.array([1, -1, 2, -2], dtype=np.int16))
    items, _ = triplets(g, 0.1, MEMBERS)
    assert [t["success"] for t in items] == [True, False, True, False]
    assert [t["by"] for t in items] == ["broken by eot-apgd-cw", "held: no member broke it", "broken by eot-square", ""]


def test_triplets_use_the_rows_own_verdict_over_the_first_draw():
    # the first re-prediction was right (adv_pred == label), but a later draw was not: robust code 0
    items, _ = triplets(_gallery(robust=np.array([0, 1, -1, 1], dtype=np.int8)), 0.1)
    assert [t["success"] for t in items] == [True, False, False, False]


def test_gallery_cells_show_the_member(qtbot):
    view = GalleryView()
    qtbot.addWidget(view)
    row = {"key": "adaptive|x", "eps": 0.1, "params": {"members": MEMBERS}}
    view.set_source(lambda rid, key: _gallery(broken_by=np.array([0, -1, 2, 1], dtype=np.int16)), {"r001": [row]},
                    {"r001": "demo"})
    texts = [w.text() for w in view.grid_host.findChildren(type(view.legend))]
    assert "broken by pgd10" in texts and "held: no member broke it" in texts
