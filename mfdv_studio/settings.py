"""Where the studio keeps its settings and default project (platformdirs), and QSettings."""
from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from PySide6.QtCore import QSettings

APP = "mfdv-studio"


def config_dir() -> Path:
    return Path(os.environ.get("MFDV_STUDIO_CONFIG_DIR") or platformdirs.user_config_dir(APP))


def data_dir() -> Path:
    return Path(os.environ.get("MFDV_STUDIO_DATA_DIR") or platformdirs.user_data_dir(APP))


def default_project_path() -> Path:
    return data_dir() / "demo.mfdv.h5"


def settings() -> QSettings:
    d = config_dir()
    d.mkdir(parents=True, exist_ok=True)
    return QSettings(str(d / "studio.ini"), QSettings.IniFormat)


def recent_files(s: QSettings) -> list[str]:
    v = s.value("recent", [])
    if isinstance(v, str):
        v = [v]
    return [p for p in (v or []) if p]


def push_recent(s: QSettings, path: str, limit: int = 8) -> None:
    items = [path] + [p for p in recent_files(s) if p != path]
    s.setValue("recent", items[:limit])


def pref(s: QSettings, key: str, default):
    v = s.value(f"prefs/{key}", default)
    if isinstance(default, bool):
        return v in (True, "true", "1", 1)
    if isinstance(default, int):
        try:
            return int(v)
        except (TypeError, ValueError):
            return default
    return v
