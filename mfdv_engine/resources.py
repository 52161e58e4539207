"""Where the files shipped with the project (presets, demo data) live."""
from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources`` folder: ``$MFDV_RESOURCES`` if set, else the one next to the package."""
    override = os.environ.get("MFDV_RESOURCES")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "resources"
