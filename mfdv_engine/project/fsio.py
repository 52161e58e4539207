"""Replacing a file the way the user's file system expects.

Every file the tool writes (the project, a run's live file, a CSV) is written
to a temporary sibling and renamed over the original, so a crash leaves the
old or the new content, never half of each. Done naively that has four
surprises, each handled here: a symlink would be replaced by a regular file
(we write through to its target), a read-only file would be replaced anyway
(we refuse, with one sentence), a device node or folder would be clobbered
(we refuse) and a full disk would leave a partial temporary behind or a
half-written file (we check the space first, check the result before the
rename, and always remove the temporary).
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ProjectError, StorageFull

#: room kept free beyond the estimate: HDF5 metadata, the file system's own blocks
MARGIN = 1 << 20


def target_of(path: Path) -> Path:
    """The file a write must replace: a symlink's final target, else the path itself."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def check_regular(path: Path, what: str) -> None:
    """Refuse a folder, device node, FIFO or socket where a regular file belongs."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISDIR(mode):
        raise ProjectError(f"{path} is a folder, not {what}; give a file name inside it instead")
    if not stat.S_ISREG(mode):
        raise ProjectError(f"{path} is a device, pipe or socket, not {what}; give the path of a regular file")


def read_only_reason(path: Path) -> str:
    """Why ``path`` (a regular file, maybe absent) cannot be replaced, or ``""``.

    A file without any write permission bit counts as read-only even for root,
    who would otherwise replace it silently."""
    folder = path.parent
    if path.exists():
        st = os.stat(path)
        if not st.st_mode & 0o222 or not os.access(path, os.W_OK):
            return f"{path} is read-only (no write permission); `chmod u+w {path}` or work on a copy"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is read-only, so {path.name} cannot be replaced there; work on a copy elsewhere"
    return ""


def is_disk_full(e: BaseException) -> bool:
    text = str(e)
    return (getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            or "No space left" in text or "errno = 28" in text or "Disk quota" in text)


def disk_full(path: Path, need: int) -> StorageFull:
    free = free_bytes(path.parent)
    return StorageFull(
        f"the disk holding {path} is full ({_mib(free)} free, this write needs about {_mib(need)}); "
        "free some space and run the command again (an interrupted run continues with --resume)"
    )


def ensure_space(path: Path, need: int) -> None:
    """Refuse before writing when the file system cannot take ``need`` bytes more."""
    if free_bytes(path.parent) < need + MARGIN:
        raise disk_full(path, need + MARGIN)


@contextmanager
def replacing(path: Path, *, need: int, copy_original: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``'s target to write; on success it is
    fsynced, given the original's permission bits and renamed over the target.
    On any failure the temporary is removed and the target is untouched; a full
    disk becomes :class:`StorageFull`."""
    target = target_of(path)
    check_regular(target, "a file this tool can write")
    reason = read_only_reason(target)
    if reason:
        raise ProjectError(reason)
    ensure_space(target, need)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        if copy_original:
            shutil.copyfile(target, tmp)
        yield tmp
        fsync_path(tmp)
        if target.exists():
            shutil.copymode(target, tmp)
        os.replace(tmp, target)
        fsync_path(target.parent)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full(target, need) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


def stale_temporaries(target: Path) -> list[Path]:
    """Temporaries of ``target`` left by processes that no longer run."""
    out = []
    for p in target.parent.glob(target.name + ".tmp-*"):
        pid = p.name[len(target.name) + 5:].split("-")[0]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            out.append(p)
    return out


def fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 1 << 62


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"
