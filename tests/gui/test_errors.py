"""No silent exceptions (issue 14): item 2 reproduced, and what an exception in a slot turns into."""
import logging
import shutil

import pytest
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from .conftest import wait_results
from mfdv_engine.evaluation.rows import Protocol


@pytest.fixture
def project(base, tmp_path):
    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    return p


def _select(win, run_id):
    from PySide6.QtCore import QItemSelectionModel

    from mfdv_studio.explorer import RUN_ID_ROLE

    tree = win.explorer.model()
    for i in range(tree.rowCount()):
        idx = tree.index(i, 0)
        if idx.data(RUN_ID_ROLE) == run_id:
            win.explorer.selectionModel().select(
                idx, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)


def test_selection_and_gallery_survive_a_job_ending(qtbot, project, data_root):
    """Item 2: a run selected while a job starts and finishes stays selected, and the new row
    reaches the gallery's list (the refresh used to stop half-way with an AttributeError)."""
    from mfdv_studio.main_window import MainWindow
    from mfdv_studio import preferences as prefs

    win = MainWindow(project)
    win.settings.setValue("prefs/data_root", str(data_root))
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.explorer.model().rowCount() == 2, timeout=30_000)
        _select(win, "r002")
        assert win.selected_runs() == ["r002"]
        assert prefs.data_root(win.settings)
        win.start_attack(["r002"], "fgsm", None, Protocol(n=16, seed=0), device="cpu")
        wait_results(qtbot, win, 1)
        assert not win.errors, win.errors
        qtbot.waitUntil(lambda: bool(win.snapshot.rows_by_run().get("r002")), timeout=30_000)
        n_rows = len(win.snapshot.rows_by_run()["r002"])  # single-sample and EOT-averaged gradients
        qtbot.waitUntil(lambda: win.gallery.key_box.count() == n_rows, timeout=30_000)
        assert win.selected_runs() == ["r002"]
        win.gallery.select("r002", win.snapshot.rows_by_run()["r002"][0]["key"])
        assert win.gallery.run_box.currentData() == "r002"
    finally:
        win.shutdown()


class _Broken(QObject):
    fire = Signal()

    @Slot()
    def boom(self) -> None:
        raise RuntimeError("a slot broke on purpose")


@pytest.mark.studio_errors_expected
def test_an_exception_in_a_slot_is_said_shown_and_logged(qtbot, window, studio_error_log):
    from mfdv_studio import errors

    broken = _Broken()
    broken.fire.connect(broken.boom)
    with qtbot.capture_exceptions() as caught:
        errors.install(window)  # in front of pytest-qt's capturing hook, which still records the raise
        broken.fire.emit()
        QTimer.singleShot(0, broken.boom)
        qtbot.waitUntil(lambda: len(window.errors) == 2)
    assert [str(e[1]) for e in caught] == ["a slot broke on purpose"] * 2
    title, sentence, details = window.errors[-1]
    assert "RuntimeError: a slot broke on purpose" in sentence and sentence.count(".") <= 2
    assert "Traceback" in details and "def boom" not in sentence
    assert window.last_error_box is not None and "Traceback" in window.last_error_box.detailedText()
    assert "RuntimeError" in window.statusBar().currentMessage()
    assert [r.levelno for r in studio_error_log.records] == [logging.ERROR] * 2


@pytest.mark.studio_errors_expected
def test_the_log_file_gets_the_traceback(tmp_path):
    from mfdv_studio import errors

    path = errors.log_to_file(tmp_path / "logs")
    try:
        try:
            raise ValueError("written down")
        except ValueError as e:
            errors.report(_NoWindow(), e)
        for h in errors.LOG.handlers:
            h.flush()
        text = path.read_text()
        assert "ValueError: written down" in text and "Traceback" in text
    finally:
        for h in list(errors.LOG.handlers):
            if getattr(h, "baseFilename", None) == str(path):
                errors.LOG.removeHandler(h)
                h.close()


class _NoWindow:
    """A reporter whose own display fails: report() must not raise."""

    def show_error(self, *a) -> None:
        raise RuntimeError("no window")

    def status_message(self, *a) -> None:
        pass


def test_a_native_crash_leaves_its_stack_in_the_studio_log(tmp_path):
    """A segfault (seen once on a real display) left nothing behind; faulthandler now writes the stacks."""
    import subprocess
    import sys

    code = ("import ctypes, pathlib; from mfdv_studio import errors; "
            f"log = errors.log_to_file(pathlib.Path({str(tmp_path)!r})); errors.native_crashes_to(log); "
            "ctypes.string_at(0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    text = (tmp_path / "studio.log").read_text()
    assert "Fatal Python error" in text and "Segmentation fault" in text and "most recent call first" in text
