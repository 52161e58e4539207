"""The first screen teaches: an empty project shows what to do, with buttons, not empty plots."""
from .conftest import wait_results


def test_empty_project_offers_the_ways_in_and_the_demo_trains(qtbot, window):
    qtbot.waitUntil(lambda: window.snapshot.path == window.project_path)
    assert window.pages.currentWidget() is window.welcome
    assert window.welcome.title.text() == "p.mfdv.h5 has no runs yet"
    assert window.welcome.demo.isEnabled() and window.welcome.new_run.isEnabled()
    assert not window.menus.cancel.isEnabled(), "nothing to cancel while idle"
    window.welcome.demo.click()          # trains in the background, the status bar says how far
    qtbot.waitUntil(lambda: window.pages.currentWidget() is window.tabs, timeout=60_000)
    assert window.tabs.currentWidget() is window.training
    wait_results(qtbot, window, 1, timeout=300_000)
    assert window.results[-1][1]["status"] == "finished", window.errors
    qtbot.waitUntil(lambda: not window.menus.cancel.isEnabled())
    qtbot.waitUntil(lambda: len(window.snapshot.infos()) == 1)
    assert window.pages.currentWidget() is window.tabs


def test_a_project_with_runs_opens_on_the_tabs(qtbot, base, window_on):
    win = window_on(base)
    qtbot.waitUntil(lambda: len(win.snapshot.infos()) == 2, timeout=30_000)
    assert win.pages.currentWidget() is win.tabs


def test_no_project_says_so_and_offers_open(qtbot):
    from mfdv_studio.main_window import MainWindow

    win = MainWindow(None)
    qtbot.addWidget(win)
    try:
        assert win.pages.currentWidget() is win.welcome
        assert win.welcome.title.text() == "No project is open"
        assert win.welcome.open.isEnabled() and not win.welcome.demo.isEnabled()
    finally:
        win.shutdown()
