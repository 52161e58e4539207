"""When Qt's xcb platform cannot load, the studio names the missing Debian packages (not Qt's one guess)."""
import subprocess
import sys
from pathlib import Path

from mfdv_studio import app, platform_check as pc

ROOT = Path(__file__).resolve().parents[2]


def test_each_missing_library_is_named_by_its_package():
    gone = {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    why = pc.problem({"DISPLAY": ":0"}, check=lambda lib: lib not in gone)
    assert "libxcb-icccm4 libxcb-keysyms1" in why and "apt-get install libxcb-icccm4 libxcb-keysyms1" in why
    assert "libxcb-cursor0" not in why
    assert pc.problem({"DISPLAY": ":0"}, check=lambda lib: True) is None


def test_offscreen_and_wayland_skip_the_xcb_check_and_no_display_is_said():
    never = lambda lib: False  # noqa: E731
    assert pc.problem({"QT_QPA_PLATFORM": "offscreen"}, check=never) is None
    assert pc.problem({"WAYLAND_DISPLAY": "wayland-0"}, check=never) is None
    assert "QT_QPA_PLATFORM" not in pc.problem({}, check=never) and "DISPLAY is unset" in pc.problem({}, check=never)
    assert "libxcb-cursor0" in pc.problem({"QT_QPA_PLATFORM": "xcb"}, check=lambda lib: "cursor" not in lib)


def test_the_studio_stops_with_one_sentence_before_qt_aborts(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(pc, "loadable", lambda lib: lib != "libxcb-icccm.so.4")
    assert app.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mfdv-studio: error: ") and "libxcb-icccm4" in err[0]


def test_system_deps_reads_the_same_list():
    out = subprocess.run([sys.executable, str(ROOT / "mfdv_studio/platform_check.py"), "--missing-packages"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert set(out) <= set(pc.XCB_LIBS.values())
    script = (ROOT / "tools/system-deps.sh").read_text()
    assert "platform_check.py\" --missing-packages" in script and "need_lib" not in script


def test_other_systems_are_not_refused(monkeypatch):
    monkeypatch.setattr(pc.sys, "platform", "darwin")
    assert pc.problem({}, check=lambda lib: False) is None
