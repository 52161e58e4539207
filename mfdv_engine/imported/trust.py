"""The local list of model files this machine has imported, and so trusts to run.

A project file is data, possibly from a stranger: it may *name* a Python file,
but naming one must never make us execute it. Only ``mfdv import``, where the
user names the file on their own command line, adds an entry; rebuilding an
imported run's model runs its file only when that exact path, content hash and
entry point are on this machine's list.

The list lives in ``platformdirs.user_config_dir("mfdv-studio")/trusted-models.json``
(``MFDV_CONFIG_DIR`` overrides the folder, e.g. for tests).
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..project import fsio
from ..errors import ConfigError

TRUST_FILE = "trusted-models.json"
#: a trust list larger than this is not ours (it holds a few lines per imported model)
TRUST_MAX_BYTES = 4 << 20


def config_dir() -> Path:
    """The folder of this machine's MFDV settings (``MFDV_CONFIG_DIR`` wins)."""
    env = os.environ.get("MFDV_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("mfdv-studio"))


def trust_path() -> Path:
    return config_dir() / TRUST_FILE


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _entries() -> list[dict[str, Any]]:
    """The list's entries; a missing list is empty, a damaged one is one sentence."""
    path = trust_path()
    try:
        if path.stat().st_size > TRUST_MAX_BYTES:
            raise ConfigError(f"the trusted-model list {path} is too large to be ours; delete it and run `mfdv import` again")
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ConfigError(f"the trusted-model list {path} cannot be read; delete it and run `mfdv import` again") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        raise ConfigError(f"the trusted-model list {path} is damaged; delete it and run `mfdv import` again")
    return [m for m in models if isinstance(m, dict)]


def _key(file: str, sha256: str, entry: str) -> tuple[str, str, str]:
    return (str(file), str(sha256).lower(), str(entry))


def is_trusted(file: str, sha256: str, entry: str) -> bool:
    """Whether ``entry`` of the file at ``file`` with content hash ``sha256`` was imported here."""
    want = _key(file, sha256, entry)
    return any(_key(m.get("file"), m.get("sha256"), m.get("entry")) == want for m in _entries())


def trust(file: str, sha256: str, entry: str) -> None:
    """Add (file, hash, entry) to the list; the list is replaced atomically."""
    models = [m for m in _entries() if m.get("file") != str(file) or m.get("entry") != entry]
    models.append({"file": str(file), "sha256": sha256, "entry": entry,
                   "added": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    path = trust_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the settings folder {path.parent}: {e.strerror}") from None
    text = json.dumps({"version": 1, "models": models}, indent=2, sort_keys=True)
    with fsio.replacing(path, need=len(text) + 4096) as tmp:
        tmp.write_text(text, encoding="utf-8")
