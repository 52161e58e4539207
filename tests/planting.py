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


# ------------------------------------------------------------------ a comparison project without training

COMPARE_NAMES = ("mfdv λ=1", "plain_net #2 & <b>|50%|</b>\x1b[2J")


def planted_row(run_id, attack, acc, *, eps=0.3, steps=None, eot=1, stochastic=True, n=200, **params):
    """A stored robustness row dict (key and protocol included) with its Wilson interval."""
    from mfdv_engine.evaluation import Row, wilson_ci

    k = round(acc * n)
    lo, hi = wilson_ci(k, n)
    grad = ("single pass (deterministic)" if not stochastic else f"EOT-{eot}" if eot > 1 else "single-sample")
    row = Row(attack=attack, norm="Linf", eps=eps, steps=steps, gradient=grad, eot_samples=eot, mc_samples=15 if stochastic else 1,
              n=n, seed=0, reeval=3 if stochastic else 1, clean_acc=0.95, robust_acc=k / n, robust_acc_mean=k / n,
              ci_low=lo, ci_high=hi, time_s=1.0, params=dict(params, eot_samples=eot), run_id=run_id)
    return dict(row.to_dict(), key=row.key, protocol=row.protocol_line())


def compare_rows():
    """r001 (stochastic): fgsm at two ε, pgd10 both modes, the adaptive suite with one member, an ε sweep;
    r002 (deterministic, a name full of markup): fgsm and pgd10, one pass each."""
    r1 = [planted_row("r001", "fgsm", 0.62), planted_row("r001", "fgsm", 0.55, eot=20),
          planted_row("r001", "fgsm", 0.80, eps=0.1),
          planted_row("r001", "pgd10", 0.40, steps=10), planted_row("r001", "pgd10", 0.31, steps=10, eot=20),
          planted_row("r001", "apgd-ce", 0.27, steps=100, eot=20, suite="adaptive"),
          dict(planted_row("r001", "adaptive", 0.25, eot=20, members=[{"attack": "apgd-ce", "gradient": "EOT-20",
                                                                           "robust_acc": 0.27, "broke_first": 3}]),
               gradient="worst case of 1"),
          planted_row("r001", "pgd10", 0.05, steps=10, eps=0.5, sweep="eps"),
          planted_row("r001", "pgd10", 0.01, steps=10, eps=0.6, eot=20, sweep="eps")]
    r2 = [planted_row("r002", "fgsm", 0.05, stochastic=False), planted_row("r002", "pgd10", 0.0, steps=10, stochastic=False)]
    return r1 + r2


def plant_compare_project(path):
    """Two finished runs (no checkpoints) holding :func:`compare_rows`; returns the path."""
    import h5py

    from mfdv_engine.config import RunConfig
    from mfdv_engine.project.store import Project

    cfg1 = RunConfig().to_dict()
    cfg2 = json.loads(json.dumps(cfg1))
    cfg2["defense"] = {"name": "plain", "params": {}}
    cfg2["train"]["lr"] = 0.05
    finals = ({"clean_acc": 0.981, "sigma_mean_end": 0.1234, "clean_acc_short": "MC-15, n=10000", "epoch": 3},
              {"clean_acc": 0.99, "sigma_mean_end": None, "clean_acc_short": "single pass, n=10000", "epoch": 3})
    with Project.open(path, create=True) as p:
        for cfg, name in ((cfg1, COMPARE_NAMES[0]), (cfg2, COMPARE_NAMES[1])):
            rid = p.create_run(cfg, name)
            p.merge_live(rid, "finished")
            for r in compare_rows():
                if r["run_id"] == rid:
                    p.add_eval_row(rid, {k: v for k, v in r.items() if k != "protocol"})
    with h5py.File(path, "a") as f:
        for rid, fin in zip(("r001", "r002"), finals):
            f["runs"][rid].attrs.update(final=json.dumps(fin), epochs_done=3)
    return path
