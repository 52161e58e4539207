"""The runs × attacks matrix and the hyper-parameter table, on planted rows (no training)."""
import csv
import io
import re

import pytest

from planting import COMPARE_NAMES, compare_rows, plant_compare_project, planted_row

from mfdv_engine import api
from mfdv_engine.evaluation.matrix import WORST, build_hparams, build_matrix, ci_text
from mfdv_engine.evaluation.matrix_export import md_escape, tex_escape, to_csv, to_latex, to_markdown
from mfdv_engine.safetext import printable
from mfdv_engine.project.store import RunInfo


def _info(rid, name, final=None, config=None):
    return RunInfo(rid, name, "finished", "", "", "", config or {}, 3, final or {})


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return plant_compare_project(tmp_path_factory.mktemp("compare") / "c.mfdv.h5")


@pytest.fixture(scope="module")
def mat(project):
    proj = api.open_project(project)
    infos = api.runs(proj)
    rows = [dict(r, run_id=i.run_id) for i in infos for r in api.show(proj, i.run_id).rows]
    return build_matrix(infos, rows)


def _column(mat, label):
    return mat.header().index(label)


def test_lines_are_runs_with_clean_accuracy_and_sigma(mat):
    lines = mat.text_rows()
    assert [ln[:4] for ln in lines] == [[COMPARE_NAMES[0], "r001", "98.1%", "0.123"],
                                        [printable(COMPARE_NAMES[1]), "r002", "99.0%", "—"]]
    assert "\x1b" not in lines[1][0]


def test_columns_are_attack_by_gradient_mode_with_eps_only_where_mixed(mat):
    assert mat.header()[4:] == [WORST, "fgsm, ε=0.1 · single-sample", "fgsm, ε=0.3 · single-sample", "fgsm, ε=0.3 · EOT",
                                "pgd10 · single-sample", "pgd10 · EOT", "adaptive · worst of members"]


def test_cells_hold_the_rows_value_interval_and_key(mat):
    j = _column(mat, "pgd10 · EOT")
    cell = mat.cell_at(0, j)
    want = planted_row("r001", "pgd10", 0.31, steps=10, eot=20)
    assert cell.key == want["key"] and cell.robust_acc == pytest.approx(0.31)
    assert (cell.ci_low, cell.ci_high) == (pytest.approx(want["ci_low"]), pytest.approx(want["ci_high"]))
    assert mat.text_rows()[0][j] == ci_text(0.31, want["ci_low"], want["ci_high"]) == "31.0% ±6.4"
    assert "EOT-20" in cell.protocol and "n=200" in cell.protocol and "95% CI" in cell.protocol


def test_ci_text_is_plus_minus_when_symmetric_and_split_when_lopsided():
    assert ci_text(0.5, 0.469, 0.531) == "50.0% ±3.1"
    assert ci_text(0.0, 0.0, 0.019) == "0.0% +1.9/−0.0"
    assert ci_text(0.31, 0.2821, 0.3393) == "31.0% ±2.9"   # Wilson's slight tilt still reads as ±


def test_deterministic_run_fills_both_gradient_modes_with_its_one_row(mat):
    single, eot = _column(mat, "pgd10 · single-sample"), _column(mat, "pgd10 · EOT")
    a, b = mat.cell_at(1, single), mat.cell_at(1, eot)
    assert a.key == b.key and a.shared and b.shared and a.robust_acc == 0.0
    assert mat.cell_at(0, single).shared is False
    assert mat.text_rows()[1][_column(mat, "fgsm, ε=0.1 · single-sample")] == "—"   # never measured there


def test_worst_case_is_the_lowest_cell_marked_when_columns_are_missing(mat):
    w = _column(mat, WORST)
    assert mat.cell_at(0, w).key == mat.cell_at(0, _column(mat, "adaptive · worst of members")).key
    assert mat.text_rows()[0][w] == mat.text_rows()[0][_column(mat, "adaptive · worst of members")]   # all measured
    assert mat.text_rows()[1][w] == "0.0% +1.9/−0.0†"   # r002 lacks two columns: an upper bound


def test_sweep_rows_and_suite_members_are_no_cells(mat):
    keys = {c.key for c in mat.cells.values()}
    planted = {r["key"] for r in compare_rows()}
    assert not any("sweep=" in k or "in=adaptive" in k for k in keys)
    assert {k for k in planted if "sweep=" not in k and "in=" not in k} == keys
    # a sweep-only attack gives no column either
    only = build_matrix([_info("r001", "x")], [planted_row("r001", "pgd10", 0.1, steps=10, sweep="eps")])
    assert only.columns == [] and only.text_rows() == [["x", "r001", "—", "—", "—"]]


def test_two_eot_sample_counts_of_one_run_keep_the_stronger():
    rows = [planted_row("r001", "pgd10", 0.4, steps=10, eot=5), planted_row("r001", "pgd10", 0.3, steps=10, eot=50)]
    mat = build_matrix([_info("r001", "x")], rows)
    assert len(mat.columns) == 1 and mat.cell_at(0, 5).key == rows[1]["key"] == mat.cell_at(0, 4).key
    assert "EOT-5/EOT-50" in mat.notes[-1]


def test_notes_state_the_protocol_of_every_column(mat):
    assert len(mat.notes) == 4 + len(mat.columns)
    note = next(n for n in mat.notes if n.startswith("pgd10 · EOT:"))
    for part in ("ε=0.3", "10 steps", "EOT-20", "S=20", "MC-15", "n=200", "seed=0"):
        assert part in note, (part, note)


def test_csv_is_tidy_numbers_with_the_protocol_in_columns(mat):
    """Issue 21: one line per cell with value, CI low, CI high and the protocol fields, not display strings."""
    lines = list(csv.DictReader(io.StringIO(to_csv(mat))))
    shown = {(r.run_id, k): c for (r_id, k), c in mat.cells.items() for r in mat.runs if r.run_id == r_id}
    cells = [ln for ln in lines if ln["column"] != WORST]
    assert len(cells) == len(shown) and len(lines) == len(shown) + len(mat.worst)
    for ln in cells:
        k = next(i for i, c in enumerate(mat.columns) if c.label == ln["column"])
        c = mat.cells[(ln["run_id"], k)]
        assert float(ln["robust_acc"]) == c.robust_acc and float(ln["ci_low"]) == c.ci_low
        assert float(ln["ci_high"]) == c.ci_high and int(ln["n"]) == c.judging[2] and ln["row_key"] == c.key
        assert ln["other_protocol"] in ("True", "False") and "%" not in ln["robust_acc"]
    worst = [ln for ln in lines if ln["column"] == WORST]
    assert {ln["run_id"] for ln in worst} == set(mat.worst)


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised():
    """OWASP: text starting with = + - @ tab or CR gets a leading quote; negative numbers stay numbers."""
    from planting import planted_row

    bad = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    infos = [_info(f"r{i:03d}", name) for i, name in enumerate(bad, 1)]
    rows = [planted_row(f"r{i:03d}", "fgsm", 0.5) for i in range(1, len(bad) + 1)]
    lines = list(csv.DictReader(io.StringIO(to_csv(build_matrix(infos, rows)))))
    names = [ln["run_name"] for ln in lines if ln["column"] != WORST]
    assert names[:4] == ["'" + b for b in bad[:4]]
    assert all(not n.startswith(("=", "+", "-", "@", "\t", "\r")) for n in names)  # tab/CR: escaped as text
    from mfdv_engine.project.csvsafe import neutral

    assert neutral(-0.5) == -0.5 and neutral("a=b") == "a=b" and neutral("\tx") == "'\tx"


def test_markdown_escapes_markup_and_cell_separators(mat):
    md = to_markdown(mat)
    lines = md.splitlines()
    assert lines[1].startswith("| --- | --- | ---:")
    line = lines[3]
    assert r"plain\_net \#2 \& \<b\>\|50%\|\</b\>\\x1b\[2J" in line
    assert line.count(" | ") == len(mat.header()) - 1   # the name's own pipes split no cell
    assert "*Protocol.*" in md and all(f"- {md_escape(n)}" in md for n in mat.notes)
    assert md_escape("a_b*c") == r"a\_b\*c"


def test_latex_is_a_booktabs_table_with_escaped_text(mat):
    tex = to_latex(mat)
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\begin{tabular}{ll" + "r" * (len(mat.header()) - 2) + "}" in tex
    name = (r"plain\_net \#2 \& \textless{}b\textgreater{}\textbar{}50\%\textbar{}\textless{}/b\textgreater{}"
            r"\textbackslash{}x1b{[}2J")
    assert name + " & r002 &" in tex
    assert r"mfdv $\lambda$=1" in tex and r"31.0\% $\pm$6.4" in tex
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert body.count(r"\\") == 2 and len(re.findall(r"(?<!\\)&", body)) == 2 * (len(mat.header()) - 1)
    assert "Protocol." in tex and tex_escape(mat.notes[-1]) in tex
    assert r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%" in tex  # wide: fits the page
    assert tex.index(r"\resizebox") < tex.index(r"\begin{tabular}") < tex.index(r"\end{tabular}}")
    assert tex_escape("{x}^~$") == r"\{x\}\textasciicircum{}\textasciitilde{}\$"


def test_latex_is_plain_ascii_and_compiles_where_pdflatex_is_installed(mat, tmp_path):
    """Issue 21: a raw ‡ made pdflatex fail; every non-ASCII character is now spelled out."""
    import shutil
    import subprocess

    tex = to_latex(mat) + tex_escape("‡ † é ✓ 中 ≤ × … ε σ λ")
    assert tex.isascii(), [ch for ch in tex if not ch.isascii()]
    assert tex_escape("‡") == r"\ddag{}" and tex_escape("é") == "e" and tex_escape("✓") == "[U+2713]"
    body = re.sub(r"\\[{}]", "", tex)
    assert body.count("{") == body.count("}")
    if shutil.which("pdflatex"):
        doc = tmp_path / "t.tex"
        doc.write_text("\\documentclass{article}\\usepackage{booktabs,graphicx}\\begin{document}\n"
                       + to_latex(mat) + "\n\\end{document}\n", encoding="ascii")
        out = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-2000:]


def test_hparams_show_only_keys_that_differ_and_final_metrics(project):
    infos = api.runs(api.open_project(project))
    header, lines = build_hparams(infos)
    assert header[:5] == ["run", "id", "status", "defense.name", "train.lr"]
    assert header[5:] == ["final clean", "final σ", "final train acc.", "final loss", "epochs"]
    assert [ln[3:7] for ln in lines] == [["mfdv", "0.01", "98.1%", "0.1234"], ["plain", "0.05", "99.0%", "—"]]
    one_header, _ = build_hparams(infos[:1])
    assert "train.batch_size" in one_header and "name" not in one_header   # one run: every key


def test_worst_case_stays_at_the_runs_main_eps():
    """A checklist's ε = 1 sanity attack (robust 0 %) is not the run's worst case at its budget."""
    rows = [planted_row("r001", "pgd10", 0.40, steps=10), planted_row("r001", "pgd10", 0.31, steps=10, eot=5),
            planted_row("r001", "fgsm", 0.55), planted_row("r001", "pgd", 0.0, steps=100, eps=1.0, eot=5)]
    mat = build_matrix([_info("r001", "a")], rows)
    cell, k, measured, columns = mat.worst["r001"]
    assert cell.robust_acc == pytest.approx(0.31) and mat.columns[k].eps == pytest.approx(0.3)
    assert (measured, columns) == (3, 3)
    assert not mat.text_rows()[0][4].endswith("†")
    assert any("main ε" in n for n in mat.notes)


def test_a_cell_with_another_protocol_than_its_column_is_marked():
    """A checklist's EOT-10, n=200 row beside EOT-20, n=64 ones is marked ‡, with its reason."""
    rows = [planted_row("r001", "fgsm", 0.30, eot=20, n=64), planted_row("r002", "fgsm", 0.40, eot=20, n=64),
            planted_row("r003", "fgsm", 0.20, eot=10, n=200)]
    mat = build_matrix([_info(r, r) for r in ("r001", "r002", "r003")], rows)
    col = mat.header().index("fgsm · EOT")
    texts = [line[col] for line in mat.text_rows()]
    assert [t.endswith("‡") for t in texts] == [False, False, True]
    assert "another protocol" in mat.cell_at(2, col).protocol
    assert any(n.startswith("‡") for n in mat.notes)


def test_a_run_still_training_with_no_rows_is_left_out_with_a_note():
    """A line of empty cells read as a run that resisted nothing; a running run with rows stays."""
    training = RunInfo("r002", "busy", "running", "", "", "", {}, 1, {})
    failed = RunInfo("r003", "broke", "failed", "", "", "", {}, 1, {})
    rows = [planted_row("r001", "pgd10", 0.1, steps=10), planted_row("r004", "pgd10", 0.2, steps=10)]
    partial = RunInfo("r004", "half", "running", "", "", "", {}, 1, {})
    mat = build_matrix([_info("r001", "x"), training, failed, partial], rows)
    assert [r.run_id for r in mat.runs] == ["r001", "r004"]
    assert any("left out: r002 (busy), running with no robustness rows yet" in n for n in mat.notes)
    assert any("left out: r003 (broke), failed" in n for n in mat.notes)
