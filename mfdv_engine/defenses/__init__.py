"""Registry of defenses; importing this package registers all of them."""
from .base import Defense, get_defense, list_defenses, register_defense
from . import plain, mfdv  # noqa: F401  (registration)
from . import pgd_at, pni, adv_bnn, l2p, se_snn, wca, rse  # noqa: F401  (baseline defenses)

__all__ = ["Defense", "get_defense", "list_defenses", "register_defense"]
