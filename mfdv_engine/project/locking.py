"""The project's single-writer lock: an advisory ``flock`` on ``<project>.lock``.

The kernel drops a ``flock`` when its holder dies (a kill, a crash), so a lock
file left behind by a killed process blocks nobody: the next writer takes the
lock on the same file and then recovers what the dead writer left
(:meth:`Project._recover`). The file's text only names the holder for the
message a refused writer reads.
"""
from __future__ import annotations

import fcntl
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from . import fsio
from ..errors import ProjectError

#: how long a writer retries a lock that a reader is probing (a probe lasts microseconds)
LOCK_RETRY_S = 2.0


class LockMixin:
    """Taking, holding and probing the writer lock of a :class:`~.store.Project`."""

    _lock_fd: int | None

    @property
    def lock_path(self) -> Path:
        return self.target.with_name(self.target.name + ".lock")

    def acquire(self) -> "Project":
        """Take the writer lock (released by :meth:`release` or process death) and
        recover runs that a dead writer left marked running."""
        if self._lock_fd is not None:
            return self
        reason = self.read_only
        if reason:
            raise ProjectError(f"cannot write: {reason}")
        fsio.check_regular(self.lock_path, "the project's lock file")
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + LOCK_RETRY_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() < deadline:  # maybe a reader's momentary probe
                    time.sleep(0.02)
                    continue
                os.close(fd)
                owner = _lock_owner(self.lock_path)
                raise ProjectError(f"project {self.path.name} is being written by another process ({owner}); "
                                   "wait for it to finish or stop it first") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._lock_fd = fd
        if self.target.exists():
            self._recover()
        return self

    @contextmanager
    def writing(self) -> Iterator["Project"]:
        """Hold the lock for a block: taken if not held yet, and then released after it."""
        took = self._lock_fd is None
        self.acquire()
        try:
            yield self
        finally:
            if took:
                self.release()

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "Project":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def writer_alive(self) -> bool:
        if self._lock_fd is not None:
            return True
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)


def _lock_owner(lock_path: Path) -> str:
    """Who holds the lock, from the lock file (never our own pid: that was a stale write)."""
    try:
        text = lock_path.read_text()[:200]
    except OSError:
        return "unknown"
    return "unknown" if not text or text.startswith(f"pid {os.getpid()} ") else text
