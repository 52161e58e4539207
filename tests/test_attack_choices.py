"""An attack's word-valued parameters (its loss) are declared once: validation and the studio's
drop-downs read the same list."""
import pytest

from mfdv_engine.attacks import make_attack
from mfdv_engine.attacks.base import ATTACKS
from mfdv_engine.errors import ConfigError


def test_every_declared_choice_is_enforced_and_its_default_allowed():
    declared = 0
    for name in ATTACKS.names():
        cls, defaults = ATTACKS.get(name)
        for key, allowed in cls.choices.items():
            declared += 1
            spec = make_attack(name, eps=8 / 255)
            assert getattr(spec, key) in allowed
            with pytest.raises(ConfigError, match=f"{key} 'nonsense' is unknown; use one of {', '.join(allowed)}"):
                make_attack(name, eps=8 / 255, **{key: "nonsense"})
    assert declared >= 3  # pgd*, eot-apgd-*, eot-square
