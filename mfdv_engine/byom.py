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

from .attacks import rng_isolated
from .data import Dataset, Split
from .errors import ConfigError, ProjectError
from .evaluation.rows import Progress, Protocol, Row, _to_float
from .stochastic import mc_predict, noise_modules
from .validate import sub_seed

#: inputs the checks feed the model (its shape, its noise)
PROBE = 8


class OpaqueNoise(nn.Module):
    """Marks a network whose noise is inside its own ``forward``: it counts as
    stochastic, but its noise cannot be switched off (σ = 0 surrogates refuse)."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    @property
    def noise_enabled(self) -> bool:
        return True

    @noise_enabled.setter
    def noise_enabled(self, on: bool) -> None:
        if not on:
            from .evaluation.suite import STOCHASTIC_MEMBERS

            others = ",".join(m for m in STOCHASTIC_MEMBERS if m != "transfer-sigma0")
            raise ConfigError(f"{self.label}'s noise lives inside its own forward and cannot be switched off, so "
                              "σ = 0 transfer does not apply; give its noise modules a `noise_enabled` switch, or leave "
                              f"transfer-sigma0 out (for the suite: --param adaptive.members={others})")


class ForeignModel(nn.Module):
    """A user's network as the protocol sees it: full passes, stochastic if it has noise."""

    #: no trunk/head split: MC prediction and EOT average full forward passes
    noise_in_trunk = True

    def __init__(self, net: nn.Module, *, stochastic: bool, label: str = "the model") -> None:
        super().__init__()
        self.net = net
        if stochastic and not any(m.noise_enabled for m in noise_modules(net)):
            self.opaque_noise = OpaqueNoise(label)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def wrap_model(net: nn.Module, x: torch.Tensor, num_classes: int | None, stochastic: bool | None,
               label: str) -> ForeignModel:
    """``net`` checked on ``x`` (logits of the right shape) and wrapped; ``stochastic``
    None = detect (its own noise modules, or two passes on the same input differ)."""
    net.eval()
    if isinstance(net, ForeignModel):
        return net
    first, second = _two_passes(net, x, label)
    if first.dim() != 2 or first.shape[0] != x.shape[0] or (num_classes and first.shape[1] != num_classes):
        want = f"({x.shape[0]}, {num_classes or 'classes'})"
        raise ConfigError(f"{label} returned {tuple(first.shape)} for {x.shape[0]} inputs of shape "
                          f"{tuple(x.shape[1:])}; it must return logits of shape {want}")
    own = any(m.noise_enabled for m in noise_modules(net))
    if stochastic is False and own:
        raise ConfigError(f"{label} has noise modules switched on; switch them off or pass stochastic=True")
    if stochastic is None:
        stochastic = own or not torch.equal(first, second)
    return ForeignModel(net, stochastic=bool(stochastic), label=label)


def _two_passes(net: nn.Module, x: torch.Tensor, label: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two forward passes on the same input with different noise seeds (caller's RNG untouched)."""
    outs = []
    try:
        with torch.no_grad():
            for seed in (1, 2):
                with rng_isolated(x.device, seed):
                    outs.append(net(x))
    except Exception as e:  # the user's code: its failure is one sentence naming the input it got
        raise ConfigError(f"{label} failed on inputs of shape {tuple(x.shape)} in [0, 1] "
                          f"({type(e).__name__}: {str(e)[:160]})") from None
    if not all(isinstance(o, torch.Tensor) for o in outs):
        raise ConfigError(f"{label} returned a {type(outs[0]).__name__}, not a tensor of logits")
    return outs[0].float(), outs[1].float()


def _test_split(data: Any, data_root, n: int) -> tuple[Split, int | None, float]:
    """(test split, class count or None, default ε) of a data-set name, Dataset or Split."""
    from .data import load_dataset
    from .defaults import default_eps, default_eps_for

    if isinstance(data, str):
        data = load_dataset(data, data_root, limit_test=n, splits=("test",))
    if isinstance(data, Dataset):
        return data.test, data.num_classes, default_eps_for(data.name)
    if isinstance(data, Split):
        return data, None, default_eps(tuple(data.x.shape))
    raise ConfigError(f"data must be a data-set name, a Dataset or a Split; got a {type(data).__name__}")


def evaluate(model: nn.Module, data: Any, *, attacks: str | Iterable[str] = "fgsm,pgd10",
             eps: float | str | None = None, protocol: Protocol | None = None, device: str | torch.device = "cpu",
             on_progress: Progress | None = None, cancel: threading.Event | None = None,
             stochastic: bool | None = None, data_root: str | Path | None = None,
             params: Iterable[str] = ()) -> list[Row]:
    """Attack ``model`` (inputs in [0, 1], logits out; put in eval mode and moved to
    ``device``) on ``data``'s test split; every row carries its protocol. ``eps``
    None = the data set's default; ``attacks`` as ``mfdv attack`` spells them
    (``adaptive`` included), ``params`` its ``--param`` overrides."""
    from .evaluation.suite import evaluate_request, parse_attacks
    from .devices import resolve_device

    proto = (protocol or Protocol()).validate()
    dev = resolve_device(str(device))
    split, num_classes, eps_default = _test_split(data, data_root, proto.n)
    eps = _eps_value(eps, eps_default)
    text = attacks if isinstance(attacks, str) else ",".join(attacks)
    # a given protocol's EOT samples govern every EOT attack, as --eot does
    specs, suite_over = parse_attacks(text, eps=eps, params=list(params),
                                      eot=proto.eot_samples if protocol is not None else None)
    wrapped = wrap_model(model.to(dev), _to_float(split.x[:PROBE]).to(dev), num_classes, stochastic,
                         f"model {type(model).__name__}")
    rows: list[Row] = []
    evaluate_request(wrapped, split, specs, suite_over, proto, eps=eps, device=dev,
                     on_row=lambda row, gallery: rows.append(row), on_progress=on_progress, cancel=cancel)
    return rows


def _eps_value(eps: float | str | None, default: float) -> float:
    from .config import parse_value

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
        x = _to_float(split.x[first:first + batch_size]).to(device)
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
    from .training.runs import check_project_path
    from .trust import sha256_bytes, trust
    from .devices import resolve_device
    from .validate import MC_MAX, whole_in

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
    model = wrap_model(net.to(dev), _to_float(ds.test.x[:PROBE]).to(dev), ds.num_classes, stochastic, label)
    cfg = _import_config(path, entry, source, weights, dataset, name, model)
    final = _import_final(model, ds, mc_samples, dev, label, Path(weights).name)
    trust(str(path), sha256_bytes(source), entry)
    return _store_import(project_path, cfg, state, final)


def _import_data(dataset: str, data_root, limit_test: int | None) -> Dataset:
    from .config import DataConfig
    from .data import load_dataset

    DataConfig(name=dataset, limit_test=limit_test).validate()
    return load_dataset(dataset, data_root, limit_test=limit_test, splits=("test",))


def _import_config(path: Path, entry: str, source: bytes, weights, dataset: str, name: str | None,
                   model: ForeignModel):
    """The run's config: model ``imported`` with its source (file, entry, hash), defense none."""
    from .config import DataConfig, DefenseConfig, ModelConfig, RunConfig
    from .modelfile import IMPORTED
    from .stochastic import is_stochastic
    from .trust import sha256_bytes

    src = {"file": str(path), "entry": entry, "sha256": sha256_bytes(source), "stochastic": is_stochastic(model),
           "weights": Path(weights).name}
    return RunConfig(name=name or path.stem, description=f"imported from {path.name}:{entry} with weights {src['weights']}",
                     data=DataConfig(name=dataset), model=ModelConfig(name=IMPORTED, stochastic="none", source=src),
                     defense=DefenseConfig(name="none")).validate()


def _import_final(model: ForeignModel, ds: Dataset, mc: int, dev: torch.device, label: str,
                  weights: str) -> dict[str, Any]:
    """What ``mfdv runs`` shows: clean accuracy by the protocol's MC rule."""
    from .stochastic import is_stochastic
    from .devices import describe_device

    n, stochastic = len(ds.test), is_stochastic(model)
    mc = mc if stochastic else 1
    how, short = ((f"Monte-Carlo average of {mc} noise draws", f"MC-{mc}") if stochastic
                  else ("single pass (deterministic model)", "single pass"))
    return {"epoch": 0, "clean_acc": clean_accuracy(model, ds.test, mc), "clean_acc_protocol": f"{how}, n={n} test examples",
            "clean_acc_short": f"{short}, n={n}", "device": describe_device(dev), "imported_from": label,
            "weights": weights}


def _store_import(project_path: Path, cfg, state: dict[str, torch.Tensor], final: dict[str, Any]) -> str:
    """A finished run holding the weights as its checkpoint (datasets, no pickle)."""
    from .training.runs import _close
    from .store import Project

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
            _close(project, run_id, "failed", f"import stopped: {type(e).__name__}: {e}")
            raise
    return run_id
