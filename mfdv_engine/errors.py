"""User-facing errors: one sentence that names what was wrong and how to fix it.

The CLI prints these without a traceback and exits with code 2; the GUI shows
them in a dialog. Anything else that escapes is a bug.
"""
from __future__ import annotations


class MfdvError(Exception):
    """Base of every error the user can fix by changing their input."""


class ConfigError(MfdvError, ValueError):
    """A configuration value is unknown, out of range or of the wrong type."""


class DataError(MfdvError):
    """A data set cannot be found or read."""


class DataNotFound(DataError):
    """A data set is not in the data folder (the message says which files it expects)."""


class ProjectError(MfdvError):
    """A project file cannot be opened, read or written."""


class TrainingDiverged(MfdvError):
    """Training produced a non-finite or runaway value and was stopped."""


class Cancelled(Exception):
    """Raised inside a job when the user asked it to stop."""


class StorageFull(ProjectError):
    """The disk filled up during a write; nothing was half-written and the run can be resumed."""
