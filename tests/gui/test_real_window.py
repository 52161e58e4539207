"""The real `mfdv-studio` on a real X display (Xvfb), as a first-time user starts it.

Offscreen tests are necessary, not sufficient: this one starts the installed
command under Xvfb with Qt's xcb platform (the libraries `make test` installs
through tools/system-deps.sh), waits for the main window, takes a screenshot
of the screen and checks it is not blank. Skipped, with the reason, where Xvfb
or ImageMagick is not installed.
"""
import subprocess
import time

from mfdv_engine.project.store import Project

from .xstudio import need_tools, studio_on_xvfb


def test_the_studio_opens_a_real_window_under_xvfb(tmp_path):
    need_tools("Xvfb", "xdotool", "import")
    project = tmp_path / "first.mfdv.h5"
    Project.open(project, create=True)
    with studio_on_xvfb(project, "1280x800", tmp_path / "studio.log") as (env, _):
        time.sleep(2)  # let the first snapshot paint
        shot = tmp_path / "shot.png"
        subprocess.run(["import", "-display", env["DISPLAY"], "-window", "root", str(shot)], env=env, check=True,
                       timeout=30)
        colours = subprocess.run(["convert", str(shot), "-format", "%k", "info:"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        assert shot.stat().st_size > 10_000 and int(colours or 0) > 16, f"the screenshot looks blank ({colours} colours)"
