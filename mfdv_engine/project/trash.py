"""The project's trash: deleting a run moves it to ``/trash/<id>`` so that it can be restored.

A delete is a mistake one keystroke away; an undo is only possible if the
data is still there. So :meth:`TrashMixin.trash_run` moves the run's group
from ``/runs`` to ``/trash`` (an HDF5 link move inside one transaction: no
data is copied, the file stays valid at every instant) and stamps it with the
time it was trashed; :meth:`restore_run` moves it back. Every reader starts
from ``/runs`` (:func:`~.records.runs_group`), so listings, rows,
exports and reproductions never see a trashed run. :meth:`empty_trash`
removes the trash for good.
"""
from __future__ import annotations

from dataclasses import dataclass

import h5py

from ..errors import ProjectError
from .h5guard import attr_text, hard_child
from .records import RunInfo, damaged_info, read_info, runs_group, now_iso

#: the root group trashed runs wait in
TRASH = "trash"


@dataclass
class TrashedRun:
    """A run in the trash: its record as it was, and when it was trashed (ISO 8601, UTC)."""

    info: RunInfo
    trashed: str

    def to_dict(self) -> dict:
        return dict(self.info.to_dict(), trashed=self.trashed)


#: the longest run id that moves to the trash and back: its live file ``<id>.h5`` must be a file name
MAX_ID_BYTES = 250


def trash_group(f: h5py.File) -> h5py.Group | None:
    """``/trash`` when the file has one (checked to be a plain group inside the file)."""
    return hard_child(f, TRASH, h5py.Group)


def _movable(run_id: str, project: str) -> None:
    """Only ids this tool could have made move: ``..``, a path or a 5,000-character name (a file edited by
    hand) could go in but not come back, so they are refused before anything moves."""
    if run_id in ("", ".", "..") or "/" in run_id or len(run_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        shown = run_id if len(run_id) <= 40 else run_id[:37] + "..."
        raise ProjectError(f"run {shown!r} of {project} has an id this tool never gives (a path, '..' or over "
                           f"{MAX_ID_BYTES} bytes), so it could not come back from the trash; the file was edited by "
                           "hand: restore a backup, or remove that run with h5py")


def _trash_or_damage(f: h5py.File, project: str) -> h5py.Group | None:
    """``/trash``, or one sentence when it is something else (a dataset, a link) that `empty` clears."""
    try:
        return trash_group(f)
    except ProjectError as e:
        raise ProjectError(f"{e}; `mfdv trash empty` clears it (nothing in it can be restored), then try again") from None


class TrashMixin:
    """Needs ``_find``, ``_read``, ``transaction``, ``_require_lock`` and ``_live_path`` from
    :class:`~mfdv_engine.project.store.Project`. Every method that writes needs the lock."""

    def trash_run(self, run_id: str) -> None:
        """Move a run to the trash. A run that is training now is refused: its writer
        would merge its live file into a run that is gone."""
        self._require_lock()
        info = self._find(run_id)  # a damaged run can be trashed
        _movable(run_id, self.path.name)
        if info.status == "running":
            raise ProjectError(f"run {run_id!r} is training now; stop it (Ctrl-C, or Cancel in the studio) "
                               "before deleting it")
        with self._read() as f:
            trash = _trash_or_damage(f, self.path.name)
            if trash is not None and run_id in trash:
                raise ProjectError(f"the trash of {self.path.name} already holds a run {run_id!r}; restore it "
                                   "or empty the trash (`mfdv trash empty`) before deleting this one")
        with self.transaction() as f:
            f.require_group(TRASH)
            f.move(f"runs/{run_id}", f"{TRASH}/{run_id}")
            moved = f[TRASH].get(run_id, getlink=True)
            if isinstance(moved, h5py.HardLink):  # a damaged run's link is moved as it is, never followed
                f[TRASH][run_id].attrs["trashed"] = now_iso()
        # not training (checked above, under the lock): a live file left beside it is stale
        self._live_path(run_id).unlink(missing_ok=True)

    def restore_run(self, run_id: str) -> None:
        """Move a trashed run back to the runs, under its own id."""
        self._require_lock()
        with self._read() as f:
            trash = _trash_or_damage(f, self.path.name)
            if trash is not None and run_id in list(trash):
                _movable(run_id, self.path.name)
            # (a direct member only: "r001/robustness" must not pass for a run)
            if trash is None or run_id not in list(trash) or hard_child(trash, run_id, h5py.Group) is None:
                held = ", ".join(sorted(trash)) if trash is not None and len(trash) else "it is empty"
                raise ProjectError(f"no run {run_id!r} in the trash of {self.path.name} ({held})")
            if run_id in runs_group(f):
                raise ProjectError(f"cannot restore run {run_id!r}: {self.path.name} has a run with that id again; "
                                   "delete or rename that run first, then restore this one")
        with self.transaction() as f:
            f.move(f"{TRASH}/{run_id}", f"runs/{run_id}")
            f["runs"][run_id].attrs.pop("trashed", None)
            if not len(f[TRASH]):
                del f[TRASH]

    def trashed_runs(self) -> list[TrashedRun]:
        """The runs in the trash, in id order; a damaged record is listed as ``damaged``."""
        out = []
        with self._read() as f:
            trash = trash_group(f)
            for k in sorted(trash) if trash is not None else []:
                try:
                    g = hard_child(trash, k, h5py.Group)
                    out.append(TrashedRun(read_info(k, g), attr_text(g.attrs, "trashed")))
                except ProjectError as e:
                    out.append(TrashedRun(damaged_info(k, e), ""))
        return out

    def empty_trash(self) -> list[str]:
        """Remove every trashed run for good; returns their ids.

        The project has no repacking step, so HDF5 keeps the freed space inside
        the file (it is reused by later writes; the file does not shrink). A copy
        without it: ``h5repack project.mfdv.h5 smaller.mfdv.h5``."""
        self._require_lock()
        with self._read() as f:
            link = f.get(TRASH, getlink=True)
            try:
                trash = trash_group(f)
            except ProjectError:  # a dataset or a link where the trash belongs: removed, never followed
                trash = None
            ids = sorted(trash) if trash is not None else []
        if link is not None:
            with self.transaction() as f:
                del f[TRASH]  # unlinks /trash itself, whatever it is
        return ids
