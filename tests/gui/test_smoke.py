import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_app_starts_and_quits(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFDV_STUDIO_QUIT_AFTER_MS="2000",
               MFDV_STUDIO_CONFIG_DIR=str(tmp_path / "cfg"), MFDV_STUDIO_DATA_DIR=str(tmp_path / "data"))
    p = subprocess.run([sys.executable, "-m", "mfdv_studio.app", str(tmp_path / "smoke.mfdv.h5")], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "smoke.mfdv.h5").exists()


def test_app_without_project_uses_user_data_dir(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", MFDV_STUDIO_CONFIG_DIR=str(tmp_path / "cfg"),
               MFDV_STUDIO_DATA_DIR=str(tmp_path / "data"))
    p = subprocess.run([sys.executable, "-m", "mfdv_studio.app", "--quit-after", "1500"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (tmp_path / "data" / "demo.mfdv.h5").exists()


def test_missing_data_error_names_the_preference(tmp_path):
    from mfdv_engine.data import load_dataset
    from mfdv_engine.errors import DataError
    from mfdv_studio.worker import describe_error

    try:
        load_dataset("mnist", tmp_path)
    except DataError as e:
        sentence, details = describe_error(e)
    else:
        raise AssertionError("loading MNIST from an empty folder should fail")
    assert "--data-root" in sentence and "File → Preferences… → Data folder" in sentence
    assert "Traceback" in details and "Traceback" not in sentence


def test_status_bar_says_when_the_engine_is_ready(window, qtbot):
    # the worker imports torch's lazily loaded modules first; the status bar says so, then "idle"
    qtbot.waitUntil(lambda: window.job_label.text() == "idle", timeout=60_000)
