"""The studio touches the project only through its workers: reads on the reader thread, writes on the
engine worker, typed signals to the GUI, and never an HDF5 open on the GUI thread."""
from __future__ import annotations

import threading
import traceback
from pathlib import Path

import h5py
import pytest
from PySide6.QtCore import QThread, Qt
from PySide6.QtTest import QAbstractItemModelTester

from mfdv_engine.events import Progress, RowStored, TrainingEvent
from mfdv_engine.evaluation import Protocol
from mfdv_engine.project.store import Project, RunInfo
from mfdv_studio.explorer import KEY_ROLE, RESULT_ROLE, ProjectTreeModel
from mfdv_studio.jobs import Job
from mfdv_studio.reads import RunEntry, Snapshot
from mfdv_studio.worker import Worker


class OpenRecorder:
    """Wraps ``Project.open`` and ``h5py.File.__init__``: which thread made each call."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[tuple[str, str, bool, str]] = []   # what, thread name, on the GUI thread, where
        orig_open, orig_init = Project.open.__func__, h5py.File.__init__

        def project_open(cls, *a, **k):
            self._record("Project.open")
            return orig_open(cls, *a, **k)

        def file_init(f, *a, **k):
            self._record("h5py.File")
            return orig_init(f, *a, **k)

        monkeypatch.setattr(Project, "open", classmethod(project_open))
        monkeypatch.setattr(h5py.File, "__init__", file_init)

    def _record(self, what: str) -> None:
        gui = threading.current_thread() is threading.main_thread()
        where = "".join(traceback.format_stack(limit=12)[:-2]) if gui else ""
        self.calls.append((what, QThread.currentThread().objectName(), gui, where))

    def on_gui(self) -> list[tuple[str, str, bool, str]]:
        return [c for c in self.calls if c[2]]

    def threads(self) -> set[str]:
        return {c[1] for c in self.calls if not c[2]}


def test_the_recorder_sees_an_open_on_the_gui_thread(tmp_path, monkeypatch):
    rec = OpenRecorder(monkeypatch)
    Project.open(tmp_path / "p.mfdv.h5", create=True).runs()
    assert {c[0] for c in rec.on_gui()} == {"Project.open", "h5py.File"}


@pytest.fixture
def trained(tmp_path, data_root) -> Path:
    """A project with one finished demo run (a short epoch), trained before any instrumentation."""
    from mfdv_engine import api
    from mfdv_engine.config import load_preset

    path = tmp_path / "trained.mfdv.h5"
    cfg = load_preset("demo-lenet-mfdv").with_overrides(
        ["train.device=cpu", "train.epochs=1", "data.limit_train=1024", "data.limit_test=64"]).validate()
    assert api.train(path, cfg, device="cpu").status == "finished"
    return path


def test_no_project_read_on_the_gui_thread(qtbot, trained, monkeypatch):
    from mfdv_studio.main_window import MainWindow

    rec = OpenRecorder(monkeypatch)
    win = MainWindow(trained)
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.run_model.rowCount() == 1, timeout=30_000)   # the reader's snapshot
        assert win.run_model.index(0, 1).data() == "finished" and win.runs[0].run_id == "r001"
        # a job on the engine worker: its rows arrive typed, the explorer lists them under the run
        win.start_attack(["r001"], "fgsm", eps=None, proto=Protocol(n=16, mc_samples=2, eot_samples=2, reeval=1),
                         device="cpu")
        qtbot.waitUntil(lambda: len(win.results) + len(win.errors) >= 1, timeout=120_000)
        assert not win.errors, win.errors
        assert win.robustness.model.rowCount() == 2   # single-sample and EOT
        win.refresh()
        run = win.run_model.index(0, 0)
        qtbot.waitUntil(lambda: win.run_model.rowCount(run) == 2, timeout=30_000)
        assert not any(win.run_model.index(i, 0, run).data(RESULT_ROLE) for i in range(2))
        # select the run: its stored curves, read by the reader, become the main curves
        win.explorer.setCurrentIndex(run)
        qtbot.waitUntil(lambda: "(r001)" in win.training.status.text(), timeout=30_000)
        assert win.training.buffer.points > 0
        # activate a row under the run: the gallery shows its examples, read by the reader
        key = win.run_model.index(1, 0, run).data(KEY_ROLE)
        win.explorer.row_activated.emit("r001", key)
        qtbot.waitUntil(lambda: len(win.gallery.items) > 0, timeout=30_000)
        assert win.gallery.key_box.currentData() == key and win.tabs.currentWidget() is win.gallery
    finally:
        win.shutdown()
    assert not rec.on_gui(), "the GUI thread opened the project:\n" + "\n".join(c[3] for c in rec.on_gui()[:3])
    assert {"mfdv-project-reader", "mfdv-engine-worker"} <= rec.threads()


def test_reads_do_not_wait_behind_a_long_job(qtbot, window):
    """The engine worker is busy (a job that blocks until released); a snapshot still comes back."""
    release = threading.Event()
    window.submit(Job("wait", "a long job", lambda ctx: {"released": release.wait(60)}))
    qtbot.waitUntil(lambda: window.worker.current is not None, timeout=60_000)
    try:
        with qtbot.waitSignal(window.reader.returned, timeout=30_000,
                              check_params_cb=lambda job, result: isinstance(result, Snapshot)):
            window.refresh()
        assert window.worker.busy()
    finally:
        release.set()
    qtbot.waitUntil(lambda: len(window.results) == 1, timeout=30_000)
    assert window.results[0][1]["released"]


def _events_job(ctx) -> dict:
    ctx.progress("reading", None)
    ctx.progress("training", 0.5)
    ctx.yielded(RowStored("r001", {"key": "k"}))
    ctx.emit("step", {"step": 1, "loss": 0.5})
    return {"status": "finished"}


def _failing_job(ctx) -> dict:
    from mfdv_engine.errors import ConfigError

    raise ConfigError("ε must be a number in [0, 1]")


def test_worker_signals_are_typed_and_ordered(qtbot):
    w = Worker("test-worker", warm_up=False)
    seen: list[tuple] = []
    for name in ("started", "progress", "yielded", "returned", "errored", "finished"):
        getattr(w, name).connect(lambda *args, name=name: seen.append((name, *args)), Qt.DirectConnection)
    w.start()
    try:
        ok, bad = Job("train", "events", _events_job), Job("attack", "fails", _failing_job)
        w.submit(ok)
        w.submit(bad)
        qtbot.waitUntil(lambda: [s[0] for s in seen].count("finished") == 2, timeout=10_000)
    finally:
        w.stop()
    assert [s[0] for s in seen] == ["started", "progress", "progress", "yielded", "yielded", "returned", "finished",
                                    "started", "errored", "finished"]
    assert seen[0][1] is ok and seen[1][1:] == ("reading", None) and seen[2][1:] == ("training", 0.5)
    assert seen[3][1] == RowStored("r001", {"key": "k"})
    assert seen[4][1] == TrainingEvent("step", {"step": 1, "loss": 0.5})
    assert seen[5][1] is ok and seen[5][2]["status"] == "finished" and seen[5][2]["job"] == "train"
    assert seen[8][1] is bad and "ε must be" in seen[8][2] and "Traceback" in seen[8][3]
    assert not any(isinstance(s[1], Progress) for s in seen)   # progress is its own signal, never yielded


def _entry(rid: str, n_rows: int, results: tuple = ()) -> RunEntry:
    info = RunInfo(rid, f"run-{rid}", "finished", "", "", "", {"data": {"name": "demo"}}, 1, {"clean_acc": 0.9})
    rows = tuple({"key": f"fgsm|{i}", "attack": "fgsm", "gradient": "single-sample", "eps": 0.3, "robust_acc": 0.5,
                  "run_id": rid, "protocol": f"protocol {i}"} for i in range(n_rows))
    return RunEntry(info, rows, results)


def test_explorer_model_passes_the_model_tester(qtbot):
    model = ProjectTreeModel()
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    model.set_snapshot(Snapshot(Path("p"), (_entry("r001", 2), _entry("r002", 0))))
    assert model.rowCount() == 2 and model.rowCount(model.index(0, 0)) == 2 and model.rowCount(model.index(1, 0)) == 0
    first = model.index(0, 0)
    # the same runs again, with a new row and a stored result: updated in place (the index stays valid)
    checklist = ("checklist", {"items": [{"passed": True}, {"passed": False}]})
    model.set_snapshot(Snapshot(Path("p"), (_entry("r001", 3, (checklist,)), _entry("r002", 0))))
    assert first.isValid() and model.rowCount(first) == 4
    res = model.index(3, 0, first)
    assert res.data() == "checklist" and res.data(RESULT_ROLE) and model.index(3, 2, first).data() == "1/2 pass"
    assert model.index(0, 2, first).data() == "50.00%" and model.index(0, 0, first).data(Qt.ToolTipRole) == "protocol 0"
    model.set_live("r002")
    assert model.index(1, 1).data() == "running"
    model.set_live(None)
    model.set_status("r002", "interrupted")
    assert model.index(1, 1).data() == "interrupted"
    # other runs: reset
    model.set_snapshot(Snapshot(Path("p"), (_entry("r003", 1),)))
    assert model.rowCount() == 1 and model.index(0, 0).data() == "run-r003 (r003)"
    del tester
