"""Plant things into copies of a real trained project (see test_security.py)."""
import hashlib
import json
import shutil

import h5py

from mfdv_engine.cli import main

MARK = b"PLANTED-SECRET-"


def train_base(folder, data_root):
    """r001 (interrupted after 1 of 2 epochs, so it can be resumed) and r002, an intact copy."""
    p = folder / "base.mfdv.h5"
    assert main(["train", "--preset", "mnist-lenet-mfdv", "--epochs", "1", "--limit-train", "3000",
                 "--project", str(p), "--data-root", str(data_root), "--json"]) == 0
    with h5py.File(p, "r+") as f:
        f.copy(f["runs/r001"], f["runs"], name="r002")
        g = f["runs/r001"]
        cfg = json.loads(g.attrs["config"])
        cfg["train"]["epochs"] = 2
        g.attrs.update(status="interrupted", config=json.dumps(cfg))
    return p


def planted(base, tmp_path, mutate):
    p = tmp_path / "p.mfdv.h5"
    shutil.copyfile(base, p)
    with h5py.File(p, "r+") as f:
        mutate(f)
    return p


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def secret_file(tmp_path, nbytes):
    s = tmp_path / "secret.bin"
    s.write_bytes((MARK * (nbytes // len(MARK) + 1))[:nbytes])
    return s


def first_tensor(f):
    """The stored name, shape and dtype of the checkpoint's first model tensor (conv1.weight)."""
    tree = json.loads(f["runs/r001/checkpoint"].attrs["tree"])
    name = next(iter(tree["__dict__"]["model"]["__dict__"].values()))["__tensor__"]
    ds = f[f"runs/r001/checkpoint/{name}"]
    return name, ds.shape, ds.dtype


def replace_tensor(f, make):
    name, shape, dtype = first_tensor(f)
    g = f["runs/r001/checkpoint"]
    del g[name]
    make(g, name, shape, dtype)
