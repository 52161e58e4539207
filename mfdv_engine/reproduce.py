"""`mfdv reproduce`: train what an experiment needs, evaluate it, write a Markdown report.

An experiment (``resources/presets/experiments/<name>.json``) names its rows
(runs: a preset plus overrides), its columns (attacks, or ``clean``) and its
scales: ``smoke`` (a CPU, minutes), ``gpu`` (one CUDA GPU, one run of at most
about 9 minutes on an H100) and ``paper`` (the paper's settings on a GPU).
``gpu`` and ``paper`` refuse to start without CUDA, before the project is
touched. A scale holds ``set`` (overrides for every row), ``group_set`` (per
row group), ``row_set`` (per row label), ``only_groups``, ``eps``,
``protocol``, ``notes`` and, for timing experiments, ``epochs`` and
``defenses``. The paper's published
values live beside it in ``<name>.paper.json``. Every cell of the report puts
the paper's value next to ours under the paper's protocol (single-sample
gradients, MC prediction) and ours under adaptive attack (EOT gradients, or
AutoAttack's ``rand`` version), each with its 95% CI and protocol line.

Finished runs and rows already in the project are reused (matched by config
and protocol), so an interrupted reproduction resumes where it stopped.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from .attacks import make_attack
from .config import RunConfig, load_preset
from .errors import ConfigError
from .evaluation import Protocol, Row, evaluate_attack, gallery_arrays, load_run, row_gradient, wilson_ci
from .resources import resources_dir
from .runs import train_run
from .stochastic import is_stochastic
from .store import Project
from .training import describe_device, resolve_device

Log = Callable[[str], None]
ADAPTIVE_VERSION = {"autoattack": "autoattack-rand"}
#: scales sized for a GPU: started without CUDA they stop before touching the project
CUDA_SCALES = ("gpu", "paper")


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
    #: the λ1 values of a ``lambda1`` study (see :mod:`mfdv_engine.lambda1`)
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


def _same_config(a: dict[str, Any], b: dict[str, Any]) -> bool:
    strip = lambda d: {k: v for k, v in d.items() if k not in ("name", "description")}  # noqa: E731
    return strip(a) == strip(b)


def ensure_run(project_path: Path, cfg: RunConfig, *, data_root, device, log: Log) -> str:
    """A finished run with this config: reused, resumed, or trained now."""
    project = Project.open(project_path, create=True)
    want = cfg.to_dict()
    for info in project.runs():
        if _same_config(info.config, want):
            if info.status == "finished":
                log(f"reusing run {info.run_id} ({cfg.name})")
                return info.run_id
            if info.status == "interrupted":
                log(f"resuming run {info.run_id} ({cfg.name})")
                return train_run(project_path, resume=info.run_id, data_root=data_root, device=device).run_id
    log(f"training {cfg.name}")
    s = train_run(project_path, cfg, data_root=data_root, device=device)
    if s.status != "finished":
        raise ConfigError(f"run {s.run_id} ({cfg.name}) did not finish: {s.message}")
    return s.run_id


@dataclass
class Cell:
    row: str
    column: str
    paper: float | None
    ours: Row | None
    adaptive: Row | None
    #: what to print in the adaptive column when there is no separate adaptive row
    no_adaptive: str = "same (deterministic model)"


def reproduce(name: str, *, scale: str, project_path: str | Path, data_root=None, device: str = "auto",
              report: str | Path | None = None, log: Log = print, argv: str = "",
              lambdas: list[float] | None = None) -> str:
    """``lambdas`` replaces the λ1 list of a ``lambda1`` study (refused for other experiments)."""
    exp = Experiment.load(name)
    sc = exp.scale(scale)
    project_path = Path(project_path)
    if lambdas is not None and exp.kind != "lambda1":
        raise ConfigError(f"--lambda1 applies to the lambda1 study only, not to {name}")
    _require_cuda(name, scale, device)
    dev = resolve_device(device)
    rows = [r for r in exp.rows if "only_groups" not in sc or r.get("group", "") in sc["only_groups"]]
    configs = [(row, exp.run_config(row, scale)) for row in rows]  # validate everything first
    if exp.kind == "lambda1":
        from .lambda1 import run_study

        text = run_study(exp, scale, project_path=project_path, data_root=data_root, device=device, dev=dev, log=log,
                         argv=argv, lambdas=lambdas, report=report)
    elif exp.kind == "timing":
        text = _timing_report(exp, scale, sc, [r for r, _ in configs], data_root, device, log, argv)
    else:
        proto = Protocol(**sc.get("protocol", {})).validate()
        cells: list[Cell] = []
        checklists: list[tuple[str, list]] = []
        for row, cfg in configs:
            run_id = ensure_run(project_path, cfg, data_root=data_root, device=device, log=log)
            cells += _evaluate_row(exp, sc, row, cfg, run_id, project_path, proto, data_root, dev, log)
            if sc.get("checklist"):
                checklists.append((row["label"], _checklist(project_path, run_id, cfg, sc, proto, data_root, dev)))
        text = _robustness_report(exp, scale, sc, proto, cells, checklists, dev, argv)
    if report:
        Path(report).write_text(text)
        log(f"wrote {report}")
    return text


def _require_cuda(name: str, scale: str, device: str) -> None:
    """The ``gpu`` and ``paper`` scales stop here, before the project is touched, when no CUDA GPU will run them."""
    if scale not in CUDA_SCALES:
        return
    if device == "cpu" or not torch.cuda.is_available():
        why = "the device is set to cpu" if device == "cpu" else "no CUDA GPU is visible"
        raise ConfigError(f"the {scale} scale of {name} needs a CUDA GPU but {why}; "
                          f"on a CPU run `mfdv reproduce {name} --scale smoke` instead")


def _eps_for(sc: dict[str, Any], cfg: RunConfig, col: dict[str, Any]) -> float | None:
    if "eps" in col:
        return float(col["eps"])
    table = sc.get("eps", {})
    return float(table[cfg.data.name]) if cfg.data.name in table else None


#: row parameters that are the protocol's, not the attack's (compared through the protocol)
_NOT_ATTACK = ("seed", "eot_samples", "batch_size", "suite", "sweep")


def stored_protocol(proto: Protocol, stochastic: bool) -> dict[str, int]:
    """What a stored row must say to be reused: a deterministic model's rows are MC-1, judged once."""
    return {"n": proto.n, "seed": proto.seed, "mc_samples": proto.mc_samples if stochastic else 1,
            "reeval": proto.reeval if stochastic else 1}


def _stored(project: Project, run_id: str, key: str, proto: Protocol, stochastic: bool = True,
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


def _evaluate_row(exp, sc, row, cfg, run_id, project_path, proto, data_root, dev, log) -> list[Cell]:
    project = Project.open(project_path)
    _, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=proto.n)
    stochastic = is_stochastic(model)
    wanted = row.get("columns") or [c["label"] for c in exp.columns]
    cols = [c for c in exp.columns if c["label"] in wanted]
    cells = []
    for col in cols:
        paper = exp.paper_value(row["label"], col["label"])
        if col["attack"] == "clean":
            cells.append(Cell(row["label"], col["label"], paper, None, None))
            continue
        if col["attack"] == "adaptive":  # the suite's worst case is itself the adaptive number
            from .lambda1 import _suite

            eps = _eps_for(sc, cfg, col) or 8 / 255
            suite_row = _suite(project_path, run_id, model, ds, sc, proto, eps, dev, log)
            cells.append(Cell(row["label"], col["label"], paper, suite_row, None, "this column is the worst case"))
            continue
        params = dict(col.get("params", {}))
        eps = _eps_for(sc, cfg, col)
        if eps is not None and not col["attack"].startswith("pixel") and col["attack"] != "cw":
            params["eps"] = eps
        spec = make_attack(col["attack"], **params)
        ours = _row(project_path, run_id, model, ds, spec, proto, spec.eot_samples, dev, log)
        adaptive = None
        if stochastic and spec.eot_samples == 1:
            if col["attack"] in ADAPTIVE_VERSION:
                aspec = make_attack(ADAPTIVE_VERSION[col["attack"]], **{"eot_iter": proto.eot_samples, **params})
                adaptive = _row(project_path, run_id, model, ds, aspec, proto, 1, dev, log)
            elif spec.supports_eot:
                adaptive = _row(project_path, run_id, model, ds, spec, proto, proto.eot_samples, dev, log)
        cell = Cell(row["label"], col["label"], paper, ours, adaptive)
        if spec.eot_samples > 1:
            cell.no_adaptive = "this column is itself EOT"
        elif stochastic and adaptive is None:
            cell.no_adaptive = "n/a (no gradient to average)"
        cells.append(cell)
    # the clean column takes its accuracy from any attacked row of this run (same n, MC, seed)
    ref = next((c.ours for c in cells if c.ours is not None), None)
    if ref is None:
        spec = make_attack("fgsm", eps=0.0)
        ref = _row(project_path, run_id, model, ds, spec, proto, 1, dev, log)
    for c in cells:
        if c.ours is None:
            c.ours = ref
    return cells


def _row(project_path, run_id, model, ds, spec, proto, eot, dev, log) -> Row:
    project = Project.open(project_path)
    stochastic = is_stochastic(model)
    grad = row_gradient(spec, eot if stochastic else 1, stochastic)
    spec = spec.for_inputs(ds.test.x[:1].shape)
    probe = Row(attack=spec.name, norm=spec.norm, eps=float(spec.eps), steps=spec.protocol().get("steps"),
                gradient=grad, eot_samples=eot, mc_samples=proto.mc_samples, n=proto.n, seed=proto.seed,
                reeval=proto.reeval, clean_acc=0, robust_acc=0, robust_acc_mean=0, ci_low=0, ci_high=0, time_s=0,
                params=spec.protocol())
    old = _stored(project, run_id, probe.key, proto, stochastic, probe.params)
    if old is not None:
        return old
    row, gallery = evaluate_attack(model, ds.test, spec, proto, eot=eot, device=dev)
    row.run_id = run_id
    with project:
        project.add_eval_row(run_id, dict(row.to_dict(), key=row.key), gallery_arrays(gallery))
    log(f"  {row.robust_acc:6.1%} [{row.ci_low:.1%}, {row.ci_high:.1%}]  {row.protocol_line()}")
    return row


def _checklist(project_path, run_id, cfg, sc, proto, data_root, dev):
    from .checklist import run_checklist

    _, ds, model = load_run(Project.open(project_path), run_id, data_root=data_root, device=dev, limit_test=proto.n)
    if not is_stochastic(model):
        return []
    small = Protocol(n=min(proto.n, 200), mc_samples=proto.mc_samples, eot_samples=proto.eot_samples,
                     reeval=proto.reeval, seed=proto.seed)
    eps = _eps_for(sc, cfg, {}) or 8 / 255
    return run_checklist(model, ds.test, small, device=dev, eps=eps)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.1f}"


def _cell_str(r: Row | None, clean: bool = False) -> str:
    if r is None:
        return "n/a"
    if clean:
        lo, hi = wilson_ci(round(r.clean_acc * r.n), r.n)
        return f"{_pct(r.clean_acc)} [{_pct(lo)}, {_pct(hi)}]"
    return f"{_pct(r.robust_acc)} [{_pct(r.ci_low)}, {_pct(r.ci_high)}]"


def _header(exp: Experiment, scale: str, argv: str, dev_text: str) -> list[str]:
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


def _robustness_report(exp, scale, sc, proto, cells: list[Cell], checklists, dev, argv) -> str:
    lines = _header(exp, scale, argv, describe_device(dev))
    lines += [f"Protocol: first n={proto.n} test examples, prediction = Monte-Carlo average of {proto.mc_samples} "
              f"noise draws, only clean-correct examples attacked, success re-judged on {proto.reeval} independent "
              f"MC predictions (robust only if all are correct), seed {proto.seed}. Adaptive = gradients averaged over "
              f"{proto.eot_samples} noise draws (EOT), or AutoAttack's `rand` version. Accuracies in %, 95% Wilson CI "
              "in brackets; the intervals cover the sampling of test examples only, not training randomness "
              "(one training seed per row).", "",
              "| row | column | paper | ours, paper protocol | ours, adaptive | Δ adaptive − paper protocol | ours, clean | protocol |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in cells:
        clean = exp_column(exp, c.column) == "clean"
        ours = _cell_str(c.ours, clean)
        adap = "—" if clean else (c.no_adaptive if c.adaptive is None else _cell_str(c.adaptive))
        delta = "" if (clean or c.adaptive is None or c.ours is None) else f"{100 * (c.adaptive.robust_acc - c.ours.robust_acc):+.1f}"
        paper = "—" if c.paper is None else f"{c.paper:.1f}"
        proto_line = "clean accuracy" if clean else c.ours.protocol_line()
        if c.adaptive is not None and not clean:
            proto_line += f"; adaptive: {c.adaptive.attack}, {c.adaptive.gradient}"
        clean_acc = "" if c.ours is None else _pct(c.ours.clean_acc)
        lines.append(f"| {c.row} | {c.column} | {paper} | {ours} | {adap} | {delta} | {clean_acc} | {proto_line} |")
    if checklists:
        lines += ["", "## Obfuscated-gradient checklist (adaptive attacks, n ≤ 200)", ""]
        for label, items in checklists:
            if not items:
                continue
            lines.append(f"**{label}**")
            lines.append("")
            for it in items:
                lines.append(f"- {'PASS' if it.passed else 'FLAG'} — {it.title}: {it.evidence}")
            lines.append("")
    return "\n".join(lines) + "\n"


def exp_column(exp: Experiment, label: str) -> str:
    for c in exp.columns:
        if c["label"] == label:
            return c["attack"]
    return ""


def _timing_report(exp, scale, sc, rows, data_root, device, log, argv) -> str:
    from .timing import time_defenses

    lines = _header(exp, scale, argv, describe_device(resolve_device(device)))
    lines += ["Time per training epoch, defenses interleaved on the same data, backbone and device "
              "(median of the timed epochs after a warm-up round).", "",
              "| backbone | dataset | defense | paper s/epoch | ours s/epoch | paper AT ÷ MFDV | ours AT ÷ MFDV | ours MFDV ÷ none |",
              "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        cfg = exp.run_config(row, scale)
        log(f"timing {row['label']}")
        res = time_defenses(cfg.data.name, cfg.model.name, sc.get("defenses", ["none", "pgd-at", "mfdv"]),
                            base=cfg, epochs=int(sc.get("epochs", 1)), data_root=data_root,
                            limit_train=cfg.data.limit_train, device=device)
        r = res.ratios()
        for d, t in res.median_s.items():
            pv = exp.paper_value(row["label"], d)
            at = exp.paper_value(row["label"], "AT / MFDV")
            lines.append(f"| {cfg.model.name} | {cfg.data.name} (n={res.n_train}) | {d} | {'—' if pv is None else pv} | "
                         f"{t:.2f} | {'—' if at is None else at} | {r.get('pgd-at/mfdv', float('nan')):.2f} | "
                         f"{r.get('mfdv/none', float('nan')):.2f} |")
    return "\n".join(lines) + "\n"
