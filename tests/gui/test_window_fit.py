"""Issue 21, item 2: the window opens no larger than the screen's available area, so the status bar
(progress, ETA, Cancel) is on screen on a 1280×800 screen and a 1366×768 laptop."""
import os
import shutil
import subprocess
import time

import pytest
from PySide6.QtCore import QByteArray, QRect, QSize

from mfdv_engine.project.store import Project
from mfdv_studio.screenfit import FRAME, WANTED, fitted_size

from .test_real_window import BIN, _free_display, _wait


@pytest.mark.parametrize("screen", [(1366, 768), (1280, 800), (1920, 1080), (1024, 600)])
def test_the_wanted_size_is_cut_to_the_available_area(screen):
    got = fitted_size(QSize(*screen))
    assert got.width() <= min(WANTED.width(), screen[0] - FRAME.width())
    assert got.height() <= min(WANTED.height(), screen[1] - FRAME.height())
    assert got == QSize(min(1280, screen[0] - FRAME.width()), min(820, screen[1] - FRAME.height()))


def test_the_window_and_its_status_bar_fit_the_screen_even_from_a_bigger_screens_geometry(qtbot, tmp_path):
    from mfdv_studio.main_window import MainWindow

    win = MainWindow(tmp_path / "p.mfdv.h5")
    qtbot.addWidget(win)
    area = win.screen().availableGeometry()   # (offscreen: 800×800)
    assert win.height() + FRAME.height() <= area.height()
    win.resize(1600, 1200)   # as saved on a large monitor
    saved = win.saveGeometry()
    win.shutdown()
    win.settings.setValue("geometry", QByteArray(saved))
    again = MainWindow(tmp_path / "p.mfdv.h5", settings=win.settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    assert again.height() + FRAME.height() <= area.height()
    bar = again.statusBar()
    assert bar.isVisible() and QRect(0, 0, again.width(), again.height()).contains(bar.geometry())
    again.shutdown()


@pytest.mark.parametrize("screen", ["1366x768", "1280x800"])
def test_the_real_window_fits_a_small_screen(tmp_path, screen):
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    project = tmp_path / "first.mfdv.h5"
    Project.open(project, create=True)
    display = f":{_free_display()}"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", MFDV_STUDIO_QUIT_AFTER_MS="60000")
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    studio = None
    try:
        assert _wait(["xdotool", "getdisplaygeometry"], env, 20), "Xvfb did not start"
        with open(tmp_path / "studio.log", "w") as log:   # (the child keeps its own handle)
            studio = subprocess.Popen([str(BIN / "mfdv-studio"), str(project)], env=env, stdout=log,
                                      stderr=subprocess.STDOUT)
        wid = _wait(["xdotool", "search", "--onlyvisible", "--name", "MFDV Studio"], env, 120).split()
        assert wid, f"no window on {display}; the studio said:\n{(tmp_path / 'studio.log').read_text()[-2000:]}"
        time.sleep(1)
        geo = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wid[0]], env=env, capture_output=True,
                             text=True, timeout=30).stdout
        g = dict(line.split("=", 1) for line in geo.split())
        w, h = (int(v) for v in screen.split("x"))
        assert int(g["Y"]) + int(g["HEIGHT"]) <= h and int(g["X"]) + int(g["WIDTH"]) <= w, (geo, screen)
    finally:
        if studio is not None and studio.poll() is None:
            studio.terminate()
            try:
                studio.wait(timeout=15)
            except subprocess.TimeoutExpired:
                studio.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
