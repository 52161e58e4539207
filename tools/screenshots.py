"""``python tools/screenshots.py [OUT_DIR]`` (``make screenshots``): train a short demo and a moons
run into a temporary project, open every view offscreen and save ``docs/screenshots/<view>.png``.

A developer's tool, not part of the shipped studio: it drives the window the way a user
would and waits for the workers (and the reader's snapshots) between the steps."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="mfdv-shots-"))
    os.environ.setdefault("MFDV_STUDIO_CONFIG_DIR", str(tmp / "cfg"))
    from PySide6.QtWidgets import QApplication

    from mfdv_engine.config import load_preset
    from mfdv_engine.evaluation import Protocol
    from mfdv_studio import jobs
    from mfdv_studio.main_window import MainWindow
    from mfdv_studio.wizards import AttackWizard, NewRunWizard

    app = QApplication.instance() or QApplication([])
    win = MainWindow(tmp / "shots.mfdv.h5")
    win.resize(1400, 860)
    win.show()

    def until(cond, timeout: float = 600) -> None:
        t0 = time.monotonic()
        while not cond() and time.monotonic() - t0 < timeout:
            app.processEvents()
            time.sleep(0.01)

    def wait(n: int, timeout: float = 600) -> None:
        """Until n jobs ended and the reader has delivered what they changed."""
        until(lambda: len(win.results) + len(win.errors) >= n and not win.worker.busy(), timeout)
        for _ in range(20):
            app.processEvents()
            time.sleep(0.01)
        until(lambda: not win.reader.busy(), timeout)
        for _ in range(5):
            app.processEvents()
        if win.errors:
            raise SystemExit(f"a job failed: {win.errors[-1][:2]}")

    def shot(widget, name: str) -> None:
        for _ in range(10):
            app.processEvents()
        widget.grab().save(str(out / f"{name}.png"))
        print(out / f"{name}.png")

    demo = load_preset("demo-lenet-mfdv").with_overrides(["train.device=cpu", "train.epochs=2", "data.limit_test=300"])
    win.start_training(demo.validate())
    wait(1)
    moons = load_preset("demo-lenet-mfdv").with_overrides(
        ["name=moons-mlp-mfdv", "data.name=moons", "model.name=mlp", "model.stochastic=linear1",
         "train.epochs=3", "train.device=cpu"]).validate()
    win.start_training(moons)
    wait(2)
    win.explorer.setCurrentIndex(win.run_model.index(0, 0))  # its stored curves, read by the reader
    until(lambda: "r001" in win.training.status.text())
    win.training.refresh()
    win.tabs.setCurrentWidget(win.training)
    shot(win, "training")
    win.start_attack(["r001"], "fgsm,pgd10,adaptive", eps=None, proto=Protocol(n=128, eot_samples=5), device="cpu")
    wait(3)
    win.explorer.setCurrentIndex(win.run_model.index(0, 0))  # the sweeps attack the image model r001
    for i, kind in enumerate(("eps", "steps", "eot")):
        win.run_sweep(kind)
        wait(4 + i)
    win.submit(jobs.checklist_job(
        str(win.project_path), "r001", proto=Protocol(n=64, eot_samples=5), device="cpu", square_queries=100))
    wait(7)
    win.tabs.setCurrentWidget(win.robustness)
    win.robustness.lower.setCurrentWidget(win.robustness.sweeps)  # the checklist result switched to its tab
    shot(win, "robustness")
    rows = win.robustness.model.rows()
    key = next(r["key"] for r in rows if r["attack"] == "adaptive")  # each example names the member that broke it
    win.gallery.select("r001", key)
    until(lambda: bool(win.gallery.items))
    win.tabs.setCurrentWidget(win.gallery)
    shot(win, "gallery")
    win.compute_boundaries("r002")
    wait(8)
    win.tabs.setCurrentWidget(win.boundaries)
    shot(win, "boundaries-moons")
    win.compute_boundaries("r001")
    wait(9)
    shot(win, "boundaries-image")
    w = NewRunWizard(win, default_device="cpu")
    w.set_value("defense.lambda1", "-1")
    w.show()
    w.next()
    w.next()
    shot(w, "wizard-training")
    w.close()
    a = AttackWizard([(i.run_id, f"{i.name} ({i.run_id})") for i in win.runs], win, preselect=["r001"],
                     configs={i.run_id: i.config for i in win.runs})
    a.show()
    a.next()
    shot(a, "wizard-attack")
    a.close()
    win.shutdown()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter-exit GC of Qt wrappers (a PySide6 teardown crash), nothing left to save


if __name__ == "__main__":
    sys.exit(main())
