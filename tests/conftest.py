import os
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("MFDV_DATA_DIR", REPO.parent / "shared" / "datasets"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def data_root() -> Path:
    if not (DATA_DIR / "MNIST" / "raw").is_dir():
        pytest.fail(f"the real MNIST is expected in {DATA_DIR}/MNIST/raw (set MFDV_DATA_DIR)")
    return DATA_DIR


@pytest.fixture(autouse=True)
def _no_dangling_threads():
    before = set(threading.enumerate())
    yield
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    assert not extra, f"test left threads running: {extra}"


@pytest.fixture(scope="session")
def base(tmp_path_factory, data_root) -> Path:
    """A real trained project to plant damage into: r001 resumable, r002 an intact copy."""
    from planting import train_base

    return train_base(tmp_path_factory.mktemp("base"), data_root)
