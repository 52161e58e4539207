"""What ``mfdv reproduce`` and the λ1 study share: the experiment definitions, and
reuse of what the project already holds.

An experiment's run is reused when a finished run with the same config exists
(resumed when interrupted); an attack row is reused when a row with the same
key, protocol and attack parameters is stored. New rows are stored through
:func:`mfdv_engine.api.store_row`, the one place rows are written.
"""
from __future__ import annotations

import contextvars
import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..measure import store_row
from ..config import RunConfig, load_preset
from ..errors import Cancelled, ConfigError, TrainingDiverged
from ..evaluation import Protocol, Row, evaluate_attack, row_gradient, wilson_ci
from ..resources import resources_dir
from ..training.runs import train_run
from ..stochastic import is_stochastic
from ..project.store import Project

Log = Callable[[str], None]
#: the caller's cancel token for the reproduction running in this context (a threading.Event or None)
CANCEL: contextvars.ContextVar = contextvars.ContextVar("reproduce_cancel", default=None)


def stopped() -> BaseException:
    """What a run stopped short raises: Cancelled when the caller's token asked, else Ctrl-C's KeyboardInterrupt."""
    token = CANCEL.get()
    return Cancelled() if token is not None and token.is_set() else KeyboardInterrupt()


def experiments_dir() -> Path:
    return resources_dir() / "presets" / "experiments"


def list_experiments() -> list[str]:
    return sorted(p.stem for p in experiments_dir().glob("*.json") if not p.stem.endswith(".paper"))


@dataclass
class Experiment:
    name: str
    title: str
    kind: str
    rows: list[dict[str, Any]]
    columns: list[dict[str, Any]]
    scales: dict[str, dict[str, Any]]
    paper: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: the λ1 values of a ``lambda1`` study (see :mod:`mfdv_engine.reproduction.lambda1`)
    lambdas: list[float] = field(default_factory=list)

    @classmethod
    def load(cls, name: str) -> "Experiment":
        path = experiments_dir() / f"{name}.json"
        if not path.is_file():
            raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(list_experiments())}")
        d = json.loads(path.read_text())
        paper_path = experiments_dir() / f"{name}.paper.json"
        paper = json.loads(paper_path.read_text()) if paper_path.is_file() else {}
        return cls(name=name, title=d["title"], kind=d.get("kind", "robustness"), rows=d["rows"],
                   columns=d.get("columns", []), scales=d["scales"], paper=paper, notes=d.get("notes", ""),
                   lambdas=d.get("lambdas", []))

    def scale(self, scale: str) -> dict[str, Any]:
        if scale not in self.scales:
            raise ConfigError(f"experiment {self.name!r} has no scale {scale!r}; use {' or '.join(self.scales)}")
        return self.scales[scale]

    def run_config(self, row: dict[str, Any], scale: str) -> RunConfig:
        sc = self.scale(scale)
        sets = (list(row.get("set", [])) + list(sc.get("set", []))
                + list(sc.get("group_set", {}).get(row.get("group", ""), []))
                + list(sc.get("row_set", {}).get(row["label"], [])))
        cfg = load_preset(row["preset"]).with_overrides(sets)
        cfg.name = f"{self.name}/{row['label']}"
        cfg.description = f"{self.title}, row '{row['label']}', {scale} scale"
        return cfg.validate()

    def paper_value(self, row: str, col: str) -> float | None:
        return self.paper.get("values", {}).get(row, {}).get(col)


def same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda d: {k: v for k, v in d.items() if k not in ("name", "description")}  # noqa: E731
    return strip(a) == strip(b)


def ensure_run(project_path: Path, cfg: RunConfig, *, data_root, device, log: Log) -> str:
    """A finished run with this config: reused, resumed, or trained now."""
    project = Project.open(project_path, create=True)
    want = cfg.to_dict()
    for info in project.runs():
        if same_config(info.config, want):
            if info.status == "finished":
                log(f"reusing run {info.run_id} ({cfg.name})")
                return info.run_id
            if info.status == "interrupted":
                log(f"resuming run {info.run_id} ({cfg.name}) from epoch {info.epochs_done}")
                s = train_run(project_path, resume=info.run_id, data_root=data_root, device=device,
                              cancel_event=CANCEL.get())
                if s.status == "interrupted":
                    raise stopped()
                return s.run_id
    log(f"training {cfg.name}")
    s = train_run(project_path, cfg, data_root=data_root, device=device, cancel_event=CANCEL.get())
    if s.status == "interrupted":  # Ctrl-C or cancel: the run is kept, resumable; the same command continues it
        raise stopped()
    if s.status != "finished":
        raise ConfigError(f"run {s.run_id} ({cfg.name}) did not finish: {s.message}")
    return s.run_id


def ensure_or_diverged(project_path: Path, cfg: RunConfig, *, data_root, device, log: Log) -> tuple[str, str]:
    """(run id, "") of a finished run (reused, resumed or trained), or (run id, the trainer's sentence)
    of one whose training diverged: a result to report, not an error; a diverged config is not
    trained again."""
    for info in Project.open(project_path, create=True).runs():
        if same_config(info.config, cfg.to_dict()) and info.status == "failed" and "training stopped" in info.message:
            log(f"{cfg.name}: diverged before ({info.message})")
            return info.run_id, info.message
    try:
        return ensure_run(project_path, cfg, data_root=data_root, device=device, log=log), ""
    except TrainingDiverged as e:
        log(f"{cfg.name}: {e}")
        failed = [i for i in Project.open(project_path).runs() if same_config(i.config, cfg.to_dict())]
        return (failed[-1].run_id if failed else ""), str(e)


#: row parameters that are the protocol's, not the attack's (compared through the protocol)
_NOT_ATTACK = ("seed", "eot_samples", "batch_size", "suite", "sweep")


def stored_protocol(proto: Protocol, stochastic: bool) -> dict[str, int]:
    """What a stored row must say to be reused: a deterministic model's rows are MC-1, judged once."""
    return {"n": proto.n, "seed": proto.seed, "mc_samples": proto.mc_samples if stochastic else 1,
            "reeval": proto.reeval if stochastic else 1}


def stored_row(project: Project, run_id: str, key: str, proto: Protocol, stochastic: bool = True,
            params: dict[str, Any] | None = None) -> Row | None:
    """A stored row with this key, protocol and (when given) attack parameters: the
    key leaves out e.g. Square's queries and APGD's iterations."""
    want = stored_protocol(proto, stochastic)
    same_params = lambda d: params is None or all(  # noqa: E731
        d.get("params", {}).get(k) == v for k, v in params.items() if k not in _NOT_ATTACK)
    for d in project.eval_rows(run_id):
        if d.get("key") == key and all(d.get(k) == v for k, v in want.items()) and same_params(d):
            d = {k: v for k, v in d.items() if k != "key"}
            return Row(**d)
    return None


def reuse_or_attack(project_path, run_id, model, ds, spec, proto, eot, dev, log) -> Row:
    project = Project.open(project_path)
    stochastic = is_stochastic(model)
    grad = row_gradient(spec, eot if stochastic else 1, stochastic)
    spec = spec.for_inputs(ds.test.x[:1].shape)
    probe = Row(attack=spec.name, norm=spec.norm, eps=float(spec.eps), steps=spec.protocol().get("steps"),
                gradient=grad, eot_samples=eot, mc_samples=proto.mc_samples, n=proto.n, seed=proto.seed,
                reeval=proto.reeval, clean_acc=0, robust_acc=0, robust_acc_mean=0, ci_low=0, ci_high=0, time_s=0,
                params=spec.protocol())
    old = stored_row(project, run_id, probe.key, proto, stochastic, probe.params)
    if old is not None:
        return old
    row, gallery = evaluate_attack(model, ds.test, spec, proto, eot=eot, device=dev, cancel=CANCEL.get())
    with project.writing():
        store_row(project, run_id, row, gallery)
    log(f"  {row.robust_acc:6.1%} [{row.ci_low:.1%}, {row.ci_high:.1%}]  {row.protocol_line()}")
    return row


def pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def cell_str(r: Row | None, clean: bool = False) -> str:
    if r is None:
        return "n/a"
    if clean:
        lo, hi = wilson_ci(round(r.clean_acc * r.n), r.n)
        return f"{pct(r.clean_acc)} [{pct(lo)}, {pct(hi)}]"
    return f"{pct(r.robust_acc)} [{pct(r.ci_low)}, {pct(r.ci_high)}]"


def report_header(exp: Experiment, scale: str, argv: str, dev_text: str) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    lines = [f"# {exp.title} — {scale} scale", "",
             f"- command: `{argv or f'mfdv reproduce {exp.name} --scale {scale}'}`",
             f"- date: {now}", f"- device: {dev_text}"]
    if exp.paper.get("source"):
        lines.append(f"- paper values: {exp.paper['source']}")
    if exp.notes:
        lines.append(f"- notes: {exp.notes}")
    sc = exp.scales[scale]
    if sc.get("notes"):
        lines.append(f"- {scale} scale: {sc['notes']}")
    return lines + [""]
