"""`mfdv reproduce lambda1`: does MFDV become robust at some λ1, and does that
survive the adaptive suite?

The paper gives no λ1, and σ grows with it. The study trains the same network
with MFDV at every λ1 of the list (λ1 = 0: Gaussian noise with a learned σ and
no regulariser) and without a defense, for every training seed of the scale,
and measures each run's final σ mean, clean accuracy, PGD-10 under the paper's
protocol (single-sample gradients), EOT PGD-10 and the adaptive suite's
per-example worst case. A run whose σ runs away is reported as diverged with
the trainer's message, not as a missing cell. The report plots robust accuracy
against λ1 for both protocols and the suite (an SVG beside the report).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..attacks import make_attack
from ..config import load_preset
from ..devices import describe_device
from ..errors import ConfigError
from ..evaluation import Protocol, Row
from .experiments import CANCEL, cell_str, ensure_or_diverged, report_header, reuse_or_attack, stored_protocol
from ..imported.loading import load_run
from ..project.outputs import marked, write_output
from ..measure import store_row, stored_outcomes
from .plots import SVG_MARK, Series, interval_plot_svg
from ..stochastic import is_stochastic, stochastic_layers
from ..evaluation.noise import measure_noise
from ..project.store import Project
from ..evaluation.suite import SuiteSpec, run_suite

COLUMNS = ("PGD-10, paper protocol", "EOT PGD-10", "adaptive suite")


def parse_seeds(text: str | None) -> list[int] | None:
    """``0,1`` → [0, 1]; None keeps the scale's seeds."""
    if text is None:
        return None
    vals = [t.strip() for t in text.split(",") if t.strip()]
    if not vals or not all(v.isdigit() for v in vals):
        raise ConfigError(f"--seeds needs whole numbers ≥ 0 separated by commas (e.g. 0,1); got {text!r}")
    return [int(v) for v in vals]


def parse_lambdas(text: str | None, default: list[float]) -> list[float]:
    """``0,0.01,0.1`` → floats; every value must be a finite number ≥ 0."""
    from ..config import parse_value

    if text is None:
        return [float(v) for v in default]
    vals = [parse_value(t) for t in text.split(",") if t.strip()]
    bad = [v for v in vals if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < float("inf")]
    if not vals or bad:
        raise ConfigError(f"--lambda1 needs numbers ≥ 0 separated by commas (e.g. 0,0.02,0.1); got {text!r}")
    return [float(v) for v in vals]


@dataclass
class StudyRun:
    label: str
    lambda1: float | None  # None: the plain model or a control
    seed: int
    #: a control (e.g. PGD-AT): a model the suite must *not* break, or the suite is wrong
    control: bool = False
    run_id: str = ""
    diverged: str = ""
    sigma: float | None = None
    noise: Any = None              # NoiseReport: where the σ sits (a large σ mean alone says little)
    train_s: float | None = None   # training wall time (until it stopped, for a diverged run)
    clean: Row | None = None
    cells: dict[str, Row] = field(default_factory=dict)


def study_configs(exp, scale: str, lambdas: list[float],
                  seeds: list[int] | None = None, controls: bool = True) -> list[tuple[StudyRun, Any]]:
    """(study run, validated config) for the plain row and every λ1, for every seed (``seeds``, else
    the scale's); the scale's controls (each a preset plus overrides, trained as given: not via the
    scale's ``set``) come right after the first seed, because their verdict decides whether any
    number of the study can be published (``controls=False`` leaves them out)."""
    sc = exp.scale(scale)
    plain, mfdv = exp.rows[0], exp.rows[1]
    per_seed = []
    for seed in sc.get("seeds", [0]) if seeds is None else seeds:
        runs = []
        for lam in [None] + lambdas:
            row = plain if lam is None else dict(mfdv, set=list(mfdv.get("set", [])) + [f"defense.lambda1={lam:g}"])
            label = "plain" if lam is None else f"λ1={lam:g}"
            cfg = exp.run_config(dict(row, label=label), scale).with_overrides([f"train.seed={seed}"])
            cfg.name = f"{exp.name}/{label}/seed{seed}"
            runs.append((StudyRun(label, lam, seed), cfg.validate()))
        per_seed.append(runs)
    ctl = control_configs(exp, scale) if controls else []
    return per_seed[0] + ctl + [r for runs in per_seed[1:] for r in runs]


def control_configs(exp, scale: str) -> list[tuple[StudyRun, Any]]:
    """The scale's controls: models the suite must not break."""
    out = []
    for ctl in exp.scale(scale).get("controls", []):
        for seed in ctl.get("seeds", [0]):
            cfg = load_preset(ctl["preset"]).with_overrides(list(ctl.get("set", [])) + [f"train.seed={seed}"])
            cfg.name = f"{exp.name}/{ctl['label']}/seed{seed}"
            cfg.description = f"{exp.title}: control '{ctl['label']}', {scale} scale"
            out.append((StudyRun(ctl["label"], None, seed, control=True), cfg.validate()))
    return out


def scale_lambdas(exp, scale: str, asked: list[float] | None) -> list[float]:
    """The λ1 values: those asked for, else the scale's own list, else the experiment's."""
    if asked is not None:
        return asked
    return [float(v) for v in exp.scale(scale).get("lambdas", exp.lambdas)]


def train_or_diverge(project_path: Path, run: StudyRun, cfg, *, data_root, device, log) -> None:
    """A finished run (reused or trained), or the divergence message of one that
    stopped (also reused: a diverged config is not trained again)."""
    run.run_id, run.diverged = ensure_or_diverged(project_path, cfg, data_root=data_root, device=device, log=log)
    proj = Project.open(project_path)
    if run.run_id:
        times = proj.curves(run.run_id)["epoch"].get("time")
        run.train_s = float(times[-1]) if times is not None and len(times) else None
    if not run.diverged:
        run.sigma = proj.run(run.run_id).final.get("sigma_mean_end")


def evaluate_study_run(project_path: Path, run: StudyRun, sc: dict[str, Any], proto: Protocol, eps: float, *,
                       data_root, dev, log) -> None:
    """PGD-10 single-sample and EOT rows (reused when stored) and, for the scale's
    suite seeds, the adaptive suite."""

    project = Project.open(project_path)
    _, ds, model = load_run(project, run.run_id, data_root=data_root, device=dev, limit_test=proto.n)
    if stochastic_layers(model):  # seconds; measured each time, never stored
        run.noise = measure_noise(model, ds.test.subset(proto.n), run_id=run.run_id, mc_samples=proto.mc_samples,
                                  seed=proto.seed, device=dev)
    spec = make_attack("pgd10", eps=eps)
    run.cells[COLUMNS[0]] = reuse_or_attack(project_path, run.run_id, model, ds, spec, proto, 1, dev, log)
    run.clean = run.cells[COLUMNS[0]]
    if is_stochastic(model):
        run.cells[COLUMNS[1]] = reuse_or_attack(project_path, run.run_id, model, ds, spec, proto, proto.eot_samples, dev, log)
    if run.seed in sc.get("suite_seeds", sc.get("seeds", [0])):
        run.cells[COLUMNS[2]] = suite_row(project_path, run.run_id, model, ds, sc, proto, eps, dev, log)


def suite_row(project_path: Path, run_id: str, model, ds, sc, proto: Protocol, eps: float, dev, log) -> Row:
    """The suite's row: reused when one with this protocol, these knobs and these members is stored."""
    knobs = dict(sc.get("suite", {}))
    sproto = Protocol(**{**proto.__dict__, "n": int(knobs.pop("n", proto.n))}).validate()
    suite = SuiteSpec(eps=eps, eot_samples=proto.eot_samples, **knobs)
    project = Project.open(project_path)
    stochastic = is_stochastic(model)
    want = {**stored_protocol(sproto, stochastic), "attack": "adaptive"}
    knobs = {k: v for k, v in suite.protocol().items() if k not in ("members", "eot_samples")}
    members = [spec.name for spec, _ in suite.member_specs(stochastic)]
    for d in project.eval_rows(run_id):
        if (all(d.get(k) == v for k, v in want.items()) and all(d["params"].get(k) == v for k, v in knobs.items())
                and [m["attack"] for m in d["params"]["members"]] == members
                and d["params"].get("eot_samples") == (suite.eot_samples if stochastic else 1)):
            return Row(**{k: v for k, v in d.items() if k != "key"})

    def store(row: Row, gallery) -> None:
        with project.writing():
            store_row(project, run_id, row, gallery)

    res = run_suite(model, ds.test, suite, sproto, device=dev, on_row=store, reuse=stored_outcomes(project, run_id),
                    cancel=CANCEL.get())
    log(f"  {res.row.robust_acc:6.1%} [{res.row.ci_low:.1%}, {res.row.ci_high:.1%}]  {res.row.protocol_line()}")
    return res.row


def run_study(exp, scale: str, *, project_path: Path, data_root, device: str, dev, log, argv: str,
              lambdas: list[float] | None, report: str | Path | None, overwrite: bool = False,
              seeds: list[int] | None = None, controls: bool = True) -> str:
    """Train (or reuse) every run, evaluate it, and return the Markdown report
    (the SVG plot is written beside ``report`` when one is given)."""
    sc = exp.scale(scale)
    plan = study_configs(exp, scale, scale_lambdas(exp, scale, lambdas), seeds, controls)  # validates every config first
    proto = Protocol(**sc.get("protocol", {})).validate()
    runs = []
    for run, cfg in plan:
        train_or_diverge(project_path, run, cfg, data_root=data_root, device=device, log=log)
        if not run.diverged:
            eps = float(sc.get("eps", {}).get(cfg.data.name, 8 / 255))
            evaluate_study_run(project_path, run, sc, proto, eps, data_root=data_root, dev=dev, log=log)
        runs.append(run)
    svg_name = None
    if report:
        svg = Path(report).with_suffix(".svg")
        cfg = plan[-1][1]
        title = f"Robust accuracy against λ1: {cfg.data.name} / {cfg.model.name}, {scale} scale, seed {runs[0].seed}"
        text = interval_plot_svg(_series(runs), title=title, xlabel="λ1 (plain = no defense)",
                                 ylabel="robust accuracy (%), 95% CI")
        write_output(svg, lambda f: f.write(text), what="a plot", overwrite=overwrite, ours=marked(SVG_MARK),
                     need=len(text) + 4096)
        svg_name = svg.name
    left_out = [] if controls else [c["label"] for c in sc.get("controls", [])]
    return report_text(exp, scale, proto, runs, dev, argv, svg_name, left_out)


def _series(runs: list[StudyRun]) -> list[Series]:
    """Seed 0's runs: one series per column, x = λ1 (plain first)."""
    first = min(r.seed for r in runs)
    out = []
    for col in COLUMNS:
        s = Series(col)
        for r in (r for r in runs if r.seed == first):
            row = r.cells.get(col)
            if row is not None or r.diverged:
                s.points.append((r.label.replace("λ1=", ""), None if row is None else row.robust_acc,
                                 0.0 if row is None else row.ci_low, 0.0 if row is None else row.ci_high))
        out.append(s)
    return out


def _pct(row: Row | None, clean: bool = False) -> str:
    return "—" if row is None else cell_str(row, clean)


def report_text(exp, scale: str, proto: Protocol, runs: list[StudyRun], dev, argv: str, svg_name: str | None,
                left_out: list[str] = ()) -> str:
    lines = report_header(exp, scale, argv, describe_device(dev))
    lines += [f"Protocol: first n={proto.n} test examples (the suite: see its protocol column), prediction = Monte-Carlo "
              f"average of {proto.mc_samples} noise draws, only clean-correct examples attacked, success re-judged on "
              f"{proto.reeval} independent MC predictions, seed {proto.seed}. EOT = gradients averaged over "
              f"{proto.eot_samples} noise draws. The adaptive suite counts an example as robust only if it survives "
              "every member. Accuracies in %; the 95% Wilson intervals cover the sampling of test examples only, "
              "not training randomness: the spread across training seeds is in the second table. Logit noise ÷ "
              "spread: how much a logit moves across noise draws against how much it differs between examples "
              "(`mfdv noise`; near 0, the noise hardly touches the prediction).", "",
              "| run | seed | final σ mean | logit noise ÷ spread | clean | " + " | ".join(COLUMNS) +
              " | wall time, min (train + eval) | status |",
              "| --- | ---: | ---: | ---: | ---: | " + " | ".join("---:" for _ in COLUMNS) + " | ---: | --- |"]
    for r in runs:
        sigma = "—" if r.sigma is None else f"{r.sigma:.3g}"
        status = f"diverged: {r.diverged}" if r.diverged else f"run {r.run_id}"
        cells = " | ".join("diverged" if r.diverged else _pct(r.cells.get(c)) for c in COLUMNS)
        ratio = "—" if r.noise is None else f"{r.noise.logit_noise_sd / max(r.noise.logit_spread_sd, 1e-12):.2f}"
        lines.append(f"| {r.label} | {r.seed} | {sigma} | {ratio} | {'diverged' if r.diverged else _pct(r.clean, True)} | "
                     f"{cells} | {_wall(r)} | {status} |")
    lines += ["", "Across training seeds (mean; min–max in brackets):", "",
              "| run | seeds | clean | " + " | ".join(COLUMNS) + " |", "| --- | ---: | ---: | " +
              " | ".join("---:" for _ in COLUMNS) + " |"]
    for label in dict.fromkeys(r.label for r in runs):
        group = [r for r in runs if r.label == label]
        ok = [r for r in group if not r.diverged]
        clean = _spread([r.clean.clean_acc for r in ok if r.clean])
        cols = [_spread([r.cells[c].robust_acc for r in ok if c in r.cells], len(ok)) for c in COLUMNS]
        div = f" ({len(group) - len(ok)} diverged)" if len(ok) < len(group) else ""
        lines.append(f"| {label} | {len(group)}{div} | {clean} | " + " | ".join(cols) + " |")
    lines += _control_lines(runs, left_out)
    lines += ["", "Protocols of the cells (seed 0's runs):", ""]
    for r in (r for r in runs if r.seed == min(x.seed for x in runs) and not r.diverged):
        for c, row in r.cells.items():
            lines.append(f"- {r.label}, {c}: {row.protocol_line()}" + _members(row))
        if r.noise is not None:
            lines.append(f"- {r.label}, noise: " + "; ".join(line.strip() for line in r.noise.lines()[1:]))
    if svg_name:
        lines += ["", f"![robust accuracy against λ1]({svg_name})"]
    return "\n".join(lines) + "\n"


def _wall(r: StudyRun) -> str:
    """Training and evaluation minutes as measured when each was computed (a reused row keeps its own)."""
    if r.train_s is None:
        return "—"
    ev = sum(row.time_s for row in r.cells.values())
    return f"{_min(r.train_s + ev)} ({_min(r.train_s)} + {_min(ev)})"


def _min(seconds: float) -> str:
    """Minutes, one decimal; two under a minute, so a seconds-long smoke run does not read as 0.0."""
    m = seconds / 60
    return f"{m:.1f}" if m >= 1 else f"{m:.2f}"


#: the suite must leave a genuinely robust control at least this much (lower end of its 95% CI)
CONTROL_FLOOR = 0.05


def control_holds(run: StudyRun) -> bool | None:
    """Whether the suite left the control clearly robust (None: no suite row, or it diverged)."""
    row = run.cells.get(COLUMNS[2])
    return None if row is None or run.diverged else row.ci_low > CONTROL_FLOOR


def _control_lines(runs: list[StudyRun], left_out: list[str] = ()) -> list[str]:
    """The sanity check of the suite itself: a PGD-AT model must keep clearly non-zero accuracy
    (``left_out``: the controls this call skipped, said so rather than silently missing)."""
    out = [f"- control {label}: not run in this call (--no-controls); this report does not check the suite "
           "itself, so its zeros rest on an earlier report in which the same suite left this control robust"
           for label in left_out]
    for r in (r for r in runs if r.control):
        held = control_holds(r)
        row = r.cells.get(COLUMNS[2])
        if held is None:
            out.append(f"- control {r.label} (seed {r.seed}): no suite row ({r.diverged or 'not evaluated'})")
            continue
        verdict = ("holds: the suite leaves an adversarially trained model clearly robust, so a model it takes "
                   "to zero is broken, not the suite" if held else
                   "FAILS: the suite also breaks the adversarially trained control, so the suite is suspect and "
                   "no number of this report should be published")
        out.append(f"- control {r.label} (seed {r.seed}): adaptive suite {_pct(row)}, lower bound above "
                   f"{100 * CONTROL_FLOOR:.0f} %: {verdict}.")
    return ["", "Control (the suite must not break an adversarially trained model):", ""] + out if out else []


def _spread(vals: list[float], runs: int | None = None) -> str:
    """Mean [min–max] over seeds; says how many seeds when a column has fewer
    than the row (the suite runs on the scale's suite seeds only)."""
    if not vals:
        return "—"
    mean = sum(vals) / len(vals)
    text = f"{100 * mean:.1f} [{100 * min(vals):.1f}–{100 * max(vals):.1f}]" if len(vals) > 1 else f"{100 * mean:.1f}"
    return text + (f" ({len(vals)} seed{'s' if len(vals) > 1 else ''})" if runs and len(vals) < runs else "")


def _members(row: Row) -> str:
    members = row.params.get("members")
    if not members:
        return ""
    parts = [f"{m['attack']} ({m['gradient']}) {100 * m['robust_acc']:.1f}" for m in members]
    firsts = [f"{m['attack']} {m['broke_first']}" for m in members if m.get("broke_first")]
    knobs = ", ".join(f"{k} {row.params[k]}" for k in ("n_iter", "restarts", "square_queries") if k in row.params)
    return f"; {knobs}; members: " + ", ".join(parts) + "; broken first by: " + ", ".join(firsts)
