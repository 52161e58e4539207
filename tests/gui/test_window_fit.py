"""Issue 21, item 2: the window opens no larger than the screen's available area, so the status bar
(progress, ETA, Cancel) is on screen on a 1280×800 screen and a 1366×768 laptop."""
import subprocess
import time

import pytest
from PySide6.QtCore import QByteArray, QRect, QSize

from mfdv_engine.project.store import Project
from mfdv_studio.screenfit import FRAME, WANTED, fitted_size

from .xstudio import need_tools, studio_on_xvfb


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
    need_tools("Xvfb", "xdotool")
    project = tmp_path / "first.mfdv.h5"
    Project.open(project, create=True)
    with studio_on_xvfb(project, screen, tmp_path / "studio.log") as (env, wids):
        time.sleep(1)
        geo = subprocess.run(["xdotool", "getwindowgeometry", "--shell", wids[0]], env=env, capture_output=True,
                             text=True, timeout=30).stdout
        g = dict(line.split("=", 1) for line in geo.split())
        w, h = (int(v) for v in screen.split("x"))
        assert int(g["Y"]) + int(g["HEIGHT"]) <= h and int(g["X"]) + int(g["WIDTH"]) <= w, (geo, screen)
