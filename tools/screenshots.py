"""``python tools/screenshots.py [OUT_DIR]`` (``make screenshots``): train two short demo runs and a
moons run into a temporary project, attack, sweep and check them, open every view offscreen at
1280×800 and save ``docs/screenshots/<view>.png``, and each window view again at a 1366×768 laptop's
size in ``docs/screenshots/1366x768/``.

A developer's tool, not part of the shipped studio: it drives the window the way a user
would and waits for the workers (and the reader's snapshots) between the steps."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
SIZE = (1280, 800)
#: the laptop screen each window view is also shown at (a window no larger than the screen)
LAPTOP = (1366, 768)


class Shots:
    """The window, a clock that pumps Qt events, and the folder the pictures go to."""

    def __init__(self, out: Path, tmp: Path) -> None:
        from PySide6.QtWidgets import QApplication

        from mfdv_studio.main_window import MainWindow

        self.out, self.jobs = out, 0
        self.app = QApplication.instance() or QApplication([])
        self.win = MainWindow(tmp / "shots.mfdv.h5")
        self.win.resize(*SIZE)
        self.win.show()

    def until(self, cond, timeout: float = 900) -> None:
        t0 = time.monotonic()
        while not cond() and time.monotonic() - t0 < timeout:
            self.app.processEvents()
            time.sleep(0.01)

    def settle(self, submitted: int = 1) -> None:
        """Until the jobs just submitted ended and the reader delivered what they changed."""
        self.jobs += submitted
        win = self.win
        self.until(lambda: len(win.results) + len(win.errors) >= self.jobs and not win.worker.busy())
        for _ in range(3):
            self.pump()
            self.until(lambda: not win.reader.busy())
        if win.errors:
            raise SystemExit(f"a job failed: {win.errors[-1][:2]}")

    def pump(self, n: int = 20) -> None:
        for _ in range(n):
            self.app.processEvents()
            time.sleep(0.01)

    def shot(self, widget, name: str) -> None:
        self.pump()
        widget.grab().save(str(self.out / f"{name}.png"))
        print(self.out / f"{name}.png")
        if widget is self.win:   # the same view on a laptop screen (the window is as large as it may be)
            small = self.out / f"{LAPTOP[0]}x{LAPTOP[1]}"
            small.mkdir(exist_ok=True)
            self.win.resize(*LAPTOP)
            self.pump(40)
            widget.grab().save(str(small / f"{name}.png"))
            self.win.resize(*SIZE)
            self.pump(40)

    def run_id(self, name: str) -> str:
        return next(i.run_id for i in self.win.runs if i.name == name)


def train(s: Shots) -> None:
    from mfdv_engine.config import load_preset

    s.until(lambda: s.win.snapshot.path == s.win.project_path)
    s.shot(s.win, "welcome")
    base = load_preset("demo-lenet-mfdv").with_overrides(["train.device=cpu", "data.limit_test=300"])
    s.win.start_training(base.with_overrides(["train.epochs=3"]).validate())
    s.settle()
    s.win.start_training(base.with_overrides(["name=demo-lenet-plain", "defense=none", "train.epochs=2"]).validate())
    s.settle()
    moons = load_preset("demo-lenet-mfdv").with_overrides(
        ["name=moons-mlp-mfdv", "data.name=moons", "model.name=mlp", "model.stochastic=linear1",
         "train.epochs=3", "train.device=cpu"]).validate()
    s.win.start_training(moons)
    s.settle()
    s.win.explorer.select_run(s.run_id("demo-lenet-mfdv"))
    s.until(lambda: "demo-lenet-mfdv" in s.win.training.status.text())
    s.win.tabs.setCurrentWidget(s.win.training)
    s.shot(s.win, "training")
    ids = [s.run_id("demo-lenet-mfdv"), s.run_id("demo-lenet-plain")]
    s.win.explorer.select_runs(ids)   # their curves overlaid, one colour each
    s.settle(0)
    s.shot(s.win, "training-compare")


def evaluate(s: Shots) -> None:
    from mfdv_engine.evaluation import Protocol
    from mfdv_studio import jobs

    win, mfdv, plain = s.win, s.run_id("demo-lenet-mfdv"), s.run_id("demo-lenet-plain")
    win.start_attack([mfdv], "fgsm,pgd10,adaptive", eps=None, proto=Protocol(n=128, eot_samples=5), device="cpu")
    win.start_attack([plain], "fgsm,pgd10", eps=None, proto=Protocol(n=128, eot_samples=5), device="cpu")
    s.settle(2)
    win.explorer.select_run(mfdv)  # the sweeps attack the selected run
    for kind in ("eps", "steps", "eot"):
        win.run_sweep(kind)
        s.settle()
    win.submit(jobs.checklist_job(str(win.project_path), mfdv, proto=Protocol(n=64, eot_samples=5), device="cpu",
                                  square_queries=100))
    s.settle()
    win.tabs.setCurrentWidget(win.robustness)
    s.shot(win, "robustness-checklist")
    win.robustness.lower.setCurrentWidget(win.robustness.sweeps)
    s.shot(win, "robustness")
    win.tabs.setCurrentWidget(win.compare)
    win.compare.table.clicked.emit(win.compare.model.index(0, win.compare.model.columnCount() - 1))
    s.shot(win, "compare")


def inspect(s: Shots) -> None:
    win, mfdv = s.win, s.run_id("demo-lenet-mfdv")
    rows = win.snapshot.rows()
    key = next(r["key"] for r in rows if r["run_id"] == mfdv and r["attack"] == "adaptive")
    win.show_row_examples(mfdv, key)  # each example names the member that broke it
    s.until(lambda: bool(win.gallery.items))
    s.shot(win, "gallery")
    sweep = sorted((r for r in rows if r["run_id"] == mfdv and r.get("params", {}).get("sweep") == "eps"
                    and r["gradient"] != "single-sample"), key=lambda r: r["eps"])
    win.show_row_examples(mfdv, sweep[len(sweep) // 2]["key"])
    s.until(lambda: win.gallery.key_box.currentData() == sweep[len(sweep) // 2]["key"] and bool(win.gallery.items))
    s.shot(win, "gallery-sweep")
    win.compute_boundaries(s.run_id("moons-mlp-mfdv"))
    s.settle()
    win.tabs.setCurrentWidget(win.boundaries)
    s.shot(win, "boundaries-moons")
    win.compute_boundaries(mfdv)
    s.settle()
    s.shot(win, "boundaries-image")


def wizards(s: Shots) -> None:
    from mfdv_studio.wizards import AttackWizard, NewRunWizard

    win = s.win
    w = NewRunWizard(win, default_device="cpu", settings=win.settings)
    w.resize(900, 640)
    w.show()
    s.shot(w, "wizard-training")
    w.close()
    a = AttackWizard([(i.run_id, f"{i.name} ({i.run_id})") for i in win.runs], win, preselect=[s.run_id("demo-lenet-mfdv")],
                     configs={i.run_id: i.config for i in win.runs}, settings=win.settings)
    a.resize(900, 640)
    a.show()
    a.next()
    s.shot(a, "wizard-attack")
    a.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mfdv-shots-"))
    os.environ.setdefault("MFDV_STUDIO_CONFIG_DIR", str(tmp / "cfg"))
    s = Shots(out, tmp)
    for step in (train, evaluate, inspect, wizards):
        step(s)
    s.win.shutdown()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter-exit GC of Qt wrappers (a PySide6 teardown crash), nothing left to save


if __name__ == "__main__":
    sys.exit(main())
