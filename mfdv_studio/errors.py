"""No silent exceptions: whatever escapes a slot or a job callback is logged, said in one
sentence in the status bar, and offered with its traceback in a details dialog.

PySide6 hands an exception raised inside a slot to :data:`sys.excepthook` and goes on;
without a hook of our own it reaches only the terminal, and the user sees a view that
stopped half-way (issue 14, item 2). :func:`install` chains onto the hook already there,
so pytest-qt's exception capture still sees every one and fails the test.
"""
from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Callable, Protocol

LOG = logging.getLogger("mfdv_studio")
#: the logger unexpected exceptions go to; tests fail on any ERROR record it gets
CRASH_LOG = logging.getLogger("mfdv_studio.errors")

Hook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


class Reporter(Protocol):
    """What a window offers to say an error (``MainWindow`` via :mod:`.commands`)."""

    def show_error(self, title: str, sentence: str, details: str = "") -> None: ...

    def status_message(self, text: str, ms: int = 4000) -> None: ...


def sentence(exc: BaseException) -> str:
    """One sentence for the status bar; the traceback goes to the details."""
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"Something in the studio failed ({what}); it is logged, and the details say where."


def log_to_file(folder: Path) -> Path | None:
    """Keep the studio's log in ``folder/studio.log`` (rotated at 1 MB); None when it cannot be written."""
    path = folder / "studio.log"
    if any(getattr(h, "baseFilename", None) == str(path) for h in LOG.handlers):
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=1 << 20, backupCount=2, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    return path


_CRASH_FILE: list = []   # the open file faulthandler writes into (it must outlive the call)


def native_crashes_to(log: Path | None) -> None:
    """A crash below Python (a segfault in Qt or torch) writes every thread's stack into the
    studio's log before the process dies, instead of leaving nothing behind."""
    import faulthandler

    if log is None or _CRASH_FILE:
        return
    try:
        _CRASH_FILE.append(open(log, "a", encoding="utf-8"))
    except OSError:
        return
    faulthandler.enable(_CRASH_FILE[0], all_threads=True)


def install(window: Reporter) -> Hook:
    """Route uncaught exceptions to ``window`` (and then to the hook that was there); returns the old hook."""
    previous: Hook = sys.excepthook

    def hook(etype: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        report(window, exc, tb)
        previous(etype, exc, tb)

    sys.excepthook = hook
    return previous


def report(window: Reporter, exc: BaseException, tb: TracebackType | None = None) -> None:
    """Log ``exc`` and tell the user; never raises (a failing error path must not loop)."""
    details = "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))
    CRASH_LOG.error("uncaught exception in the studio\n%s", details)
    try:
        window.status_message(sentence(exc), 15000)
        window.show_error("Unexpected error", sentence(exc), details)
    except Exception:  # noqa: BLE001 (the window itself may be what broke)
        CRASH_LOG.exception("could not show the error")
