"""The window's menus and their actions, in one place; each action calls a slot of the window."""
from __future__ import annotations

import sys
from typing import Callable

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from mfdv_engine.safetext import printable  # recent paths are file names a stranger may have chosen


class StudioActions(QObject):
    """File, Edit, Run and View menus; ``open_recent(path)`` when a recent project is chosen."""

    open_recent = Signal(str)

    def __init__(self, win: QMainWindow) -> None:
        super().__init__(win)
        self.win = win
        m = win.menuBar().addMenu("&File")
        self.new_project = self._act(m, "&New project…", win.new_project_dialog, "Ctrl+N")
        self.open_project = self._act(m, "&Open…", win.open_project_dialog, "Ctrl+O")
        self.recent_menu = m.addMenu("Open &Recent")
        self.close_project = self._act(m, "&Close project", win.close_project, "Ctrl+W")
        self.save_as = self._act(m, "Save &As…", win.save_as_dialog, "Ctrl+Shift+S")
        self.export_csv = self._act(m, "&Export CSV…", win.export_csv_dialog, "Ctrl+E")
        self.export_curves = self._act(m, "Export &training curves…", win.export_curves_dialog)
        m.addSeparator()
        self.preferences = self._act(m, "&Preferences…", win.preferences)
        self.quit = self._act(m, "&Quit", win.close, "Ctrl+Q")
        e = win.menuBar().addMenu("&Edit")
        # the standard Undo key for its standard meaning; a focused text field still takes it first
        self.undo = self._act(e, "&Undo", win.undo)
        self.undo.setShortcuts(QKeySequence.StandardKey.Undo)
        self.undo.setEnabled(False)
        # Delete (and Backspace on a Mac) in the Project panel only: in a text field it deletes text
        self.trash = self._act(e, "&Move selected runs to the trash", win.delete_selected_runs)
        self.trash.setShortcuts([QKeySequence(Qt.Key_Delete)]
                                + ([QKeySequence(Qt.Key_Backspace)] if sys.platform == "darwin" else []))
        self.trash.setShortcutContext(Qt.WidgetWithChildrenShortcut)
        win.explorer.addAction(self.trash)
        self.annotate = self._act(e, "&Notes and tags of the selected run…", win.annotate_selected_run)
        r = win.menuBar().addMenu("&Run")
        self.new_run = self._act(r, "New &training run…", win.new_training_run, "Ctrl+T")
        # (Ctrl+Shift+A: Ctrl+A stays select-all in tables and text fields)
        self.new_attack = self._act(r, "New &attack evaluation…", win.new_attack, "Ctrl+Shift+A")
        self.checklist = self._act(r, "Obfuscation &checklist", win.run_checklist)
        # no Esc shortcut: Esc belongs to dialogs and the filter box; cancelling asks first
        self.cancel = self._act(r, "&Cancel job…", win.confirm_cancel)
        v = win.menuBar().addMenu("&View")  # a closed panel comes back from here
        v.addAction(win.explorer_dock.toggleViewAction())
        self.set_project_open(False)  # until the window opens one

    def _act(self, menu: QMenu, text: str, slot: Callable, shortcut: str | None = None) -> QAction:
        a = QAction(text, self.win)
        if shortcut:
            a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def set_project_open(self, is_open: bool) -> None:
        """The actions that need a project are off while none is open."""
        for a in (self.close_project, self.save_as, self.export_csv, self.export_curves, self.new_run,
                  self.new_attack, self.checklist, self.trash, self.annotate):
            a.setEnabled(is_open)

    def set_recent(self, paths: list[str]) -> None:
        """Rebuild Open Recent from ``paths`` (newest first)."""
        self.recent_menu.clear()
        for p in paths:
            a = QAction(printable(p), self.win)
            a.setData(p)
            a.triggered.connect(self._recent_chosen)
            self.recent_menu.addAction(a)
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    @Slot()
    def _recent_chosen(self) -> None:
        a = self.sender()
        if isinstance(a, QAction):
            self.open_recent.emit(a.data())
