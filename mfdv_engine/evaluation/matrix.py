"""Runs × attacks: the comparison matrix of a robustness paper, and the hyper-parameter table.

One line per run (name, id, clean accuracy, the learned noise scale σ), one column
per attack × gradient mode (× ε where a project measured an attack at several ε),
each cell a robust accuracy with its 95% interval and the key of the row it comes
from. House rule: both gradient modes are reported, and a "worst case" column
(the lowest cell of the run) closes every line. Sweep rows (``params.sweep``) are
curves, not table cells, and a suite's members (``params.suite``) are summed up
by the suite's own row, so neither becomes a column. A deterministic model has
one gradient mode: its single-pass row fills the attack's single-sample and EOT
columns alike. Every text comes through :func:`~mfdv_engine.safetext.printable`,
so the exporters (:mod:`.matrix_export`: CSV, Markdown, LaTeX) and the studio
show the same strings.
"""
from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..safetext import printable
from ..project.records import RunInfo
from ..defaults import eps_text
from .row import DETERMINISTIC, LOSS_NAMES, Row

SINGLE, EOT, ONE_PASS, SUITE_MODE = "single-sample", "EOT", "single pass", "worst of members"
#: final metrics of a run the hyper-parameter table shows (key, header)
FINAL_METRICS = (("clean_acc", "final clean"), ("sigma_mean_end", "final σ"), ("train_acc", "final train acc."),
                 ("loss", "final loss"), ("epoch", "epochs"))
WORST = "worst case"
WORST_COL = 4   # after run, id, clean and σ: the summary stays in sight however many attacks follow
PARTIAL_MARK = "†"   # a worst case over fewer columns than the matrix has at its ε: an upper bound at best
OTHER_MARK = "‡"     # a cell judged with another protocol (EOT S, MC, n, seed) than most of its column


@dataclass(frozen=True)
class Column:
    attack: str
    loss: str
    steps: int | None
    norm: str
    eps: float
    mode: str
    label: str = ""


@dataclass(frozen=True)
class Cell:
    run_id: str
    key: str
    robust_acc: float
    ci_low: float
    ci_high: float
    text: str
    protocol: str
    shared: bool = False   # a deterministic model's one row, shown in both gradient columns
    judging: tuple = ()    # (EOT S, MC samples, n, seed): what a column's cells must share to compare
    other: bool = False    # measured with another protocol than most of its column (shown with ‡)


@dataclass(frozen=True)
class RunLine:
    run_id: str
    name: str
    clean_acc: float | None
    sigma: float | None
    clean_protocol: str


@dataclass
class Matrix:
    runs: list[RunLine]
    columns: list[Column]
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)     # (run id, column index)
    #: run id → (cell, its column, columns measured at the run's main ε, columns the table has at that ε)
    worst: dict[str, tuple[Cell, int, int, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def header(self) -> list[str]:
        return ["run", "id", "clean", "σ", WORST] + [c.label for c in self.columns]

    def cell_at(self, i: int, j: int) -> Cell | None:
        """The cell under line ``i``, column ``j`` of :meth:`header` (the worst-case cell under :data:`WORST_COL`)."""
        rid, k = self.runs[i].run_id, j - WORST_COL - 1
        if 0 <= k < len(self.columns):
            return self.cells.get((rid, k))
        return self.worst[rid][0] if j == WORST_COL and rid in self.worst else None

    def text_rows(self) -> list[list[str]]:
        out = []
        for r in self.runs:
            line = [r.name, r.run_id, "—" if r.clean_acc is None else f"{r.clean_acc:.1%}",
                    "—" if r.sigma is None else f"{r.sigma:.3g}"]
            w = self.worst.get(r.run_id)
            line.append("—" if w is None else w[0].text + (PARTIAL_MARK if w[2] < w[3] else ""))
            line += [c.text if (c := self.cells.get((r.run_id, k))) else "—" for k in range(len(self.columns))]
            out.append(line)
        return out


def ci_text(acc: float, lo: float, hi: float) -> str:
    """"54.2% ±3.1": the 95% interval as ± its half-width in points; "+u/−d" where the (Wilson)
    interval is lopsided (one side more than a quarter off the mean side), as it is near 0% and 100%."""
    up, down = 100 * (hi - acc), 100 * (acc - lo)
    if abs(up - down) <= 0.25 * (up + down) / 2:
        return f"{acc:.1%} ±{100 * (hi - lo) / 2:.1f}"
    return f"{acc:.1%} +{up:.1f}/−{down:.1f}"


def gradient_mode(row: dict[str, Any]) -> str:
    """The column a row's gradient label belongs to: single-sample, EOT (any S), a suite's worst case,
    a deterministic model's single pass, or the attack's own words (transfer) with S left out."""
    g = str(row.get("gradient", ""))
    if "members" in row.get("params", {}):
        return SUITE_MODE
    if g == DETERMINISTIC:
        return ONE_PASS
    if g.startswith("EOT"):
        return EOT
    return re.sub(r"EOT-\d+", "EOT", g)


def _base(row: dict[str, Any]) -> tuple:
    return (str(row.get("attack", "")), str(row.get("params", {}).get("loss", "ce")), row.get("steps"),
            str(row.get("norm", "Linf")), float(row.get("eps") or 0.0))


def build_matrix(infos: Iterable[RunInfo], rows: Iterable[dict[str, Any]]) -> Matrix:
    """The matrix of ``infos`` (one line each, in order) from their stored ``rows`` (dicts with ``run_id``).
    A run that is not finished (still training, failed) and has no rows yet is left out, with a note:
    a line of empty cells read as a run that resisted nothing."""
    infos = list(infos)
    known = {i.run_id for i in infos}
    rows = [r for r in rows if r.get("run_id") in known and not r.get("params", {}).get("sweep")
            and not r.get("params", {}).get("suite") and isinstance(r.get("robust_acc"), (int, float))]
    measured = {r["run_id"] for r in rows}
    left_out = [i for i in infos if i.status != "finished" and i.run_id not in measured]
    runs = [RunLine(i.run_id, printable(i.name), _num(i.final.get("clean_acc")), _num(i.final.get("sigma_mean_end")),
                    printable(i.final.get("clean_acc_short", ""))) for i in infos if i not in left_out]
    modes: dict[tuple, list[str]] = {}
    for r in rows:
        m = gradient_mode(r)
        if m != ONE_PASS and m not in modes.setdefault(_base(r), []):
            modes[_base(r)].append(m)
    placed: list[tuple[dict, tuple, str, bool]] = []
    for r in rows:
        base, m = _base(r), gradient_mode(r)
        targets = modes.get(base, []) if m == ONE_PASS else [m]   # one pass: every mode coincides
        placed += [(r, base, t, m == ONE_PASS) for t in targets or [ONE_PASS]]
    columns = _columns(placed, rows)
    index = {(c.attack, c.loss, c.steps, c.norm, c.eps, c.mode): k for k, c in enumerate(columns)}
    mat = Matrix(runs, columns)
    for r, base, mode, shared in placed:
        at = (r["run_id"], index[base + (mode,)])
        cell = _cell(r, shared)
        if at not in mat.cells or cell.robust_acc < mat.cells[at].robust_acc:  # two EOT S of one run: the stronger
            mat.cells[at] = cell
    _mark_other_protocols(mat)
    for line in runs:
        _worst_of(mat, line.run_id)
    mat.notes = _notes(mat, placed, index) + [
        printable(f"left out: {i.run_id} ({i.name}), {i.status} with no robustness rows yet") for i in left_out]
    return mat


def _mark_other_protocols(mat: Matrix) -> None:
    """Mark (‡) each cell whose EOT S, MC samples, n or seed differ from its column's most common:
    a checklist's EOT-10, n=200 row beside EOT-20, n=64 ones must not pass for the same measurement.
    A deterministic model's one-pass cells are left out (they have no EOT or MC by design)."""
    for k in range(len(mat.columns)):
        at = [(rid, c) for (rid, kk), c in mat.cells.items() if kk == k and not c.shared]
        counts = Counter(c.judging for _, c in at).most_common()
        tie = len(counts) > 1 and counts[0][1] == counts[1][1]   # no majority: every cell is marked
        for rid, c in at:
            if len(counts) > 1 and (tie or c.judging != counts[0][0]):
                mat.cells[(rid, k)] = dataclasses.replace(
                    c, text=c.text + OTHER_MARK, other=True,
                    protocol=c.protocol + f"\n{OTHER_MARK} measured with another protocol than (most of) this column")


def _worst_of(mat: Matrix, run_id: str) -> None:
    """The run's lowest cell at its main budget: the (norm, ε) most of its cells were measured at
    (ties: the smaller ε). A checklist's ε = 1 sanity attack or a larger-ε probe is no worst case."""
    mine = [(c, k) for (rid, k), c in mat.cells.items() if rid == run_id]
    if not mine:
        return
    budgets = Counter((mat.columns[k].norm, mat.columns[k].eps) for _, k in mine)
    main = min(budgets, key=lambda b: (-budgets[b], b[1]))
    at_main = [(c, k) for c, k in mine if (mat.columns[k].norm, mat.columns[k].eps) == main]
    cell, k = min(at_main, key=lambda ck: (ck[0].robust_acc, ck[1]))
    columns = sum(1 for c in mat.columns if (c.norm, c.eps) == main)
    mat.worst[run_id] = (cell, k, len({k for _, k in at_main}), columns)



def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _columns(placed: list[tuple[dict, tuple, str, bool]], rows: list[dict]) -> list[Column]:
    """Columns in the order attacks were first measured; ε, then gradient mode, within an attack.
    A label names ε (steps, loss) only where the attack was measured at more than one."""
    first: dict[tuple, int] = {}
    for i, r in enumerate(rows):
        first.setdefault(_base(r)[:3], i)
    order = {SINGLE: 0, EOT: 1, ONE_PASS: 2}
    keys = sorted({base + (mode,) for _, base, mode, _ in placed},
                  key=lambda k: (first[k[:3]], k[4], order.get(k[5], 3), k[5]))
    eps_of: dict[str, set] = {}
    steps_of: dict[str, set] = {}
    for k in keys:
        eps_of.setdefault(k[0], set()).add((k[3], k[4]))
        steps_of.setdefault(k[0], set()).add(k[2])
    cols = []
    for attack, loss, steps, norm, eps, mode in keys:
        label = attack + (f", {LOSS_NAMES.get(loss, loss)}" if loss != "ce" else "")
        label += f", {steps} steps" if len(steps_of[attack]) > 1 and steps else ""
        label += f", ε={eps_text(eps, norm)}" if len(eps_of[attack]) > 1 else ""
        cols.append(Column(attack, loss, steps, norm, eps, mode, printable(f"{label} · {mode}")))
    return cols


def _cell(r: dict[str, Any], shared: bool) -> Cell:
    acc, lo, hi = float(r["robust_acc"]), float(r.get("ci_low", r["robust_acc"])), float(r.get("ci_high", r["robust_acc"]))
    proto = str(r.get("protocol") or _protocol_line(r))
    ci = f"robust {acc:.2%}, 95% CI [{lo:.2%}, {hi:.2%}] (Wilson)"
    both = "\ndeterministic model: one pass, so single-sample and EOT gradients coincide" if shared else ""
    return Cell(str(r["run_id"]), str(r.get("key", "")), acc, lo, hi, ci_text(acc, lo, hi),
                printable(f"{proto}\n{ci}{both}", multiline=True), shared,
                (r.get("eot_samples"), r.get("mc_samples"), r.get("n"), r.get("seed")))


def _protocol_line(r: dict[str, Any]) -> str:
    """The engine's protocol sentence of a stored row (its key where the row is not a whole Row)."""
    try:
        return Row(**{k: v for k, v in r.items() if k in Row.__dataclass_fields__}).protocol_line()
    except (TypeError, ValueError, KeyError):
        return str(r.get("key", ""))


def _joined(values: Iterable[Any]) -> str:
    """Distinct values in order, joined by "/" (one value when every run agrees)."""
    return "/".join(dict.fromkeys(str(v) for v in values))


def _notes(mat: Matrix, placed: list[tuple[dict, tuple, str, bool]], index: dict[tuple, int]) -> list[str]:
    """The protocol, said once: what a cell is, clean and σ, then each column's attack and judging."""
    by_col: dict[int, list[dict]] = {}
    for r, base, mode, _ in placed:
        by_col.setdefault(index[base + (mode,)], []).append(r)
    clean = _joined(r.clean_protocol for r in mat.runs if r.clean_protocol) or "as stored"
    notes = ["cells: robust accuracy ± half-width of its 95% Wilson interval (+up/−down where it is lopsided)",
             f"clean: accuracy on the test set ({clean}); σ: mean learned noise scale at the end of training",
             f"{WORST}: the lowest cell of the run at its main ε (the ε most of its cells use); "
             f"{PARTIAL_MARK}: over fewer columns than the table has at that ε",
             f"{OTHER_MARK}: a cell measured with another EOT S, MC, n or seed than most of its column"]
    for k, col in enumerate(mat.columns):
        rs = by_col.get(k, [])
        steps = f", {_joined(r.get('steps') for r in rs)} steps" if col.steps else ""
        notes.append(printable(
            f"{col.label}: {col.attack} ({col.norm}, ε={eps_text(col.eps, col.norm)}{steps}"
            f"{', ' + LOSS_NAMES.get(col.loss, col.loss) + ' loss' if col.loss != 'ce' else ''}), "
            f"gradients {_joined(r.get('gradient') for r in rs)}, EOT S={_joined(r.get('eot_samples') for r in rs)}, "
            f"MC-{_joined(r.get('mc_samples') for r in rs)}, re-judged on {_joined(r.get('reeval') for r in rs)} "
            f"draws, n={_joined(r.get('n') for r in rs)}, seed={_joined(r.get('seed') for r in rs)}"))
    return notes


# ------------------------------------------------------------------ hyper-parameters

def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _value_text(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return printable(v if isinstance(v, str) else json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v)


def build_hparams(infos: Iterable[RunInfo]) -> tuple[list[str], list[list[str]]]:
    """(header, lines): one line per run with the config keys that differ between the runs (every key
    when there is one run; ``name`` is the line's own first cell), then its final metrics."""
    infos = list(infos)
    flat = [flatten(i.config) for i in infos]
    keys = sorted({k for f in flat for k in f} - {"name"})
    if len(infos) > 1:
        keys = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in flat}) > 1]
    header = ["run", "id", "status"] + [printable(k) for k in keys] + [h for _, h in FINAL_METRICS]
    lines = []
    for info, f in zip(infos, flat):
        fin = [info.final.get(m) for m, _ in FINAL_METRICS]
        fin_text = [f"{v:.1%}" if m.endswith("acc") and _num(v) is not None else _value_text(v)
                    for (m, _), v in zip(FINAL_METRICS, fin)]
        lines.append([printable(info.name), info.run_id, printable(info.status)]
                     + [_value_text(f.get(k)) for k in keys] + fin_text)
    return header, lines
