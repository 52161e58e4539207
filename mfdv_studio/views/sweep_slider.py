"""A slider over the points of one sweep (ε, PGD steps or EOT samples), like a step slider:
each position is a stored row of the sweep, in the order of its swept value."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QWidget

from mfdv_engine.defaults import eps_text
from mfdv_engine.safetext import printable  # row fields come from the project file

from .sweeps import SWEEP_PLOTS, sweep_series

#: sweep kind → what its slider is called
SWEEP_NAMES = {"eps": "ε sweep", "steps": "steps sweep", "eot": "EOT sweep"}


def point_text(kind: str, row: dict) -> str:
    """The swept value of ``row`` as the slider's label shows it."""
    if kind == "eps":
        return f"ε = {eps_text(float(row.get('eps') or 0), row.get('norm', 'Linf'))}"
    if kind == "steps":
        steps = row.get("steps")
        return f"{steps} step{'s' if steps != 1 else ''}"
    s = row.get("eot_samples")
    return f"EOT-{s} samples" if s != 1 else "1 sample (single-sample)"


def sweep_rows(rows: list[dict], row: dict) -> tuple[str, list[dict]]:
    """(sweep kind, the rows of ``row``'s series sorted by the swept value); ("", []) when
    ``row`` is not in a sweep. A series is one run, loss and gradient mode (and ε off the ε sweep),
    as the sweep plots draw it, so every position moves one value only."""
    kind = row.get("params", {}).get("sweep")
    if kind not in SWEEP_PLOTS:
        return "", []
    for _, _, rs in sweep_series(rows, kind):
        if any(r.get("key") == row.get("key") for r in rs):
            return kind, rs
    return "", []


class SweepSlider(QWidget):
    """Hidden unless the shown row belongs to a sweep; moving it asks for another row of that sweep."""

    row_chosen = Signal(str)   # the chosen row's key

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.kind = ""
        self.rows: list[dict] = []
        self.title = QLabel("")
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setFocusPolicy(Qt.StrongFocus)  # the arrow keys step it
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.setPageStep(1)
        self.value = QLabel("")
        self.value.setTextFormat(Qt.PlainText)
        self.value.setMinimumWidth(220)
        self.slider.valueChanged.connect(self._moved)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.value)
        self.hide()

    def set_row(self, rows: list[dict], row: dict) -> None:
        """Follow ``row`` (one of ``rows``, its run's rows): positions = its sweep's rows."""
        self.kind, self.rows = sweep_rows(rows, row)
        if not self.rows:
            self.hide()
            return
        i = next(j for j, r in enumerate(self.rows) if r.get("key") == row.get("key"))
        self.title.setText(SWEEP_NAMES[self.kind])
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(self.rows) - 1)
        self.slider.setValue(i)
        self.slider.blockSignals(False)
        self._label(i)
        self.show()

    def _label(self, i: int) -> None:
        self.value.setText(printable(f"{point_text(self.kind, self.rows[i])} · {i + 1} of {len(self.rows)}"))

    @Slot(int)
    def _moved(self, i: int) -> None:
        if 0 <= i < len(self.rows):
            self._label(i)
            self.row_chosen.emit(self.rows[i]["key"])
