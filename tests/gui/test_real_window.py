"""The real `mfdv-studio` on a real X display (Xvfb), as a first-time user starts it.

Offscreen tests are necessary, not sufficient: this one starts the installed
command under Xvfb with Qt's xcb platform (the libraries `make test` installs
through tools/system-deps.sh), waits for the main window, takes a screenshot
of the screen and checks it is not blank. Skipped, with the reason, where Xvfb
or ImageMagick is not installed.
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mfdv_engine.project.store import Project

BIN = Path(sys.executable).parent


def _free_display() -> int:
    for n in range(90, 140):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            return n
    pytest.skip("no free X display number between :90 and :139")


def _wait(cmd: list[str], env: dict, timeout: float) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout
        time.sleep(0.5)
    return ""


def test_the_studio_opens_a_real_window_under_xvfb(tmp_path):
    for tool, package in (("Xvfb", "xvfb"), ("xdotool", "xdotool"), ("import", "imagemagick")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian package {package}; `make test` installs it as root)")
    project = tmp_path / "first.mfdv.h5"
    Project.open(project, create=True)
    display = f":{_free_display()}"
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", MFDV_STUDIO_QUIT_AFTER_MS="60000")
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    studio = None
    try:
        assert _wait(["xdpyinfo"] if shutil.which("xdpyinfo") else ["xdotool", "getdisplaygeometry"], env, 20), \
            "Xvfb did not start"
        studio = subprocess.Popen([str(BIN / "mfdv-studio"), str(project)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        found = _wait(["xdotool", "search", "--onlyvisible", "--name", "MFDV Studio"], env, 90)
        if not found:
            studio.kill()
            out = studio.communicate()[0]
            pytest.fail(f"no MFDV Studio window appeared on {display}; the studio said:\n{out[-2000:]}")
        time.sleep(2)  # let the first snapshot paint
        shot = tmp_path / "shot.png"
        subprocess.run(["import", "-display", display, "-window", "root", str(shot)], env=env, check=True, timeout=30)
        colours = subprocess.run(["convert", str(shot), "-format", "%k", "info:"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        assert shot.stat().st_size > 10_000 and int(colours or 0) > 16, f"the screenshot looks blank ({colours} colours)"
    finally:
        if studio is not None and studio.poll() is None:
            studio.terminate()
            try:
                studio.wait(timeout=15)
            except subprocess.TimeoutExpired:
                studio.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
