"""The installed `mfdv-studio` on a fresh Xvfb display: started, waited for, and always stopped.

Shared by the real-display tests, so each says only what it checks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

BIN = Path(sys.executable).parent
#: the tools a real-display test needs and the Debian package of each (`make test` installs them as root)
PACKAGES = {"Xvfb": "xvfb", "xdotool": "xdotool", "import": "imagemagick"}


def need_tools(*tools: str) -> None:
    """Skip, with the package to install, when a tool is missing."""
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {PACKAGES[tool]}; `make test` installs it as root)")


def free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    pytest.skip("no free X display number between :90 and :139")


def wait_for(cmd: list[str], env: dict, timeout: float) -> str:
    """``cmd``'s output once it succeeds with some, or "" after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout
        time.sleep(0.5)
    return ""


@contextmanager
def studio_on_xvfb(project: Path, screen: str, log: Path) -> Iterator[tuple[dict, list[str]]]:
    """Xvfb at ``screen`` (e.g. "1280x800"), the studio on ``project`` with its output in ``log``;
    yields the display's environment and the studio's window ids. Both processes stop afterwards."""
    display = f":{free_display()}"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", MFDV_STUDIO_QUIT_AFTER_MS="60000")
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    studio = None
    try:
        assert wait_for(["xdotool", "getdisplaygeometry"], env, 20), "Xvfb did not start"
        with open(log, "w") as out:   # (the child keeps its own handle)
            studio = subprocess.Popen([str(BIN / "mfdv-studio"), str(project)], env=env, stdout=out,
                                      stderr=subprocess.STDOUT)
        wids = wait_for(["xdotool", "search", "--onlyvisible", "--name", "MFDV Studio"], env, 120).split()
        if not wids:
            pytest.fail(f"no MFDV Studio window appeared on {display}; the studio said:\n{log.read_text()[-2000:]}")
        yield env, wids
    finally:
        if studio is not None and studio.poll() is None:
            studio.terminate()
            try:
                studio.wait(timeout=15)
            except subprocess.TimeoutExpired:
                studio.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
