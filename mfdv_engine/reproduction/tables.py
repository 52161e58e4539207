"""`mfdv reproduce`: train what an experiment needs, evaluate it, write a Markdown report.

An experiment (``resources/presets/experiments/<name>.json``) names its rows
(runs: a preset plus overrides), its columns (attacks, or ``clean``) and its
scales: ``smoke`` (a CPU, minutes: plumbing), ``cpu`` (2 idle CPU cores, at most
about 2 hours, full data on a small network: numbers that say something), ``gpu``
(one CUDA GPU, one run of at most about 9 minutes on an H100) and ``paper`` (the
paper's settings on a GPU).
``gpu`` and ``paper`` refuse to start without CUDA, before the project is
touched. A scale holds ``set`` (overrides for every row), ``group_set`` (per
row group), ``row_set`` (per row label), ``only_groups``, ``eps``,
``protocol``, ``suite`` (the adaptive suite's knobs: a worst-case column for
every row), ``notes`` and, for timing experiments, ``epochs`` and
``defenses``. The paper's published
values live beside it in ``<name>.paper.json``. Every cell of the report puts
the paper's value next to ours under the paper's protocol (single-sample
gradients, MC prediction) and ours under adaptive attack (EOT gradients, or
AutoAttack's ``rand`` version), each with its 95% CI and protocol line.

Finished runs and rows already in the project are reused (matched by config
and protocol), so an interrupted reproduction resumes where it stopped.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..attacks import make_attack
from ..config import RunConfig
from ..errors import ConfigError
from ..evaluation import Protocol, Row
from ..imported.loading import load_run
from ..project.outputs import check_output, marked, write_output
from .experiments import CANCEL, Experiment, Log, cell_str, ensure_or_diverged, pct, report_header, reuse_or_attack
from ..stochastic import is_stochastic
from ..project.store import Project
from ..devices import describe_device, resolve_device

ADAPTIVE_VERSION = {"autoattack": "autoattack-rand"}
#: the column a scale with ``suite`` knobs adds to every row: the adaptive suite's per-example worst case
SUITE_COLUMN = "adaptive suite (worst case)"
#: scales sized for a GPU: started without CUDA they stop before touching the project
CUDA_SCALES = ("gpu", "paper")


@dataclass
class Cell:
    row: str
    column: str
    paper: float | None
    ours: Row | None
    adaptive: Row | None
    #: what to print in the adaptive column when there is no separate adaptive row
    no_adaptive: str = "same (deterministic model)"
    #: the trainer's sentence when this row's run diverged (then there is nothing to attack)
    diverged: str = ""


def reproduce(name: str, *, scale: str, project_path: str | Path, data_root=None, device: str = "auto",
              report: str | Path | None = None, log: Log = print, argv: str = "",
              lambdas: list[float] | None = None, overwrite: bool = False, cancel=None,
              seeds: list[int] | None = None, controls: bool = True) -> str:
    """``lambdas`` and ``seeds`` replace the λ1 list and the training seeds of a ``lambda1`` study,
    ``controls=False`` leaves its controls out (all refused for other experiments).
    ``report`` (and a λ1 study's SVG beside it) is checked against the output rule before anything
    runs (:mod:`mfdv_engine.project.outputs`): an earlier report of ours is replaced, anything else only with
    ``overwrite``, a project or its lock never."""
    token = CANCEL.set(cancel)
    try:
        return _reproduce(name, scale, project_path, data_root, device, report, log, argv, lambdas, overwrite, seeds,
                          controls)
    finally:
        CANCEL.reset(token)


def _reproduce(name, scale, project_path, data_root, device, report, log, argv, lambdas, overwrite, seeds,
               controls) -> str:
    exp = Experiment.load(name)
    outputs = report_outputs(report, exp.kind == "lambda1")
    for path, what, ours in outputs:
        check_output(path, what=what, overwrite=overwrite, ours=ours, example=f"{name}.md")
    sc = exp.scale(scale)
    project_path = Path(project_path)
    if lambdas is not None and exp.kind != "lambda1":
        raise ConfigError(f"--lambda1 applies to the lambda1 study only, not to {name}")
    if seeds is not None and exp.kind != "lambda1":
        raise ConfigError(f"--seeds applies to the lambda1 study only, not to {name}")
    if not controls and exp.kind != "lambda1":
        raise ConfigError(f"--no-controls applies to the lambda1 study only, not to {name}")
    _require_cuda(name, scale, device)
    dev = resolve_device(device)
    if scale == "cpu" and torch.cuda.is_available() and "gpu" in exp.scales:
        log(f"a CUDA GPU is visible: `--scale gpu` is the faster choice for {name}; running the cpu scale as asked "
            f"on {dev.type}")
    rows = [r for r in exp.rows if "only_groups" not in sc or r.get("group", "") in sc["only_groups"]]
    configs = [(row, exp.run_config(row, scale)) for row in rows]  # validate everything first
    if exp.kind == "lambda1":
        from .lambda1 import run_study

        text = run_study(exp, scale, project_path=project_path, data_root=data_root, device=device, dev=dev, log=log,
                         argv=argv, lambdas=lambdas, report=report, overwrite=overwrite, seeds=seeds,
                         controls=controls)
    elif exp.kind == "timing":
        text = _timing_report(exp, scale, sc, [r for r, _ in configs], data_root, device, log, argv)
    else:
        proto = Protocol(**sc.get("protocol", {})).validate()
        cells: list[Cell] = []
        checklists: list[tuple[str, list]] = []
        for row, cfg in configs:
            run_id, diverged = ensure_or_diverged(project_path, cfg, data_root=data_root, device=device, log=log)
            if diverged:  # a result: the row says so in every column, and the table goes on
                labels = [c["label"] for c in _row_columns(exp, row)] + ([SUITE_COLUMN] if sc.get("suite") else [])
                cells += [Cell(row["label"], lab, exp.paper_value(row["label"], lab), None, None, diverged=diverged)
                          for lab in labels]
                continue
            cells += _evaluate_row(exp, sc, row, cfg, run_id, project_path, proto, data_root, dev, log)
            if sc.get("checklist"):
                checklists.append((row["label"], _checklist(project_path, run_id, cfg, sc, proto, data_root, dev)))
        text = _robustness_report(exp, scale, sc, proto, cells, checklists, dev, argv)
    if report:
        path, what, ours = outputs[0]
        write_output(path, lambda f: f.write(text), what=what, overwrite=overwrite, ours=ours, need=len(text) + 4096)
        log(f"wrote {report}")
    return text


#: how a report this tool wrote begins (its header's command line), so a rerun may replace it
REPORT_MARK = "- command: `mfdv reproduce"


def report_outputs(report, with_svg: bool) -> list[tuple[Path, str, object]]:
    """(path, what, recogniser) of every file a report writes: the Markdown, and a λ1 study's SVG."""
    if not report:
        return []
    from .plots import SVG_MARK

    md = (Path(report), "a report", marked(REPORT_MARK))
    return [md] + ([(Path(report).with_suffix(".svg"), "a plot", marked(SVG_MARK))] if with_svg else [])


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


def _evaluate_row(exp, sc, row, cfg, run_id, project_path, proto, data_root, dev, log) -> list[Cell]:
    project = Project.open(project_path)
    _, ds, model = load_run(project, run_id, data_root=data_root, device=dev, limit_test=proto.n)
    stochastic = is_stochastic(model)
    cols = _row_columns(exp, row)
    cells = []
    for col in cols:
        paper = exp.paper_value(row["label"], col["label"])
        if col["attack"] == "clean":
            cells.append(Cell(row["label"], col["label"], paper, None, None))
            continue
        if col["attack"] == "adaptive":  # the suite's worst case is itself the adaptive number
            from .lambda1 import suite_row

            eps = _eps_for(sc, cfg, col) or 8 / 255
            worst = suite_row(project_path, run_id, model, ds, sc, proto, eps, dev, log)
            cells.append(Cell(row["label"], col["label"], paper, worst, None, "this column is the worst case"))
            continue
        params = dict(col.get("params", {}))
        eps = _eps_for(sc, cfg, col)
        if eps is not None and not col["attack"].startswith("pixel") and col["attack"] != "cw":
            params["eps"] = eps
        spec = make_attack(col["attack"], **params)
        ours = reuse_or_attack(project_path, run_id, model, ds, spec, proto, spec.eot_samples, dev, log)
        adaptive = None
        if stochastic and spec.eot_samples == 1:
            if col["attack"] in ADAPTIVE_VERSION:
                aspec = make_attack(ADAPTIVE_VERSION[col["attack"]], **{"eot_iter": proto.eot_samples, **params})
                adaptive = reuse_or_attack(project_path, run_id, model, ds, aspec, proto, 1, dev, log)
            elif spec.supports_eot:
                adaptive = reuse_or_attack(project_path, run_id, model, ds, spec, proto, proto.eot_samples, dev, log)
        cell = Cell(row["label"], col["label"], paper, ours, adaptive)
        if spec.eot_samples > 1:
            cell.no_adaptive = "this column is itself EOT"
        elif stochastic and adaptive is None:
            cell.no_adaptive = "n/a (no gradient to average)"
        cells.append(cell)
    if sc.get("suite") is not None:  # the scale asks for the worst case beside every row's columns
        from .lambda1 import suite_row

        worst = suite_row(project_path, run_id, model, ds, sc, proto, _eps_for(sc, cfg, {}) or 8 / 255, dev, log)
        cells.append(Cell(row["label"], SUITE_COLUMN, None, worst, None, "this column is the worst case"))
    # the clean column takes its accuracy from any attacked row of this run (same n, MC, seed)
    ref = next((c.ours for c in cells if c.ours is not None), None)
    if ref is None:
        spec = make_attack("fgsm", eps=0.0)
        ref = reuse_or_attack(project_path, run_id, model, ds, spec, proto, 1, dev, log)
    for c in cells:
        if c.ours is None:
            c.ours = ref
    return cells


def _row_columns(exp: Experiment, row: dict[str, Any]) -> list[dict[str, Any]]:
    wanted = row.get("columns") or [c["label"] for c in exp.columns]
    return [c for c in exp.columns if c["label"] in wanted]


def _checklist(project_path, run_id, cfg, sc, proto, data_root, dev):
    """The checklist of a stochastic run, at most 200 examples, stored with its rows."""
    from ..measure import checklist

    _, _, model = load_run(Project.open(project_path), run_id, data_root=data_root, device=dev, limit_test=1)
    if not is_stochastic(model):
        return []
    small = Protocol(n=min(proto.n, 200), mc_samples=proto.mc_samples, eot_samples=proto.eot_samples,
                     reeval=proto.reeval, seed=proto.seed)
    return checklist(project_path, run_id, eps=_eps_for(sc, cfg, {}) or 8 / 255, protocol=small, cancel=CANCEL.get(),
                     data_root=data_root, device=dev)


def _robustness_report(exp, scale, sc, proto, cells: list[Cell], checklists, dev, argv) -> str:
    lines = report_header(exp, scale, argv, describe_device(dev))
    lines += [f"Protocol: first n={proto.n} test examples, prediction = Monte-Carlo average of {proto.mc_samples} "
              f"noise draws, only clean-correct examples attacked, success re-judged on {proto.reeval} independent "
              f"MC predictions (robust only if all are correct), seed {proto.seed}. Adaptive = gradients averaged over "
              f"{proto.eot_samples} noise draws (EOT), or AutoAttack's `rand` version. Accuracies in %, 95% Wilson CI "
              "in brackets; the intervals cover the sampling of test examples only, not training randomness "
              "(one training seed per row).", "",
              "| row | column | paper | ours, paper protocol | ours, adaptive | Δ adaptive − paper protocol | ours, clean | protocol |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in cells:
        if c.diverged:
            paper = "—" if c.paper is None else f"{c.paper:.1f}"
            lines.append(f"| {c.row} | {c.column} | {paper} | diverged | diverged |  |  | {c.diverged} |")
            continue
        clean = exp_column(exp, c.column) == "clean"
        ours = cell_str(c.ours, clean)
        adap = "—" if clean else (c.no_adaptive if c.adaptive is None else cell_str(c.adaptive))
        delta = "" if (clean or c.adaptive is None or c.ours is None) else f"{100 * (c.adaptive.robust_acc - c.ours.robust_acc):+.1f}"
        paper = "—" if c.paper is None else f"{c.paper:.1f}"
        proto_line = "clean accuracy" if clean else c.ours.protocol_line()
        if c.adaptive is not None and not clean:
            proto_line += f"; adaptive: {c.adaptive.attack}, {c.adaptive.gradient}"
        clean_acc = "" if c.ours is None else pct(c.ours.clean_acc)
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
    from ..training.timing import time_defenses

    lines = report_header(exp, scale, argv, describe_device(resolve_device(device)))
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
