"""The one engine worker: a QObject living in its own QThread that runs jobs one at a time.

Thread rules (DESIGN.md): the GUI submits :class:`~mfdv_studio.jobs.Job`
objects; everything the worker reports reaches the GUI through the signals
below, which the GUI connects (queued) to ``@Slot`` methods of GUI-thread
QObjects — never lambdas. Cancel is a ``threading.Event`` the engine polls
cooperatively (within one training step / one attack batch).
"""
from __future__ import annotations

import os
import queue
import threading
import traceback
import weakref

from PySide6.QtCore import QObject, QThread, Signal, Slot, Qt

from .jobs import Job, JobContext

#: modules jobs import on first use (see EngineWorker._warm_up)
_PRELOAD = ("mfdv_engine.runs", "mfdv_engine.sweeps", "mfdv_engine.checklist", "mfdv_engine.boundaries",
            "mfdv_engine.distributed", "mfdv_engine.models", "torch._dynamo")
_WARM = False

#: every worker ever created (tests check none is left running)
_WORKERS: "weakref.WeakSet[EngineWorker]" = weakref.WeakSet()


def running_workers() -> list["EngineWorker"]:
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
    return (f"An internal error stopped the job ({type(exc).__name__}: {str(exc)[:200]}); "
            "the details below help when reporting it."), details


class EngineWorker(QObject):
    progress = Signal(str, float)          # what, fraction done
    event = Signal(str, object)            # kind, dict (curve points, rows)
    job_started = Signal(str)              # title
    job_finished = Signal(str, object)     # title, result dict
    job_failed = Signal(str, str, str)     # title, one sentence, details
    ready = Signal()                       # start-up imports done (see _warm_up)
    _wake = Signal()

    def __init__(self) -> None:
        super().__init__()
        self._queue: "queue.Queue[Job | None]" = queue.Queue()
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._current: Job | None = None
        self._stopping = False
        self.thread = QThread()
        self.thread.setObjectName("mfdv-engine-worker")
        self.moveToThread(self.thread)
        self._wake.connect(self._drain, Qt.QueuedConnection)
        self.thread.started.connect(self._warm_up)
        _WORKERS.add(self)

    # ---------------------------------------------------------------- GUI side
    def start(self) -> None:
        self.thread.start()

    def submit(self, job: Job) -> None:
        if self._stopping:
            return
        self._queue.put(job)
        self._wake.emit()

    @property
    def current(self) -> Job | None:
        with self._lock:
            return self._current

    def busy(self) -> bool:
        return self.current is not None or not self._queue.empty()

    def pending(self) -> int:
        return self._queue.qsize()

    def cancel(self) -> None:
        """Stop the running job (cooperatively) and drop the queued ones."""
        self._drop_queue()
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

    def _drop_queue(self) -> None:
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass

    # ---------------------------------------------------------------- worker thread
    @Slot()
    def _warm_up(self) -> None:
        """Import what jobs import lazily, then move it out of the collector's view.

        A first training run imports ~900 modules (torch._dynamo on the first
        optimiser step, sympy, torch.distributed, ...). Left tracked, their
        ~10^5 objects made each full collection during training a 40-150 ms
        stall, and a collection in this thread holds the GIL, so the window froze
        too. Done here, at start-up, the GUI stays live while it imports; queued
        jobs wait for it.
        """
        global _WARM
        if not _WARM:
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
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            self._run(job)

    def _run(self, job: Job) -> None:
        self._cancel.clear()
        with self._lock:
            self._current = job
        self.job_started.emit(job.title)
        ctx = JobContext(emit=self._emit, progress=self._progress, cancel=self._cancel)
        try:
            result = job.fn(ctx) or {}
        except BaseException as e:  # noqa: BLE001 — every failure reaches the user as a dialog
            sentence, details = describe_error(e)
            with self._lock:
                self._current = None
            self.job_failed.emit(job.title, sentence, details)
            return
        result = dict(result)
        result["job"] = job.kind
        result.setdefault("kind", job.kind)
        result.setdefault("meta", job.meta)
        if self._cancel.is_set() and result.get("status") not in ("interrupted", "cancelled"):
            result.setdefault("status", "cancelled")
        with self._lock:
            self._current = None
        self.job_finished.emit(job.title, result)

    def _emit(self, kind: str, data: dict) -> None:
        self.event.emit(kind, data)

    def _progress(self, what: str, frac: float) -> None:
        self.progress.emit(what, float(frac))
