"""Bring your own model: evaluate, or import into a project, a network this tool did not train.

Any ``torch.nn.Module`` that takes inputs in [0, 1] of the data set's shape
and returns logits. It has no trunk/head split, so it is wrapped in
:class:`ForeignModel` (``noise_in_trunk``): Monte-Carlo prediction and EOT run
full forward passes. A network whose noise lives in its own ``forward``
(``torch.randn_like``) is found by two passes on the same input differing,
or declared with ``stochastic=True``; it then gets the protocol of every
stochastic model here (MC prediction, re-judging, single-sample and EOT rows).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import nn

from ..attacks import rng_isolated
from ..data import Dataset, Split
from ..errors import Cancelled, ConfigError, ProjectError
from ..evaluation.row import Protocol
from ..evaluation.rows import to_float
from ..events import EventSink, Progress, ignore
from ..results import Result
from ..stochastic import mc_predict
from ..validate import sub_seed
from .foreign import PROBE, ForeignModel, model_device, prepare, wrap_model


def evaluate(model: nn.Module, data: Any, attacks: str | Iterable[str] = "fgsm,pgd10", *,
             eps: float | str | None = None, protocol: Protocol | dict | None = None,
             params: dict | Iterable[str] | None = None, normalize: tuple | None = None,
             preprocess: nn.Module | None = None, mode: str = "eval", stochastic: bool | None = None,
             device: str | torch.device | None = None, data_root: str | Path | None = None,
             on_event: EventSink = ignore, cancel: threading.Event | None = None,
             keep_examples: bool = True) -> Result:
    """Attack ``model`` (inputs in [0, 1], logits out) on ``data`` with every row's protocol.

    ``data``: a data-set name, ``(x, y)`` tensors, a ``TensorDataset``, a ``Dataset`` or a
    ``DataLoader`` (the first ``protocol.n`` examples). ``normalize=(mean, std)`` or
    ``preprocess`` (a module) runs before the model, so ε stays in pixel space. ``mode``:
    ``"eval"`` (dropout and batch norm in eval mode, as a deployed model), ``"train"`` or
    ``"as-is"`` (the modes the model has now); the model's own modes are restored after, and it
    is never moved (``device`` must be where it is). Whether it is stochastic is measured (two
    passes); ``stochastic=`` that contradicts the measurement is refused. The result holds
    every row and, with ``keep_examples``, each row's per-example verdicts and adversarials
    (``result.adversarial()``: the worst case's)."""
    from ..evaluation.suite import evaluate_request, parse_attacks
    from .inputs import as_split

    proto = (protocol or Protocol()).validate()
    dev = model_device(model, device)
    split, num_classes, eps_default, _ = as_split(data, proto.n, data_root)
    eps = _eps_value(eps, eps_default)
    text = attacks if isinstance(attacks, str) else ",".join(attacks)
    # a given protocol's EOT samples govern every EOT attack, as --eot does
    specs, suite_over = parse_attacks(text, eps=eps, params=list(params or ()),
                                      eot=proto.eot_samples if protocol is not None else None)
    result = Result()
    with wrap_model(model, to_float(split.x[:PROBE]).to(dev), num_classes, stochastic, f"model {type(model).__name__}",
                    mode=mode, normalize=normalize, preprocess=preprocess) as wrapped:
        try:
            evaluate_request(wrapped, split, specs, suite_over, proto, eps=eps, device=dev,
                             on_row=lambda row, gallery: result.add_row(row),
                             on_progress=lambda what, frac: on_event(Progress(what, frac)), cancel=cancel,
                             on_outcome=(lambda out: result.add(out)) if keep_examples else None)
        except Cancelled:
            result.cancelled = True
    return result


def _eps_value(eps: float | str | None, default: float) -> float:
    from ..config import parse_value

    v = default if eps is None else parse_value(eps) if isinstance(eps, str) else eps
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
        raise ConfigError(f"eps must be a number in [0, 1] such as 0.3 or '8/255', got {eps!r}")
    return float(v)


@torch.no_grad()
def clean_accuracy(model: nn.Module, split: Split, mc: int, seed: int = 0, batch_size: int = 250) -> float:
    """Accuracy on ``split`` by the protocol's rule: MC-``mc`` for a stochastic model, one pass
    otherwise; every batch's noise seeded as evaluation seeds it."""
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    right = 0
    for first in range(0, len(split), batch_size):
        x = to_float(split.x[first:first + batch_size]).to(device)
        with rng_isolated(device, sub_seed(seed, first)):
            p = mc_predict(model, x, mc)
        right += int((p.argmax(1).cpu() == split.y[first:first + batch_size]).sum())
    return right / max(len(split), 1)


def imported_model(project, run_id: str, cfg, ds) -> ForeignModel:
    """Rebuild an imported run's model, but only from a model file this machine imported
    itself (same path, same content, same entry): a project never makes us run code."""
    from .modelfile import build_net, check_source, exec_source
    from .trust import is_trusted, sha256_bytes

    src = cfg.model.source
    try:
        check_source(src, cfg.model.stochastic)
    except ConfigError as e:
        raise ProjectError(f"run {run_id!r} was imported, but its config is damaged ({e})") from None
    path = Path(src["file"])
    # no ready-made command: running that file is the decision the refusal exists for
    refuse = (f"run {run_id} was imported from {path.name}, which this machine has not imported (or which changed "
              f"since): a model file is Python and runs with your permissions, so it is not run; read it first, "
              f"and import it yourself only if you trust where it came from")
    if not is_trusted(str(path), src["sha256"], src["entry"]):
        raise ProjectError(refuse)
    try:
        source = path.read_bytes()
    except OSError:
        raise ProjectError(refuse) from None
    if sha256_bytes(source) != src["sha256"]:  # the bytes we are about to run, not a re-read
        raise ProjectError(refuse)
    net = build_net(exec_source(source, path), src["entry"], path, num_classes=ds.num_classes,
                    in_channels=ds.in_channels)
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    state = project.load_checkpoint(run_id, map_location="cpu",  # shapes checked before anything is read
                                    shape_of=lambda p: shapes.get(p[1]) if len(p) == 2 and p[0] == "model" else None)
    from .weights import load_model_state

    load_model_state(net, state.get("model"), run_id)
    return ForeignModel(net.eval(), stochastic=src["stochastic"], label=f"{path.name}:{src['entry']}")


def import_model(project_path: str | Path, model_file: str, weights: str | Path, dataset: str = "mnist",
                 name: str | None = None, data_root: str | Path | None = None, *, stochastic: bool | None = None,
                 limit_test: int | None = None, mc_samples: int = 15, device: str = "cpu") -> str:
    """Record ``model_file`` (``my_net.py:build``) with ``weights`` as a finished run of the
    project, trust the file on this machine, and return the run id. The weights are
    read (no code runs) before the model file is run; bad input changes nothing."""
    from .modelfile import build_net, exec_source, load_net_state, load_weights, parse_model_spec, read_source
    from ..training.runs import check_project_path
    from .trust import sha256_bytes, trust
    from ..devices import resolve_device
    from ..validate import MC_MAX, whole_in

    path, entry = parse_model_spec(model_file)
    project_path = check_project_path(project_path)
    whole_in("--mc", mc_samples, 1, MC_MAX)
    dev = resolve_device(device)
    state = load_weights(weights)  # tensors only, before any user code runs
    source = read_source(path)
    ds = _import_data(dataset, data_root, limit_test)
    label = f"{path.name}:{entry}"
    net = build_net(exec_source(source, path), entry, path, num_classes=ds.num_classes, in_channels=ds.in_channels)
    load_net_state(net, state, f"the weights in {Path(weights).name}")
    model = prepare(net.to(dev), to_float(ds.test.x[:PROBE]).to(dev), ds.num_classes, stochastic, label)
    cfg = _import_config(path, entry, source, weights, dataset, name, model)
    final = _import_final(model, ds, mc_samples, dev, label, Path(weights).name)
    if data_root is not None:  # attacks on the run find its data without --data-root
        final["data_root"] = str(Path(data_root).expanduser().resolve())
    trust(str(path), sha256_bytes(source), entry)
    return _store_import(project_path, cfg, state, final)


def _import_data(dataset: str, data_root, limit_test: int | None) -> Dataset:
    from ..config import DataConfig
    from ..data import load_dataset

    DataConfig(name=dataset, limit_test=limit_test).validate()
    return load_dataset(dataset, data_root, limit_test=limit_test, splits=("test",))


def _import_config(path: Path, entry: str, source: bytes, weights, dataset: str, name: str | None,
                   model: ForeignModel):
    """The run's config: model ``imported`` with its source (file, entry, hash), defense none."""
    from ..config import DataConfig, DefenseConfig, ModelConfig, RunConfig
    from .modelfile import IMPORTED
    from ..stochastic import is_stochastic
    from .trust import sha256_bytes

    src = {"file": str(path), "entry": entry, "sha256": sha256_bytes(source), "stochastic": is_stochastic(model),
           "weights": Path(weights).name}
    return RunConfig(name=name or path.stem, description=f"imported from {path.name}:{entry} with weights {src['weights']}",
                     data=DataConfig(name=dataset), model=ModelConfig(name=IMPORTED, stochastic="none", source=src),
                     defense=DefenseConfig(name="none")).validate()


def _import_final(model: ForeignModel, ds: Dataset, mc: int, dev: torch.device, label: str,
                  weights: str) -> dict[str, Any]:
    """What ``mfdv runs`` shows: clean accuracy by the protocol's MC rule."""
    from ..stochastic import is_stochastic
    from ..devices import describe_device

    n, stochastic = len(ds.test), is_stochastic(model)
    mc = mc if stochastic else 1
    how, short = ((f"Monte-Carlo average of {mc} noise draws", f"MC-{mc}") if stochastic
                  else ("single pass (deterministic model)", "single pass"))
    return {"epoch": 0, "clean_acc": clean_accuracy(model, ds.test, mc), "clean_acc_protocol": f"{how}, n={n} test examples",
            "clean_acc_short": f"{short}, n={n}", "device": describe_device(dev), "imported_from": label,
            "weights": weights}


def _store_import(project_path: Path, cfg, state: dict[str, torch.Tensor], final: dict[str, Any]) -> str:
    """A finished run holding the weights as its checkpoint (datasets, no pickle)."""
    from ..training.runs import close_run
    from ..project.store import Project

    project = Project.at(project_path)
    with project:
        project.create()
        run_id = project.create_run(cfg.to_dict(), cfg.name)
        try:
            # epochs_done 1: one finished state (the studio lists runs with epochs_done > 0)
            project.write_live(run_id, status="running", message="", curves={"step": [], "epoch": []},
                               checkpoint={"model": state, "epoch": 0}, epochs_done=1, final=final)
            project.merge_live(run_id, "finished", "")
        except BaseException as e:
            close_run(project, run_id, "failed", f"import stopped: {type(e).__name__}: {e}")
            raise
    return run_id
