"""Registry of defenses; importing this package registers all of them."""
from .base import Defense, get_defense, list_defenses, register_defense
from . import plain, mfdv  # noqa: F401  (registration)

__all__ = ["Defense", "get_defense", "list_defenses", "register_defense"]
