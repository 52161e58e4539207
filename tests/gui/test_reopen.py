"""Results are kept: a reopened project shows the last run's curves, its checklist and its boundaries."""
import shutil

import pytest

from mfdv_engine import api
from mfdv_engine.evaluation.rows import Protocol


@pytest.fixture(scope="module")
def worked(base, data_root, tmp_path_factory):
    """r002 with a checklist and decision boundaries stored (small but real)."""
    p = tmp_path_factory.mktemp("reopen") / "p.mfdv.h5"
    shutil.copyfile(base, p)
    proto = Protocol(n=16, mc_samples=2, eot_samples=2, seed=0)
    api.checklist(p, "r002", protocol=proto, square_queries=20, data_root=data_root, device="cpu")
    api.boundaries(p, "r002", n_points=40, data_root=data_root, device="cpu")
    return p


def test_reopening_shows_where_the_user_left_off(qtbot, worked, window_on):
    win = window_on(worked)
    qtbot.waitUntil(lambda: win.selected_runs() == ["r002"], timeout=30_000)
    qtbot.waitUntil(lambda: win.training.buffer.points > 0, timeout=30_000)   # its stored curves
    assert "r002" in win.training.status.text()
    qtbot.waitUntil(lambda: win.robustness.checklist.topLevelItemCount() > 1, timeout=30_000)
    assert "checklist of r002" in win.robustness.checklist.topLevelItem(0).text(1)
    qtbot.waitUntil(lambda: win.boundaries.result is not None, timeout=30_000)
    assert win.boundaries.result["run_id"] == "r002" and win.boundaries.run_box.currentData() == "r002"
    assert win.tabs.currentWidget() is win.training, "reading them back does not jump between tabs"
    # the checklist's own attack rows are in the table (and so in its CSV)
    attacks = {r["attack"] for r in win.robustness.model.rows()}
    assert attacks, "the checklist's attack rows reach the table"
