"""No shortcut steals a standard one; cancelling asks first; a closed panel comes back from View."""
from PySide6.QtGui import QAction, QKeySequence

STANDARD = [QKeySequence.StandardKey.SelectAll, QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Paste,
            QKeySequence.StandardKey.Cut, QKeySequence.StandardKey.Undo, QKeySequence.StandardKey.Find]


def test_no_action_takes_a_standard_shortcut_or_esc(window):
    # Edit ▸ Undo is the one action with a standard key, for its standard meaning (a focused
    # text field still undoes its own typing first: tests/gui/test_project_basics.py)
    undo = window.menus.undo
    assert undo.shortcuts() == QKeySequence.keyBindings(QKeySequence.StandardKey.Undo)
    taken = {a.shortcut().toString() for a in window.findChildren(QAction)
             if not a.shortcut().isEmpty() and a is not undo}
    standard = {k.toString() for s in STANDARD for k in QKeySequence.keyBindings(s)}
    assert "Ctrl+Shift+A" in taken  # the attack wizard moved off select-all
    assert not taken & (standard | {"Esc"}), taken & standard


def test_cancel_asks_first(window, monkeypatch):
    cancelled, asked = [], []
    monkeypatch.setattr(window.worker, "busy", lambda: True)
    monkeypatch.setattr(window.worker, "cancel", lambda: cancelled.append(1))
    window.confirm = lambda title, text: asked.append(title) or False
    window.confirm_cancel()
    assert asked == ["Cancel job"] and cancelled == []
    window.confirm = lambda title, text: True
    window.confirm_cancel()
    assert cancelled == [1]


def test_the_view_menu_restores_the_project_panel(window, qtbot):
    from PySide6.QtWidgets import QDockWidget

    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    (toggle,) = view.actions()
    dock = window.findChild(QDockWidget, "explorer")
    dock.close()
    assert not dock.isVisible()
    toggle.trigger()
    qtbot.waitUntil(dock.isVisible, timeout=2000)
