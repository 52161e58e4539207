"""Workers: QObjects living in their own QThread that run jobs one at a time.

Thread rules: the GUI submits :class:`~mfdv_studio.jobs.Job` objects; what a
worker reports reaches the GUI through the typed signals below (modelled on
napari/superqt's ``WorkerBase``), which the GUI connects (queued) to ``@Slot``
methods of GUI-thread QObjects — never lambdas. Cancel is a
``threading.Event`` the engine polls cooperatively (within one training step /
one attack batch).

The studio runs two of them. The *engine* worker runs the write jobs of
:mod:`mfdv_studio.jobs` (train, attack, sweep, …), one at a time, and owns
every write to the project. The *reader* runs the read jobs of
:mod:`mfdv_studio.reads` (snapshot, curves, gallery) on a second, light thread:
a read must not wait behind an hour of training, and reading needs no lock
(the store replaces the file atomically; h5py serialises calls within the
process). Neither the GUI thread nor any view opens the project file.
"""
from __future__ import annotations

import os
import threading
import traceback
import weakref
from collections import deque

from PySide6.QtCore import QObject, QThread, Qt, Signal, Slot

from mfdv_engine.calling import worded_for
from mfdv_engine.events import Event

from .errors import CRASH_LOG
from .jobs import Job, JobContext

#: modules jobs import on first use (see Worker._warm_up)
_PRELOAD = ("mfdv_engine.training.runs", "mfdv_engine.evaluation.sweeps", "mfdv_engine.evaluation.checklist", "mfdv_engine.evaluation.boundaries",
            "mfdv_engine.training.distributed", "mfdv_engine.models", "torch._dynamo")
_WARM = False

#: every worker ever created (tests check none is left running)
_WORKERS: "weakref.WeakSet[Worker]" = weakref.WeakSet()


def running_workers() -> list["Worker"]:
    return [w for w in list(_WORKERS) if w.thread is not None and w.thread.isRunning()]


def describe_error(exc: BaseException) -> tuple[str, str]:
    """(one sentence for the user, details with the traceback)."""
    from mfdv_engine.errors import DataNotFound, MfdvError

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, DataNotFound):
        # the engine speaks to the command line; here the folder is a preference
        return f"{exc} (in MFDV Studio: File → Preferences… → Data folder)", details
    if isinstance(exc, MfdvError):
        return str(exc), details
    CRASH_LOG.error("a job failed with an internal error\n%s", details)
    return (f"An internal error stopped the job ({type(exc).__name__}: {str(exc)[:200]}); "
            "the details below help when reporting it."), details


class Worker(QObject):
    """One thread, one job at a time, every report a typed signal.

    Per job: ``started`` → (``progress`` | ``yielded``)* → ``returned`` or
    ``errored`` → ``finished``.
    """

    started = Signal(object)             # job
    progress = Signal(str, object)       # phase, fraction of the job in [0, 1] or None (unknown)
    yielded = Signal(object)             # an engine event: RowStored, TrainingEvent (curve points)
    returned = Signal(object, object)    # job, result (a dict for engine jobs, a typed read result for reads)
    errored = Signal(object, str, str)   # job, one sentence, details with the traceback
    finished = Signal(object)            # job, after returned or errored
    ready = Signal()                     # start-up imports done (see _warm_up)
    _wake = Signal()

    def __init__(self, name: str = "mfdv-engine-worker", *, warm_up: bool = True) -> None:
        super().__init__()
        self._jobs: deque[Job] = deque()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._stopping = False
        self._warm = warm_up
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.moveToThread(self.thread)
        self._wake.connect(self._drain, Qt.QueuedConnection)
        self.thread.started.connect(self._warm_up)
        _WORKERS.add(self)

    # ---------------------------------------------------------------- GUI side
    def start(self) -> None:
        self.thread.start()

    def submit(self, job: Job, *, supersede: bool = False) -> None:
        """Queue ``job``; ``supersede`` drops queued (not running) jobs of the same kind
        first — a newer snapshot or selection makes them pointless."""
        with self._lock:
            if self._stopping:
                return
            if supersede:
                self._jobs = deque(j for j in self._jobs if j.kind != job.kind)
            self._jobs.append(job)
        self._wake.emit()

    @property
    def current(self) -> Job | None:
        with self._lock:
            return self._current

    def busy(self) -> bool:
        with self._lock:
            return self._current is not None or bool(self._jobs)

    def pending(self) -> int:
        with self._lock:
            return len(self._jobs)

    def cancel(self) -> None:
        """Stop the running job (cooperatively) and drop the queued ones."""
        with self._lock:
            self._jobs.clear()
        self._cancel.set()

    def cancel_current(self) -> None:
        self._cancel.set()

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything, stop the thread and join it. True when it stopped."""
        if not self.thread.isRunning():
            return True
        self._stopping = True
        self.cancel()
        self.thread.quit()
        return self.thread.wait(timeout_ms)

    # ---------------------------------------------------------------- worker thread
    @Slot()
    def _warm_up(self) -> None:
        """Import what jobs import lazily, then move it out of the collector's view.

        A first training run imports ~900 modules (torch._dynamo on the first
        optimiser step, sympy, torch.distributed, ...). Left tracked, their
        ~10^5 objects made each full collection during training a 40-150 ms
        stall, and a collection in this thread holds the GIL, so the window froze
        too. Done here, at start-up, the GUI stays live while it imports; queued
        jobs wait for it. (The reader imports nothing heavy: it skips this.)
        """
        global _WARM
        if self._warm and not _WARM:
            import gc
            import importlib

            for mod in _PRELOAD:
                try:
                    importlib.import_module(mod)
                except Exception:  # noqa: BLE001 — a job that needs the module reports it properly
                    pass
            if not os.environ.get("MFDV_NO_GC_FREEZE"):  # same switch as app.settle_gc, to compare
                gc.collect()
                gc.freeze()
            _WARM = True
        self.ready.emit()

    @Slot()
    def _drain(self) -> None:
        while not self._stopping:
            with self._lock:
                if not self._jobs:
                    return
                job = self._current = self._jobs.popleft()
            self._run(job)

    def _run(self, job: Job) -> None:
        self._cancel.clear()
        self.started.emit(job)
        ctx = JobContext(yielded=self._yield, progress=self._progress, cancel=self._cancel)
        try:
            with worded_for("cli"):  # the studio's users know the command line's words, as its docs use them
                result = job.fn(ctx)
        except BaseException as e:  # noqa: BLE001 — every failure reaches the user as a dialog
            sentence, details = describe_error(e)
            with self._lock:
                self._current = None
            self.errored.emit(job, sentence, details)
            self.finished.emit(job)
            return
        if result is None or isinstance(result, dict):
            result = self._engine_result(job, result or {})
        with self._lock:
            self._current = None
        self.returned.emit(job, result)
        self.finished.emit(job)

    def _engine_result(self, job: Job, result: dict) -> dict:
        """An engine job's result dict, stamped with its job kind and a status."""
        result = dict(result)
        result["job"] = job.kind
        result.setdefault("kind", job.kind)
        result.setdefault("meta", job.meta)
        if self._cancel.is_set() and result.get("status") not in ("interrupted", "cancelled"):
            result.setdefault("status", "cancelled")
        return result

    def _yield(self, event: Event) -> None:
        self.yielded.emit(event)

    def _progress(self, phase: str, fraction: float | None) -> None:
        self.progress.emit(phase, None if fraction is None else float(fraction))
