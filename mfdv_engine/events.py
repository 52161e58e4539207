"""What a long job tells its caller while it runs: one typed event protocol.

Every use case of :mod:`mfdv_engine.api` takes ``on_event(event)`` and a
``cancel`` token (a :class:`threading.Event`: set it and the job stops at the
next batch, keeping what it already stored). The CLI turns events into a
progress bar and printed rows, the studio's worker into Qt signals, a notebook
into whatever it likes; none of them decodes strings by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Union


@dataclass(frozen=True)
class Progress:
    """``phase`` names what runs now (training, evaluation, attack k of n);
    ``fraction`` of the whole job in [0, 1], or None when it cannot be estimated."""

    phase: str
    fraction: float | None = None


@dataclass(frozen=True)
class RowStored:
    """A robustness row was measured and stored (``row`` as in the project, with ``protocol``)."""

    run_id: str
    row: dict[str, Any]


@dataclass(frozen=True)
class TrainingEvent:
    """The trainer's own events: ``run``, ``start``, ``step``, ``evaluating`` (an epoch's test-set
    evaluation begins), ``epoch``, ``finished``."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Event = Union[Progress, RowStored, TrainingEvent]
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink."""
