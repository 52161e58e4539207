"""The one rule for every file the tool writes as an output (CSV, reports, plots,
LaTeX/Markdown tables, the studio's exports): never onto a project, never over a
file it did not write unless asked to.

:func:`check_output` refuses, in one sentence and before anything is written:

* the project file, its lock, a run's live file or a temporary of it, and any
  HDF5 file: judged by what the path *is* after resolving links (its content's
  HDF5 signature, a ``.lock``/``.live``/``.tmp-`` sibling of one), not by name;
* a folder, socket or block device; a missing folder;
* a read-only file (always), and an existing file that is not one of ours
  (``ours(path)`` recognises our own earlier output) unless ``overwrite``.

Pipes and character devices (``/dev/stdout``, ``/dev/null``) are streams:
written straight through. :func:`write_output` applies the rule and writes the
file atomically through :func:`mfdv_engine.project.fsio.replacing`.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import IO, Callable

from . import fsio
from ..errors import ProjectError

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: where HDF5 looks for its signature (after an optional user block)
_SIGNATURE_OFFSETS = (0, 512, 1024, 2048, 4096)

Recognise = Callable[[Path], bool]


def is_hdf5(path: Path) -> bool:
    """Whether ``path`` is a regular file holding an HDF5 signature (a project, a live file)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            for off in _SIGNATURE_OFFSETS:
                f.seek(off)
                if f.read(8) == HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def project_part(target: Path) -> str | None:
    """What of a project ``target`` (a resolved path) is, in words, or None."""
    name, parent = target.name, target.parent
    if is_hdf5(target):
        return "an HDF5 file (a project or a run's live file)"
    if name.endswith(".lock") and is_hdf5(target.with_name(name[:-5])):
        return f"the lock of project {target.with_name(name[:-5])}"
    if ".tmp-" in name and is_hdf5(target.with_name(name.split(".tmp-")[0])):
        return f"a temporary of project {target.with_name(name.split('.tmp-')[0])}"
    if parent.name.endswith(".live") and is_hdf5(parent.with_name(parent.name[:-5])):
        return f"a live file of project {parent.with_name(parent.name[:-5])}"
    return None


def is_stream(target: Path) -> bool:
    """A pipe or character device (``/dev/stdout``, ``/dev/null``): written straight through."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def check_output(path: str | os.PathLike, *, what: str, overwrite: bool = False, ours: Recognise | None = None,
                 example: str = "out.csv") -> Path:
    """The resolved file ``what`` (e.g. "the CSV") may be written to, or one ProjectError sentence."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ProjectError(f"{what} needs a file path (a str or os.PathLike), got {path!r}")
    p = Path(path).expanduser()
    if not p.parent.is_dir():
        raise ProjectError(f"the folder {p.parent} for {p.name} does not exist; create it or choose another path")
    if is_stream(p):  # judged through the link: /dev/stdout leads to a pipe with no path of its own
        return p
    target = Path(os.path.realpath(p))
    if target.is_dir():
        raise ProjectError(f"{p} is a folder; give a file name for {what}, such as {p / example}")
    fsio.check_regular(target, what)
    part = project_part(target)
    if part:
        shown = str(p) if target == p else f"{p} (which leads to {target})"
        raise ProjectError(f"{shown} is {part}; write {what} to another file, e.g. {p.parent / example}")
    if target.exists():
        reason = fsio.read_only_reason(target)
        if reason:
            raise ProjectError(reason)
        if not overwrite and not (ours is not None and ours(target)):
            raise ProjectError(f"{p} exists and is not {what} this tool wrote; pass --overwrite (overwrite=True "
                               "in Python) to replace it, or choose another name")
    return target


def write_output(path: str | os.PathLike, write: Callable[[IO], None], *, what: str, overwrite: bool = False,
                 ours: Recognise | None = None, example: str = "out.csv", binary: bool = False,
                 need: int = 1 << 16) -> None:
    """Apply :func:`check_output`, then ``write(stream)``: standard output for ``-``, straight to a
    pipe or device, else into a temporary renamed over the target (never half a file)."""
    mode = "wb" if binary else "w"
    kw = {} if binary else {"encoding": "utf-8", "newline": ""}
    if str(path) == "-":
        write(sys.stdout.buffer if binary else sys.stdout)
        return
    target = check_output(path, what=what, overwrite=overwrite, ours=ours, example=example)
    if is_stream(target):
        with open(target, mode, **kw) as f:
            write(f)
        return
    with fsio.replacing(target, need=need) as tmp:
        with open(tmp, mode, **kw) as f:
            write(f)


def marked(*markers: str, within: int = 4096) -> Recognise:
    """Recognises our own earlier output by a marker near its start (a header line, a command line)."""
    def ours(path: Path) -> bool:
        try:
            with open(path, "r", encoding="utf-8", errors="replace") as f:
                head = f.read(within)
        except OSError:
            return False
        return any(m in head for m in markers)
    return ours
