"""The studio's wizards, one module each."""
from .attack import AttackWizard
from .new_run import NewRunWizard

__all__ = ["AttackWizard", "NewRunWizard"]
