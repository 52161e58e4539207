"""Preferences: the data folder, downloads, the default device and CPU threads — and the dialog that edits them."""
from __future__ import annotations

from PySide6.QtCore import QSettings, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLineEdit, QPushButton, QSpinBox, QWidget)

from mfdv_engine.errors import MfdvError
from mfdv_engine.safetext import printable

from . import settings as st


def default_device(s: QSettings) -> str:
    return st.pref(s, "device", "auto")


def data_root(s: QSettings) -> str | None:
    """The data folder, or None for the engine's default."""
    return st.pref(s, "data_root", "") or None


def allow_downloads(s: QSettings) -> bool:
    return st.pref(s, "allow_downloads", False)


def apply(s: QSettings) -> str:
    """Apply what takes effect in this process (CPU threads); return the device sentence for the status bar."""
    threads = st.pref(s, "threads", 0)
    if threads:
        import torch
        torch.set_num_threads(threads)
    from mfdv_engine.devices import describe_device, resolve_device
    try:
        return describe_device(resolve_device(default_device(s)))
    except MfdvError as e:
        return printable(e)


class PreferencesDialog(QDialog):
    def __init__(self, s: QSettings, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.s = s
        f = QFormLayout(self)
        self.data_root = QLineEdit(st.pref(s, "data_root", ""))
        self.data_root.setPlaceholderText("default: the user data folder (datasets/)")
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.data_root, 1)
        row.addWidget(browse)
        host = QWidget()
        host.setLayout(row)
        self.downloads = QCheckBox("allow downloading data sets (needs internet)")
        self.downloads.setChecked(allow_downloads(s))
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.device.setCurrentText(default_device(s))
        self.threads = QSpinBox()
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("PyTorch default")
        self.threads.setValue(st.pref(s, "threads", 0))
        f.addRow("Data folder", host)
        f.addRow("", self.downloads)
        f.addRow("Default device", self.device)
        f.addRow("CPU threads", self.threads)
        bb = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        f.addRow(bb)

    @Slot()
    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Data folder", self.data_root.text())
        if d:
            self.data_root.setText(d)

    def save(self) -> None:
        self.s.setValue("prefs/data_root", self.data_root.text().strip())
        self.s.setValue("prefs/allow_downloads", self.downloads.isChecked())
        self.s.setValue("prefs/device", self.device.currentText())
        self.s.setValue("prefs/threads", self.threads.value())
