"""``mfdv-studio [PROJECT]``: the desktop workbench."""
from __future__ import annotations

import argparse
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mfdv-studio", description="MFDV Studio: train, attack and inspect stochastic networks.")
    p.add_argument("project", nargs="?", help="a project file (*.mfdv.h5); default: a demo project in the user data folder")
    p.add_argument("--quit-after", type=int, metavar="MS", default=int(os.environ.get("MFDV_STUDIO_QUIT_AFTER_MS", 0) or 0),
                   help="quit after MS milliseconds (smoke tests); also $MFDV_STUDIO_QUIT_AFTER_MS")
    return p


def project_problem(path: str) -> str:
    """Why ``path`` cannot be a project, in the command line's own sentence (a missing folder is
    never created: ``mfdv`` refuses it too), or ""."""
    from mfdv_engine.errors import MfdvError
    from mfdv_engine.project.store import Project

    try:
        Project.at(path)
    except MfdvError as e:
        return str(e)
    return ""


def settle_gc() -> None:
    """Move everything alive after start-up (torch, Qt, pyqtgraph: ~10^6 objects)
    out of the collector's view: otherwise every full collection walks them all
    and freezes the event loop for ~100 ms. Set MFDV_NO_GC_FREEZE=1 to compare."""
    import gc
    import os

    if os.environ.get("MFDV_NO_GC_FREEZE"):
        return
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .platform_check import problem

    why = problem() or (project_problem(args.project) if args.project is not None else "")
    if why:  # Qt would abort the process with a message that names the wrong library
        print(f"mfdv-studio: error: {why}", file=sys.stderr)
        return 2
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from . import errors, settings as st
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MFDV Studio")
    app.setOrganizationName("mfdv")
    qss = _style_sheet()
    if qss:
        app.setStyleSheet(qss)
    path = args.project
    if path is None:
        st.data_dir().mkdir(parents=True, exist_ok=True)
        path = str(st.default_project_path())
    win = MainWindow(path)
    errors.native_crashes_to(errors.log_to_file(st.data_dir()))
    errors.install(win)
    win.show()
    settle_gc()
    if args.quit_after:
        QTimer.singleShot(args.quit_after, win.close)
    app.aboutToQuit.connect(win.shutdown)
    rc = app.exec()
    win.shutdown()
    return rc


def _style_sheet() -> str:
    from mfdv_engine.resources import resources_dir
    p = resources_dir() / "style.qss"
    try:
        return p.read_text()
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
