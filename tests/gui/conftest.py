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


@pytest.fixture
def window(qtbot, tmp_path):
    from mfdv_studio.main_window import MainWindow

    win = MainWindow(tmp_path / "p.mfdv.h5")
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


def wait_results(qtbot, win, n, timeout=90_000):
    qtbot.waitUntil(lambda: len(win.results) + len(win.errors) >= n, timeout=timeout)
