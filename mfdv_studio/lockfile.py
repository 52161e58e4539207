"""The project's lock file after a clean quit: the engine takes ``<project>.lock`` with ``flock`` for each
write and leaves the file behind; the studio removes it when it closes the project — unless another
process (``mfdv train`` in a terminal) holds it now."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from mfdv_engine.errors import MfdvError
from mfdv_engine.project.store import Project


def lock_path(project: Path) -> Path | None:
    """Where the engine keeps ``project``'s lock (a symlinked project's lock sits by its target)."""
    try:
        return Project.at(project).lock_path
    except (MfdvError, OSError):
        return None


def remove_if_free(project: Path | None) -> bool:
    """Remove the project's lock file when nobody holds the lock; True when it was removed.

    The lock is taken (non-blocking) before the file goes, and the file is removed only while it is
    still the one locked, so a writer that holds it, or that took a new one meanwhile, keeps it."""
    path = lock_path(project) if project is not None else None
    if path is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file (nothing was written), or not ours to open
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it: its lock stays
            return False
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                os.unlink(path)
                return True
        except OSError:
            pass
        return False
    finally:
        os.close(fd)   # (closing releases the lock)
