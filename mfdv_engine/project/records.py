"""Run records as the project file holds them, read through typed accessors.

A record that cannot be read (text where a number belongs, a link where a group
belongs...) becomes a ``damaged`` RunInfo carrying the sentence, so listing the
runs never fails because of one of them.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import torch

from ..errors import ProjectError
from .h5guard import attr_int, attr_json, attr_text, damaged, hard_child

STATUSES = ("running", "finished", "interrupted", "failed")
#: how a run whose record cannot be read is listed (never stored)
DAMAGED = "damaged"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


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
    #: the user's own words about the run, and tags to group runs by (``Project.annotate``)
    notes: str = ""
    tags: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, tags=list(self.tags))


#: how much a run's notes and tags may hold
NOTES_MAX, TAG_MAX, TAGS_MAX = 10_000, 40, 32


def check_annotation(notes: Any, tags: Any) -> tuple[str | None, list[str] | None]:
    """``notes`` (text) and ``tags`` (a list of short words, or one comma-separated string), checked;
    None leaves that part as it is. A ConfigError names what was wrong."""
    from ..errors import ConfigError

    if notes is not None and (not isinstance(notes, str) or len(notes) > NOTES_MAX):
        raise ConfigError(f"notes must be text of at most {NOTES_MAX:,} characters, got {type(notes).__name__}"
                          + (f" of {len(notes):,}" if isinstance(notes, str) else ""))
    if tags is None:
        return notes, None
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple, set)) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"tags must be a list of words such as ['baseline', 'cifar'], got {tags!r}")
    clean = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
    bad = [t for t in clean if len(t) > TAG_MAX or any(c in t for c in ",\n\r\t")]
    if bad or len(clean) > TAGS_MAX:
        raise ConfigError(f"a tag is one word or short phrase of at most {TAG_MAX} characters without commas, "
                          f"at most {TAGS_MAX} tags; got {bad[0][:50] if bad else f'{len(clean)} tags'!r}")
    return notes, clean


def read_info(run_id: str, g: h5py.Group) -> RunInfo:
    a = g.attrs
    status = attr_text(a, "status", "failed")
    if status not in STATUSES:
        raise damaged(f"run {run_id!r}", f"has an unknown status {status[:40]!r}")
    return RunInfo(
        run_id=run_id, name=attr_text(a, "name", run_id), status=status,
        started=attr_text(a, "started"), ended=attr_text(a, "ended"), message=attr_text(a, "message"),
        config=attr_json(a, "config", {}, dict), epochs_done=attr_int(a, "epochs_done", 0, high=10**7),
        final=attr_json(a, "final", {}, dict), notes=attr_text(a, "notes"), tags=_tags(run_id, a),
    )


def _tags(run_id: str, a: h5py.AttributeManager) -> list[str]:
    tags = attr_json(a, "tags", [], list)
    if not all(isinstance(t, str) for t in tags):
        raise damaged(f"run {run_id!r}", "has tags that are not text")
    return tags


def damaged_info(run_id: str, error: ProjectError) -> RunInfo:
    return RunInfo(run_id, run_id, DAMAGED, "", "", str(error), {}, 0, {})


def runs_group(f: h5py.File) -> h5py.Group:
    runs = hard_child(f, "runs", h5py.Group)
    if runs is None:
        raise ProjectError(f"{f.filename} has no 'runs' group; it is damaged — restore a backup")
    return runs


def run_of(f: h5py.File, run_id: str) -> h5py.Group:
    g = hard_child(runs_group(f), run_id, h5py.Group)
    if g is None:
        raise ProjectError(f"no run {run_id!r} in {Path(f.filename).name}")
    return g


def tree_nbytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size() + 512
    if isinstance(obj, dict):
        return sum(tree_nbytes(v) for v in obj.values()) + 64
    if isinstance(obj, (list, tuple)):
        return sum(tree_nbytes(v) for v in obj) + 64
    return 64
