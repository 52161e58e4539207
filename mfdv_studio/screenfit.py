"""The window's first size: 1280×820 where the screen has room, else what fits its available area
(a 1366×768 laptop, a 1280×800 screen), so the status bar with the progress, ETA and Cancel is on screen."""
from __future__ import annotations

from PySide6.QtCore import QByteArray, QPoint, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

#: the size the views are laid out for
WANTED = QSize(1280, 820)
#: what a window manager's frame adds around the window (title bar, borders), kept free on screen
FRAME = QSize(16, 48)


def fitted_size(available: QSize, wanted: QSize = WANTED) -> QSize:
    """``wanted``, made no larger than the available area less the frame."""
    return QSize(max(1, min(wanted.width(), available.width() - FRAME.width())),
                 max(1, min(wanted.height(), available.height() - FRAME.height())))


def available_area(win: QWidget) -> QRect | None:
    screen = win.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else None


def place(win: QWidget, saved: object) -> None:
    """Restore the saved geometry (``saved``: what ``saveGeometry`` gave) or take the wanted size;
    either way the window ends up no larger than the screen's available area, and on it."""
    restored = isinstance(saved, (QByteArray, bytes)) and win.restoreGeometry(saved)
    area = available_area(win)
    if area is None:
        if not restored:
            win.resize(WANTED)
        return
    win.resize(fitted_size(area.size(), win.size() if restored else WANTED))
    if restored and not area.contains(QRect(win.pos(), win.size())):
        win.move(QPoint(max(area.left(), min(win.x(), area.right() - win.width())),
                        max(area.top(), min(win.y(), area.bottom() - win.height() - FRAME.height()))))
