"""Can Qt's xcb platform load here? If not, name the Debian packages that are missing.

Qt aborts the whole process when its platform plugin fails to load, and its
message names one library (``xcb-cursor0``) even when others are the gap. So
the studio checks each library itself before it creates the application.
Standard library only: ``tools/system-deps.sh`` runs this file with the
system's python3 (``--missing-packages``) before any virtual environment exists.
"""
from __future__ import annotations

import ctypes
import os
import sys
from typing import Callable

#: shared library → the Debian package that ships it (what Qt's xcb plugin links or loads)
XCB_LIBS = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0",
}


def loadable(soname: str) -> bool:
    """Whether the dynamic loader finds ``soname`` (the same search Qt's plugin load does)."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_packages(check: Callable[[str], bool] = loadable) -> list[str]:
    """The Debian packages whose library the loader cannot find, in :data:`XCB_LIBS` order."""
    return [pkg for lib, pkg in XCB_LIBS.items() if not check(lib)]


def wants_xcb(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """Qt picks xcb when the platform is unset (or xcb) and an X display is named."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0] == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def problem(env: dict[str, str] | os._Environ | None = None, check: Callable[[str], bool] | None = None) -> str | None:
    """One sentence on why the window cannot open here, or None when it can (as far as we can tell)."""
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux"):  # macOS and Windows have their own platforms and no DISPLAY
        return None
    platform = env.get("QT_QPA_PLATFORM", "")
    if not platform and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("there is no display to open the window on (DISPLAY is unset): run it on a desktop, over ssh -X, "
                "under xvfb-run, or use the `mfdv` command for headless work")
    if not wants_xcb(env):
        return None
    gone = missing_packages(check or loadable)
    if not gone:
        return None
    return (f"Qt's xcb platform needs Debian packages that are missing here: {' '.join(gone)}; install them with "
            f"`sudo apt-get install {' '.join(gone)}` (or `make system-deps` as root) and start the studio again")


if __name__ == "__main__":  # tools/system-deps.sh: the packages to install, one line
    if sys.argv[1:] == ["--missing-packages"]:
        print(" ".join(missing_packages()))
        sys.exit(0)
    sys.exit("usage: python3 mfdv_studio/platform_check.py --missing-packages")
