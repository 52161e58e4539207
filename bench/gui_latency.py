"""Event-loop stall while a demo run trains in the engine worker.

A 10 ms QTimer records its own lateness (interval − 10 ms), first with the
window idle, then while the worker trains ``demo-lenet-mfdv`` (5 epochs by
default, CPU: enough samples for a p99) and the training view redraws its
curves; torch keeps its default CPU threads (Preferences → CPU threads). Prints one JSON line:
p50/p99/max lateness in ms during training, the idle p99, and
``ratio`` = p99 / idle p99. Goal: p99 ≤ 50 ms.

    QT_QPA_PLATFORM=offscreen python bench/gui_latency.py [--epochs N]
"""
from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from PySide6.QtCore import QObject, QTimer, Slot  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


class Probe(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.timer = QTimer(self)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self.tick)
        self.last = None
        self.samples: list[float] = []

    def start(self) -> None:
        self.samples = []
        self.stamps: list[float] = []
        self.last = time.perf_counter()
        self.timer.start()

    def stop(self) -> list[float]:
        self.timer.stop()
        return self.samples

    @Slot()
    def tick(self) -> None:
        now = time.perf_counter()
        self.samples.append(max(0.0, (now - self.last) * 1000 - 10))
        self.stamps.append(now)
        self.last = now


def pct(a, q):
    return round(float(np.percentile(a, q)), 2) if len(a) else None


def main() -> int:
    _app = QApplication.instance() or QApplication([])  # noqa: F841  (must stay alive)
    import torch

    from mfdv_engine.config import load_preset
    from mfdv_studio.app import settle_gc
    from mfdv_studio.main_window import MainWindow

    tmp = tempfile.mkdtemp(prefix="mfdv-latency-")
    os.environ.setdefault("MFDV_STUDIO_CONFIG_DIR", tmp)
    win = MainWindow(Path(tmp) / "bench.mfdv.h5")
    win.show()
    probe = Probe()

    from PySide6.QtCore import QEventLoop

    def run_for(seconds: float, until=None) -> list[float]:
        """Run the real event loop (like app.exec) for ``seconds`` or until ``until()``."""
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(50)
        t0 = time.perf_counter()
        if until is not None:
            check.timeout.connect(lambda: (until() or time.perf_counter() - t0 > seconds) and loop.quit())
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        probe.start()
        check.start()
        loop.exec()
        check.stop()
        return probe.stop()

    run_for(1.0)  # first paints
    settle_gc()
    gc_pauses: list[float] = []
    gc_t0 = [0.0]

    def gc_cb(phase, info):
        if info.get("generation") == 2:
            if phase == "start":
                gc_t0[0] = time.perf_counter()
            else:
                gc_pauses.append(1000 * (time.perf_counter() - gc_t0[0]))

    gc.callbacks.append(gc_cb)
    idle = run_for(3.0)
    epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 5
    cfg = load_preset("demo-lenet-mfdv").with_overrides(["train.device=cpu", f"train.epochs={epochs}"]).validate()
    t_start = time.perf_counter()
    win.start_training(cfg)
    busy = run_for(300.0, until=lambda: bool(win.results or win.errors))
    stalls = [(round(t - t_start, 2), round(v)) for t, v in zip(probe.stamps, busy) if v > 50]
    win.shutdown()
    out = {
        "bench": "gui_latency", "timer_interval_ms": 10, "epochs": epochs, "torch_threads": torch.get_num_threads(), "samples_idle": len(idle), "samples_training": len(busy),
        "p50_ms": pct(busy, 50), "p99_ms": pct(busy, 99), "max_ms": round(max(busy), 2) if busy else None,
        "idle_p99_ms": pct(idle, 99),
        "ratio": round(pct(busy, 99) / max(pct(idle, 99), 0.1), 2) if busy and idle else None,
        "curve_points": win.training.buffer.points, "redraws": win.training.redraws,
        "run_status": win.results[-1][1].get("status") if win.results else (win.errors[-1][1] if win.errors else None),
        "stalls_over_50ms_at_s": stalls[:20],
        "gen2_gc_pauses_ms": [round(v, 1) for v in gc_pauses],
        "goal_p99_le_50ms": bool(busy) and pct(busy, 99) <= 50,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
