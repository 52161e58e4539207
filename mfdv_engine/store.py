"""The HDF5 project file (``*.mfdv.h5``): runs, curves, checkpoints, tables.

Crash safety, the mechanism in one paragraph: the project file is never
written in place. Every change to it is a *transaction*: copy the file to a
temporary sibling, change the copy, flush and fsync it, then ``os.replace`` it
over the original (atomic on POSIX). While a run trains, its curves and latest
checkpoint live in a small per-run *live file* beside the project
(``<project>.live/<run>.h5``), itself rewritten whole by write-then-rename at
every epoch boundary. When the run ends it is merged into the project in one
transaction. A ``kill -9`` at any moment therefore leaves the project file and
every live file either in their old or their new state, never half-written;
the next writer finds the run still marked running with nobody holding the
project's lock, merges its live file and marks it interrupted, and
``mfdv train --resume RUN`` continues from the last epoch checkpoint.

Only one process writes a project at a time (an advisory ``flock`` on
``<project>.lock``). Nothing here unpickles: configs are JSON attributes,
tensors are datasets.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np
import torch

from .errors import ProjectError

FORMAT = "mfdv-project"
VERSION = 1
STATUSES = ("running", "finished", "interrupted", "failed")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------ tensor trees

def write_tree(group: h5py.Group, obj: Any) -> None:
    """Store a nested dict/list of tensors and plain values: tensors as datasets,
    the skeleton as a JSON attribute (so reading back runs no code)."""
    counter = [0]

    def enc(o: Any) -> Any:
        if isinstance(o, torch.Tensor):
            name = f"t{counter[0]}"
            counter[0] += 1
            t = o.detach().cpu()
            dtype = str(t.dtype).removeprefix("torch.")
            if t.dtype == torch.bfloat16:
                t = t.float()
            group.create_dataset(name, data=t.numpy())
            return {"__tensor__": name, "dtype": dtype}
        if isinstance(o, dict):
            if all(isinstance(k, str) for k in o):
                return {"__dict__": {k: enc(v) for k, v in o.items()}}
            return {"__items__": [[k, enc(v)] for k, v in o.items()]}
        if isinstance(o, (list, tuple)):
            return {"__list__": [enc(v) for v in o], "tuple": isinstance(o, tuple)}
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        raise TypeError(f"cannot store a {type(o).__name__} in a project file")

    group.attrs["tree"] = json.dumps(enc(obj))


def read_tree(group: h5py.Group, map_location: str | torch.device = "cpu") -> Any:
    def dec(o: Any) -> Any:
        if isinstance(o, dict):
            if "__tensor__" in o:
                arr = group[o["__tensor__"]][()]
                t = torch.from_numpy(np.asarray(arr))
                return t.to(device=map_location, dtype=getattr(torch, o["dtype"]))
            if "__dict__" in o:
                return {k: dec(v) for k, v in o["__dict__"].items()}
            if "__items__" in o:
                return {k: dec(v) for k, v in o["__items__"]}
            if "__list__" in o:
                items = [dec(v) for v in o["__list__"]]
                return tuple(items) if o.get("tuple") else items
        return o

    return dec(json.loads(group.attrs["tree"]))


# ------------------------------------------------------------ run records

@dataclass
class RunInfo:
    run_id: str
    name: str
    status: str
    started: str
    ended: str
    message: str
    config: dict[str, Any]
    epochs_done: int
    final: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _read_info(run_id: str, g: h5py.Group) -> RunInfo:
    a = g.attrs
    return RunInfo(
        run_id=run_id,
        name=str(a.get("name", run_id)),
        status=str(a.get("status", "failed")),
        started=str(a.get("started", "")),
        ended=str(a.get("ended", "")),
        message=str(a.get("message", "")),
        config=json.loads(a.get("config", "{}")),
        epochs_done=int(a.get("epochs_done", 0)),
        final=json.loads(a.get("final", "{}")),
    )


def _write_curves(group: h5py.Group, rows: list[dict[str, float]]) -> None:
    """Curves as growable float64 datasets, one per field (NaN where a row lacks it)."""
    keys = sorted({k for r in rows for k in r})
    for k in keys:
        data = np.array([float(r.get(k, np.nan)) for r in rows], dtype=np.float64)
        group.create_dataset(k, data=data, maxshape=(None,), chunks=(max(1, min(len(data), 1024)),) if len(data) else (1,))


def _read_curves(group: h5py.Group | None) -> dict[str, np.ndarray]:
    if group is None:
        return {}
    return {k: group[k][()] for k in group}


def _rows(curves: dict[str, np.ndarray]) -> list[dict[str, float]]:
    if not curves:
        return []
    n = len(next(iter(curves.values())))
    return [{k: float(v[i]) for k, v in curves.items() if not np.isnan(v[i])} for i in range(n)]


# ------------------------------------------------------------ the project

class Project:
    """One ``*.mfdv.h5`` file. Reading is free; writing takes the project lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_fd: int | None = None

    # -- opening ----------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, create: bool = False) -> "Project":
        p = Path(path).expanduser()
        if not p.parent.is_dir():
            raise ProjectError(
                f"the folder {p.parent} for project {p.name} does not exist; create it first or choose another path"
            )
        if p.is_dir():
            raise ProjectError(f"{p} is a folder, not a project file; give a file name such as {p / 'project.mfdv.h5'}")
        proj = cls(p)
        if not p.exists():
            if not create:
                raise ProjectError(f"project file {p} does not exist; check the path or create it with `mfdv train --project {p}`")
            proj._create()
        proj._check_readable()
        return proj

    def _create(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp-new")
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["created"] = now_iso()
            f.create_group("runs")
        _fsync_path(tmp)
        os.replace(tmp, self.path)

    def _check_readable(self) -> None:
        try:
            with h5py.File(self.path, "r") as f:
                fmt = f.attrs.get("format")
                if fmt != FORMAT:
                    raise ProjectError(
                        f"{self.path} is an HDF5 file but not an MFDV project (no '{FORMAT}' marker); "
                        "open a *.mfdv.h5 file written by MFDV Studio"
                    )
                if int(f.attrs.get("version", 0)) > VERSION:
                    raise ProjectError(
                        f"{self.path} was written by a newer MFDV Studio (format {f.attrs['version']}); upgrade to open it"
                    )
                if "runs" not in f:
                    raise ProjectError(f"{self.path} has no 'runs' group; it is damaged — restore a backup")
        except OSError as e:
            raise ProjectError(
                f"{self.path} is not a readable project file ({_short(e)}): it is truncated, damaged or not HDF5; "
                "open another file or restore a backup"
            ) from None

    # -- locking ----------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def live_dir(self) -> Path:
        return self.path.with_name(self.path.name + ".live")

    def acquire(self) -> "Project":
        """Take the writer lock (released by :meth:`release` or process death) and
        recover runs that a dead writer left marked running."""
        if self._lock_fd is not None:
            return self
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _read_small(self.lock_path)
            raise ProjectError(
                f"project {self.path.name} is being written by another process ({owner or 'unknown'}); "
                "wait for it to finish or stop it first"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        self._lock_fd = fd
        self._recover()
        return self

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
        if not self.lock_path.exists():
            return False
        fd = os.open(self.lock_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    def _recover(self) -> None:
        for tmp in self.path.parent.glob(self.path.name + ".tmp-*"):
            tmp.unlink(missing_ok=True)
        if self.live_dir.is_dir():
            for tmp in self.live_dir.glob("*.tmp"):
                tmp.unlink(missing_ok=True)
        stale = [r.run_id for r in self.runs(live=False) if r.status == "running"]
        for run_id in stale:
            self.merge_live(run_id, "interrupted", "the process writing this run stopped before it finished")

    # -- reading ----------------------------------------------------------
    @contextmanager
    def _read(self) -> Iterator[h5py.File]:
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise ProjectError(f"cannot read {self.path} ({_short(e)})") from None
        with f:
            yield f

    def runs(self, *, live: bool = True) -> list[RunInfo]:
        """All runs, oldest first. A run marked running with no live writer is
        reported as interrupted (the next writer makes that permanent)."""
        with self._read() as f:
            infos = [_read_info(k, f["runs"][k]) for k in sorted(f["runs"])]
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
        for info in self.runs():
            if info.run_id == run_id:
                return info
        ids = ", ".join(r.run_id for r in self.runs()) or "none yet"
        raise ProjectError(f"no run {run_id!r} in {self.path.name}; its runs: {ids}")

    def _live_path(self, run_id: str) -> Path:
        return self.live_dir / f"{run_id}.h5"

    def _live_info(self, run_id: str) -> RunInfo | None:
        p = self._live_path(run_id)
        if not p.exists():
            return None
        try:
            with h5py.File(p, "r") as f:
                return _read_info(run_id, f)
        except OSError:
            return None

    @contextmanager
    def _run_group(self, run_id: str) -> Iterator[h5py.Group]:
        """The freshest copy of a run: its live file while running, else the project."""
        self.run(run_id)  # clear error for unknown ids
        live = self._live_path(run_id)
        if live.exists():
            try:
                f = h5py.File(live, "r")
            except OSError:
                f = None
            if f is not None:
                with f:
                    yield f
                    return
        with self._read() as f:
            yield f["runs"][run_id]

    def curves(self, run_id: str) -> dict[str, dict[str, np.ndarray]]:
        with self._run_group(run_id) as g:
            return {kind: _read_curves(g.get(f"curves/{kind}")) for kind in ("step", "epoch")}

    def has_checkpoint(self, run_id: str) -> bool:
        with self._run_group(run_id) as g:
            return "checkpoint" in g

    def load_checkpoint(self, run_id: str, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        with self._run_group(run_id) as g:
            if "checkpoint" not in g:
                raise ProjectError(f"run {run_id!r} has no finished epoch to load; train it first")
            return read_tree(g["checkpoint"], map_location)

    # -- writing (lock held) ----------------------------------------------
    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("write to a project without holding its lock (use `with project:`)")

    @contextmanager
    def transaction(self) -> Iterator[h5py.File]:
        """Change a copy, then atomically replace the project with it."""
        self._require_lock()
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        shutil.copyfile(self.path, tmp)
        try:
            with h5py.File(tmp, "r+") as f:
                yield f
                f.flush()
            _fsync_path(tmp)
            os.replace(tmp, self.path)
            _fsync_path(self.path.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def create_run(self, config: dict[str, Any], name: str) -> str:
        with self.transaction() as f:
            runs = f["runs"]
            n = 1 + max((int(k[1:]) for k in runs if k[1:].isdigit()), default=0)
            run_id = f"r{n:03d}"
            g = runs.create_group(run_id)
            g.attrs.update(
                name=name, status="running", started=now_iso(), ended="", message="",
                config=json.dumps(config, sort_keys=True), epochs_done=0, final="{}",
            )
        self.write_live(run_id, status="running", message="", curves={"step": [], "epoch": []}, checkpoint=None)
        return run_id

    def write_live(self, run_id: str, *, status: str, message: str, curves: dict[str, list[dict]],
                   checkpoint: dict[str, Any] | None, epochs_done: int = 0, final: dict | None = None) -> None:
        """Rewrite this run's live file whole (write-then-rename)."""
        self._require_lock()
        with self._read() as f:
            base = dict(f["runs"][run_id].attrs)
        self.live_dir.mkdir(exist_ok=True)
        dst = self._live_path(run_id)
        tmp = dst.with_suffix(".tmp")
        with h5py.File(tmp, "w") as f:
            f.attrs.update(base)
            f.attrs.update(status=status, message=message, epochs_done=epochs_done,
                           final=json.dumps(final or {}, sort_keys=True))
            for kind, rows in curves.items():
                _write_curves(f.create_group(f"curves/{kind}"), rows)
            if checkpoint is not None:
                write_tree(f.create_group("checkpoint"), checkpoint)
        _fsync_path(tmp)
        os.replace(tmp, dst)

    def merge_live(self, run_id: str, status: str, message: str = "") -> None:
        """Fold a run's live file into the project and mark its final status."""
        assert status in STATUSES
        live = self._live_path(run_id)
        src = None
        if live.exists():
            try:
                src = h5py.File(live, "r")
            except OSError:
                src = None  # cannot happen with write-then-rename; keep the project's copy
        try:
            with self.transaction() as f:
                g = f["runs"][run_id]
                if src is not None:
                    for key in ("curves", "checkpoint"):
                        if key in g:
                            del g[key]
                        if key in src:
                            src.copy(src[key], g, name=key)
                    g.attrs["epochs_done"] = int(src.attrs.get("epochs_done", 0))
                    g.attrs["final"] = str(src.attrs.get("final", "{}"))
                g.attrs.update(status=status, message=message, ended=now_iso())
        finally:
            if src is not None:
                src.close()
        live.unlink(missing_ok=True)
        try:
            self.live_dir.rmdir()  # only when no other run is live
        except OSError:
            pass

    def reopen_run(self, run_id: str) -> tuple[dict[str, list[dict]], dict[str, Any] | None, int]:
        """Mark an interrupted/failed run running again; return its curves (cut to
        the last checkpoint), checkpoint and epochs done, and restart its live file."""
        info = self.run(run_id)
        if info.status == "finished":
            raise ProjectError(f"run {run_id!r} already finished; start a new run instead of resuming it")
        with self._read() as f:
            g = f["runs"][run_id]
            curves = {k: _rows(_read_curves(g.get(f"curves/{k}"))) for k in ("step", "epoch")}
            ckpt = read_tree(g["checkpoint"]) if "checkpoint" in g else None
            done = int(g.attrs.get("epochs_done", 0))
        curves["step"] = [r for r in curves["step"] if r.get("epoch", 0) < done]
        curves["epoch"] = [r for r in curves["epoch"] if r.get("epoch", 0) <= done]
        with self.transaction() as f:
            f["runs"][run_id].attrs.update(status="running", message="", ended="")
        self.write_live(run_id, status="running", message="", curves=curves, checkpoint=ckpt, epochs_done=done)
        return curves, ckpt, done

    # -- robustness tables -------------------------------------------------
    def add_eval_row(self, run_id: str, row: dict[str, Any], gallery: dict[str, np.ndarray] | None = None) -> None:
        """Append one robustness row (replacing a row with the same key) and its gallery."""
        self.run(run_id)
        with self.transaction() as f:
            g = f["runs"][run_id].require_group("robustness")
            rows = json.loads(g.attrs.get("rows", "[]"))
            rows = [r for r in rows if r.get("key") != row["key"]] + [row]
            g.attrs["rows"] = json.dumps(rows, sort_keys=True)
            if gallery is not None:
                gal = g.require_group("gallery")
                name = row["key"].replace("/", "_")
                if name in gal:
                    del gal[name]
                sub = gal.create_group(name)
                for k, v in gallery.items():
                    sub.create_dataset(k, data=v, compression="gzip")

    def eval_rows(self, run_id: str) -> list[dict[str, Any]]:
        with self._read() as f:
            g = f["runs"][run_id].get("robustness") if run_id in f["runs"] else None
            return json.loads(g.attrs.get("rows", "[]")) if g is not None else []

    def gallery(self, run_id: str, key: str) -> dict[str, np.ndarray]:
        with self._read() as f:
            gal = f["runs"][run_id].get("robustness/gallery/" + key.replace("/", "_"))
            if gal is None:
                raise ProjectError(f"run {run_id!r} has no gallery for {key!r}; attack it first")
            return {k: gal[k][()] for k in gal}

    def delete_run(self, run_id: str) -> None:
        self.run(run_id)
        with self.transaction() as f:
            del f["runs"][run_id]
        self._live_path(run_id).unlink(missing_ok=True)


def _fsync_path(p: Path) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_small(p: Path) -> str:
    try:
        return p.read_text()[:200]
    except OSError:
        return ""


def _short(e: BaseException) -> str:
    text = str(e).split("(")[0].strip() or type(e).__name__
    return text[:120]
