"""The HDF5 project file (``*.mfdv.h5``): runs, curves, checkpoints, tables.

Crash safety, the mechanism in one paragraph: the project file is never
written in place. Every change to it is a *transaction*: copy the file to a
temporary sibling, change the copy, flush, fsync and re-open it to check it,
then ``os.replace`` it over the original (atomic on POSIX). While a run
trains, its curves and latest checkpoint live in a small per-run *live file*
beside the project (``<project>.live/<run>.h5``), itself rewritten whole by
write-then-rename at every epoch boundary. When the run ends it is merged into
the project in one transaction. A ``kill -9`` or a full disk at any moment
therefore leaves the project file and every live file either in their old or
their new state, never half-written; the next writer finds the run still
marked running with nobody holding the project's lock, merges its live file
and marks it interrupted, and ``mfdv train --resume RUN`` continues from the
last epoch checkpoint. How files are replaced (symlinks, permissions, disk
space, temporaries) is :mod:`.fsio`'s job.

Only one process writes a project at a time (an advisory ``flock`` on
``<project>.lock``, :mod:`.locking`). A project file is data, never a pointer: nothing here
unpickles, and every part of a file is checked by :mod:`.h5guard` before it is
read, so a crafted file cannot make the store read another local file.
"""
from __future__ import annotations

import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import torch

from . import fsio
from ..errors import ProjectError
from .h5guard import attr_int, attr_json, attr_text, check_tree
from .h5tree import ShapeCheck, curve_rows, read_curves, read_tree, write_curves, write_tree
from .records import (DAMAGED, STATUSES, RunInfo, check_annotation, damaged_info, read_info, run_of, runs_group, tree_nbytes,
                            now_iso)
from .locking import LockMixin
from .tables import TablesMixin
from .trash import TrashMixin, trash_group

FORMAT = "mfdv-project"
VERSION = 1


def missing_folder(p: Path) -> str:
    """Why a project cannot be at ``p``: its folder is missing, or a file stands where the folder should be."""
    for parent in (p.parent, *p.parent.parents):
        if parent.exists() and not parent.is_dir():
            return (f"{parent} is a file, not a folder, so project {p.name} cannot be created under it; "
                    "choose a path in a folder")
    return f"the folder {p.parent} for project {p.name} does not exist; create it first or choose another path"


class Project(LockMixin, TablesMixin, TrashMixin):
    """One ``*.mfdv.h5`` file. Reading is free; writing takes the project lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.target = fsio.target_of(path)  # a symlinked project is written through to its target
        self._lock_fd: int | None = None

    # -- opening ----------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = False) -> "Project":
        proj = cls.at(path)
        if not proj.target.exists():
            if not create:
                raise ProjectError(f"project file {proj.path} does not exist; check the path or create it with "
                                   f"`mfdv train --project {proj.path}`")
            proj.create()
        proj._check_readable()
        return proj

    @classmethod
    def at(cls, path: str | os.PathLike) -> "Project":
        """A project at ``path`` that may not exist yet (so its lock can be taken first)."""
        p = Path(path).expanduser()
        if not p.parent.is_dir():
            raise ProjectError(missing_folder(p))
        if p.is_dir():
            raise ProjectError(f"{p} is a folder, not a project file; give a file name such as {p / 'project.mfdv.h5'}")
        proj = cls(p)
        fsio.check_regular(proj.target, "a project file")
        return proj

    def create(self) -> None:
        """Create an empty project unless one exists; safe when processes race to create it."""
        if self.target.exists():
            return
        reason = fsio.read_only_reason(self.target)
        if reason:
            raise ProjectError(reason)
        fsio.ensure_space(self.target, 64 << 10)
        tmp = self.target.with_name(f"{self.target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update(format=FORMAT, version=VERSION, created=now_iso())
                f.create_group("runs")
            fsio.fsync_path(tmp)
            os.link(tmp, self.target)  # fails if another process created it first: theirs wins, ours goes
        except FileExistsError:
            pass
        except OSError as e:
            if fsio.is_disk_full(e):
                raise fsio.disk_full(self.target, 64 << 10) from None
            raise
        finally:
            tmp.unlink(missing_ok=True)

    def _check_readable(self) -> None:
        try:
            with h5py.File(self.target, "r") as f:
                if attr_text(f.attrs, "format", "") != FORMAT:
                    raise ProjectError(
                        f"{self.path} is an HDF5 file but not an MFDV project (no '{FORMAT}' marker); "
                        "open a *.mfdv.h5 file written by MFDV Studio"
                    )
                version = attr_int(f.attrs, "version", 0, high=2**31)
                if version > VERSION:
                    raise ProjectError(f"{self.path} was written by a newer MFDV Studio (format {version}); upgrade to open it")
                runs_group(f)  # (other objects at the root are never read: every read starts from 'runs' or 'trash')
        except OSError as e:
            raise ProjectError(
                f"{self.path} is not a readable project file ({_short(e)}): it is truncated, damaged or not HDF5; "
                "open another file or restore a backup"
            ) from None

    @property
    def read_only(self) -> str:
        """Why this project cannot be written (no permission), or ``""``."""
        return fsio.read_only_reason(self.target)

    @property
    def live_dir(self) -> Path:
        return self.target.with_name(self.target.name + ".live")

    def _recover(self) -> None:
        """Remove a dead writer's temporaries and fold its runs' live files in.
        A run that cannot be merged now (full disk) stays listed as interrupted."""
        for tmp in fsio.stale_temporaries(self.target):
            tmp.unlink(missing_ok=True)
        if self.live_dir.is_dir():
            for live in self.live_dir.glob("*.h5"):
                for tmp in fsio.stale_temporaries(live):
                    tmp.unlink(missing_ok=True)
        stale = [r.run_id for r in self.runs(live=False) if r.status == "running"]
        for run_id in stale:
            try:
                self.merge_live(run_id, "interrupted", "the process writing this run stopped before it finished")
            except ProjectError:
                pass

    # -- reading ----------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[h5py.File]:
        try:
            f = h5py.File(self.target, "r")
        except OSError as e:
            raise ProjectError(f"cannot read {self.path} ({_short(e)})") from None
        with f:
            yield f

    def runs(self, *, live: bool = True) -> list[RunInfo]:
        """All runs, oldest first; a run whose record is damaged is listed as such.
        A run marked running with no live writer is reported as interrupted (the
        next writer makes that permanent)."""
        with self._read() as f:
            runs = runs_group(f)
            infos = []
            for k in sorted(runs):
                try:
                    infos.append(read_info(k, run_of(f, k)))
                except ProjectError as e:
                    infos.append(damaged_info(k, e))
        if live:
            alive = self.writer_alive()
            for info in infos:
                if info.status == "running":
                    lv = self._live_info(info.run_id)
                    if lv is not None:
                        info.epochs_done, info.final = lv.epochs_done, lv.final
                    if not alive:
                        info.status = "interrupted"
        return infos

    def run(self, run_id: str) -> RunInfo:
        """A run's record; a damaged one raises its sentence."""
        info = self._find(run_id)
        if info.status == DAMAGED:
            raise ProjectError(info.message)
        return info

    def _find(self, run_id: str) -> RunInfo:
        infos = self.runs()
        for info in infos:
            if info.run_id == run_id:
                return info
        ids = ", ".join(r.run_id for r in infos) or "none yet"
        raise ProjectError(f"no run {run_id!r} in {self.path.name}; its runs: {ids}")

    def _live_path(self, run_id: str) -> Path:
        return self.live_dir / f"{run_id}.h5"

    @contextmanager
    def _live(self, run_id: str) -> Iterator[h5py.File | None]:
        """The run's live file when it exists and holds only what the store writes, else None."""
        p = self._live_path(run_id)
        f = None
        if p.is_file() and not p.is_symlink():
            try:
                f = h5py.File(p, "r")
                check_tree(f)
            except (OSError, ProjectError):
                if f is not None:
                    f.close()
                f = None
        try:
            yield f
        finally:
            if f is not None:
                f.close()

    def _live_info(self, run_id: str) -> RunInfo | None:
        with self._live(run_id) as f:
            try:
                return read_info(run_id, f) if f is not None else None
            except ProjectError:
                return None

    @contextmanager
    def _run_group(self, run_id: str) -> Iterator[h5py.Group]:
        """The freshest copy of a run, checked whole: its live file while running, else the project."""
        self.run(run_id)  # clear error for unknown or damaged ids
        with self._live(run_id) as live:
            if live is not None:
                yield live
                return
        with self._read() as f:
            g = run_of(f, run_id)
            check_tree(g)
            yield g

    def curves(self, run_id: str) -> dict[str, dict[str, np.ndarray]]:
        with self._run_group(run_id) as g:
            return {kind: read_curves(g.get(f"curves/{kind}")) for kind in ("step", "epoch")}

    def has_checkpoint(self, run_id: str) -> bool:
        with self._run_group(run_id) as g:
            return "checkpoint" in g

    def load_checkpoint(self, run_id: str, map_location: str | torch.device = "cpu",
                        shape_of: ShapeCheck | None = None) -> dict[str, Any]:
        with self._run_group(run_id) as g:
            if "checkpoint" not in g:
                raise ProjectError(f"run {run_id!r} has no finished epoch to load; train it first")
            return read_tree(g["checkpoint"], map_location, shape_of)

    # -- writing (lock held) ----------------------------------------------
    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("write to a project without holding its lock (use `with project:`)")

    @contextmanager
    def transaction(self, grow: int = 0) -> Iterator[h5py.File]:
        """Change a copy, check it, then atomically replace the project with it.
        ``grow``: about how many bytes the change adds (checked against free space)."""
        self._require_lock()
        need = self.target.stat().st_size + grow
        with fsio.replacing(self.target, need=need, copy_original=True) as tmp:
            try:
                with h5py.File(tmp, "r+") as f:
                    yield f
                    f.flush()
            except OSError as e:
                raise _write_error(self.target, e, need) from None
            _verify(tmp, self.target, need)

    def create_run(self, config: dict[str, Any], name: str) -> str:
        with self.transaction(grow=len(json.dumps(config)) + 4096) as f:
            runs = f["runs"]
            taken = list(runs) + list(trash_group(f) or ())  # a trashed run keeps its id: it can come back
            n = 1 + max((int(k[1:]) for k in taken if k[1:].isdigit()), default=0)
            run_id = f"r{n:03d}"
            g = runs.create_group(run_id)
            g.attrs.update(
                name=name, status="running", started=now_iso(), ended="", message="",
                config=json.dumps(config, sort_keys=True), epochs_done=0, final="{}",
            )
        self.write_live(run_id, status="running", message="", curves={"step": [], "epoch": []}, checkpoint=None)
        return run_id

    def annotate(self, run_id: str, *, notes: str | None = None, tags: list[str] | str | None = None) -> RunInfo:
        """Set a run's notes and/or tags (None keeps them); returns the record as it is now."""
        notes, tags = check_annotation(notes, tags)
        self._find(run_id)
        with self.transaction(grow=len(notes or "") * 4 + 4096) as f:
            g = f["runs"][run_id]
            if notes is not None:
                g.attrs["notes"] = notes
            if tags is not None:
                g.attrs["tags"] = json.dumps(tags)
        return self.run(run_id)

    def write_live(self, run_id: str, *, status: str, message: str, curves: dict[str, list[dict]],
                   checkpoint: dict[str, Any] | None, epochs_done: int = 0, final: dict | None = None) -> None:
        """Rewrite this run's live file whole (write-then-rename, checked before the rename)."""
        self._require_lock()
        with self._read() as f:
            base = {k: attr_text(run_of(f, run_id).attrs, k) for k in ("name", "started", "ended", "config")}
        self.live_dir.mkdir(exist_ok=True)
        dst = self._live_path(run_id)
        need = tree_nbytes(checkpoint) + sum(len(r) for r in curves.values()) * 400 + 65536
        with fsio.replacing(dst, need=need) as tmp:
            try:
                with h5py.File(tmp, "w") as f:
                    f.attrs.update(base)
                    f.attrs.update(status=status, message=message, epochs_done=epochs_done,
                                   final=json.dumps(final or {}, sort_keys=True))
                    for kind, rows in curves.items():
                        write_curves(f.create_group(f"curves/{kind}"), rows)
                    if checkpoint is not None:
                        write_tree(f.create_group("checkpoint"), checkpoint)
            except OSError as e:
                raise _write_error(dst, e, need) from None
            _verify(tmp, dst, need, live=True)

    def merge_live(self, run_id: str, status: str, message: str = "") -> None:
        """Fold a run's live file into the project and mark its final status."""
        assert status in STATUSES
        live = self._live_path(run_id)
        with self._live(run_id) as src:
            grow = live.stat().st_size if src is not None else 0
            with self.transaction(grow=grow) as f:
                g = f["runs"][run_id]
                if src is not None:
                    for key in ("curves", "checkpoint"):
                        if key in g:
                            del g[key]
                        if key in src:
                            src.copy(src[key], g, name=key)
                    g.attrs["epochs_done"] = attr_int(src.attrs, "epochs_done", 0, high=10**7)
                    g.attrs["final"] = json.dumps(attr_json(src.attrs, "final", {}, dict), sort_keys=True)
                g.attrs.update(status=status, message=message, ended=now_iso())
        live.unlink(missing_ok=True)
        try:
            self.live_dir.rmdir()  # only when no other run is live
        except OSError:
            pass

    def resume_state(self, run_id: str, shape_of: ShapeCheck | None = None
                     ) -> tuple[dict[str, list[dict]], dict[str, Any] | None, int]:
        """What resuming an interrupted/failed run starts from, read without writing:
        its curves (cut to the last checkpoint), checkpoint and epochs done."""
        info = self.run(run_id)
        if info.status == "finished":
            raise ProjectError(f"run {run_id!r} already finished; start a new run instead of resuming it")
        with self._read() as f:
            g = run_of(f, run_id)
            check_tree(g)
            curves = {k: curve_rows(read_curves(g.get(f"curves/{k}"))) for k in ("step", "epoch")}
            ckpt = read_tree(g["checkpoint"], "cpu", shape_of) if "checkpoint" in g else None
            done = attr_int(g.attrs, "epochs_done", 0, high=10**7)
        curves["step"] = [r for r in curves["step"] if r.get("epoch", 0) < done]
        curves["epoch"] = [r for r in curves["epoch"] if r.get("epoch", 0) <= done]
        return curves, ckpt, done

    def reopen_run(self, run_id: str, curves: dict[str, list[dict]], ckpt: dict[str, Any] | None, done: int) -> None:
        """Mark a run running again from :meth:`resume_state` and restart its live file."""
        with self.transaction() as f:
            f["runs"][run_id].attrs.update(status="running", message="", ended="")
        self.write_live(run_id, status="running", message="", curves=curves, checkpoint=ckpt, epochs_done=done)


def _verify(tmp: Path, target: Path, need: int, live: bool = False) -> None:
    """Re-open what was just written: HDF5 can swallow a failed write (full disk)
    and leave a file that only fails when read, so it never replaces a good one."""
    try:
        with h5py.File(tmp, "r") as f:
            if live:
                attr_text(f.attrs, "status")
            else:
                runs_group(f)
                attr_text(f.attrs, "format")
    except (OSError, ProjectError) as e:
        raise _write_error(target, e, need) from None


def _write_error(target: Path, e: BaseException, need: int) -> ProjectError:
    if fsio.is_disk_full(e) or fsio.free_bytes(target.parent) < need + fsio.MARGIN:
        return fsio.disk_full(target, need)
    return ProjectError(f"writing {target} failed ({_short(e)}); the project keeps its previous content — "
                        "check the disk and run the command again")


def _short(e: BaseException) -> str:
    text = str(e).split("(")[0].strip() or type(e).__name__
    return text[:120]
