import logging
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MFDV_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MFDV_STUDIO_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture(autouse=True)
def _no_running_qthreads(qapp):
    """Fail the test if any engine worker QThread is still running at teardown."""
    yield
    from PySide6.QtCore import QCoreApplication

    from mfdv_studio.worker import running_workers

    QCoreApplication.processEvents()
    left = running_workers()
    for w in left:  # stop them so later tests are not affected, then fail
        w.stop()
    assert not left, f"test left engine worker threads running: {left}"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def studio_error_log(request):
    """Fail the test on any ERROR the studio logged (an exception in a slot or a job's internal
    error); pytest-qt's exception capture (on by default) fails it on the raise itself.
    A test that provokes one on purpose marks itself ``@pytest.mark.studio_errors_expected``
    and reads ``studio_error_log.records``."""
    from mfdv_studio.errors import CRASH_LOG

    h = _Records()
    CRASH_LOG.addHandler(h)
    yield h
    CRASH_LOG.removeHandler(h)
    if request.node.get_closest_marker("studio_errors_expected") is None:
        assert not h.records, "the studio logged errors:\n" + "\n".join(r.getMessage() for r in h.records)


@pytest.fixture
def window(qtbot, tmp_path):
    from mfdv_studio.main_window import MainWindow

    win = MainWindow(tmp_path / "p.mfdv.h5")
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


@pytest.fixture
def window_on(qtbot, tmp_path):
    """``window_on(project)``: a window on a copy of ``project`` (shut down after the test)."""
    import shutil

    from mfdv_studio.main_window import MainWindow

    opened = []

    def make(project):
        p = tmp_path / f"copy{len(opened)}.mfdv.h5"
        shutil.copyfile(project, p)
        win = MainWindow(p)
        qtbot.addWidget(win)
        opened.append(win)
        return win

    yield make
    for win in opened:
        win.shutdown()


def wait_results(qtbot, win, n, timeout=90_000):
    qtbot.waitUntil(lambda: len(win.results) + len(win.errors) >= n, timeout=timeout)
