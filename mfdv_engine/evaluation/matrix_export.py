"""The runs × attacks matrix written out: a tidy CSV for spreadsheets and scripts, Markdown
for reading, LaTeX for a paper.

The CSV holds numbers, one line per (run, column) cell plus each run's worst case, with
the protocol in columns of its own (never the display strings ``54.2% ±3.1`` or marks),
every text cell neutralised against formula injection (:mod:`mfdv_engine.project.csvsafe`).
The LaTeX is plain ASCII: the symbols we print are spelled as LaTeX commands and any
other non-ASCII character is transliterated or written as its code point, so pdflatex
compiles it with ``\\usepackage{booktabs}`` and nothing else.
"""
from __future__ import annotations

import io
import re
import unicodedata

from ..project.csvsafe import write_csv
from ..safetext import printable
from .matrix import OTHER_MARK, PARTIAL_MARK, WORST, Matrix

TIDY_COLUMNS = ["run_id", "run_name", "clean_acc", "sigma", "column", "attack", "gradient_mode", "norm", "eps",
                "steps", "loss", "robust_acc", "ci_low", "ci_high", "eot_samples", "mc_samples", "n", "seed",
                "other_protocol", "worst_over_fewer_columns", "row_key"]


def tidy_rows(mat: Matrix) -> list[dict]:
    """One dict per cell: the numbers and the protocol that the matrix shows as text and marks."""
    out = []
    for line in mat.runs:
        run = {"run_id": line.run_id, "run_name": line.name, "clean_acc": line.clean_acc, "sigma": line.sigma}
        cells = [(k, c) for k in range(len(mat.columns)) if (c := mat.cells.get((line.run_id, k)))]
        w = mat.worst.get(line.run_id)
        if w is not None:
            cells.append((None, w[0]))
        for k, c in cells:
            col = mat.columns[k if k is not None else w[1]]
            eot, mc, n, seed = (tuple(c.judging) + (None,) * 4)[:4]
            out.append({**run, "column": col.label if k is not None else WORST, "attack": col.attack,
                        "gradient_mode": col.mode, "norm": col.norm, "eps": col.eps, "steps": col.steps,
                        "loss": col.loss, "robust_acc": c.robust_acc, "ci_low": c.ci_low, "ci_high": c.ci_high,
                        "eot_samples": eot, "mc_samples": mc, "n": n, "seed": seed, "other_protocol": c.other,
                        "worst_over_fewer_columns": (w[2] < w[3]) if k is None else "", "row_key": c.key})
    return out


def to_csv(mat: Matrix) -> str:
    """The tidy CSV of :func:`tidy_rows` (numbers, one line per cell)."""
    buf = io.StringIO()
    write_csv(buf, TIDY_COLUMNS, tidy_rows(mat))
    return buf.getvalue()


_MD = re.compile(r"([\\`*_{}\[\]<>#|~&])")


def md_escape(text: str) -> str:
    """Markdown-inert text: every character that could start markup or end a cell is backslashed."""
    return _MD.sub(r"\\\1", printable(text))


def to_markdown(mat: Matrix) -> str:
    """A pipe table (numbers right-aligned) with the protocol as a footnote list."""
    head = mat.header()
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |",
             "| " + " | ".join("---" if i < 2 else "---:" for i in range(len(head))) + " |"]
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in mat.text_rows()]
    lines += ["", "*Protocol.*", ""] + [f"- {md_escape(n)}" for n in mat.notes]
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "ε": r"$\varepsilon$", "σ": r"$\sigma$",
        "±": r"$\pm$", "−": r"$-$", "∞": r"$\infty$", "·": r"\textperiodcentered{}", PARTIAL_MARK: r"\dag{}",
        OTHER_MARK: r"\ddag{}", "—": "---", "–": "--", "×": r"$\times$", "≤": r"$\leq$", "≥": r"$\geq$",
        "→": r"$\rightarrow$", "…": r"\ldots{}", "“": "``", "”": "''", "‘": "`", "’": "'", "<": r"\textless{}",
        ">": r"\textgreater{}", "|": r"\textbar{}", "[": "{[}", "]": "{]}",   # never an optional argument
        **{g: f"$\\{name}$" for g, name in zip("αβγδζηθκλμνξπρτφχψω", (
            "alpha beta gamma delta zeta eta theta kappa lambda mu nu xi pi rho tau phi chi psi omega").split())}}


def _tex_char(ch: str) -> str:
    if ch in _TEX:
        return _TEX[ch]
    if ch.isascii():
        return ch
    plain = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()   # é -> e
    return "".join(_TEX.get(c, c) for c in plain) if plain else f"[U+{ord(ch):04X}]"


def tex_escape(text: str) -> str:
    """Plain-ASCII LaTeX that typesets as written: specials escaped, our symbols spelled out,
    accents dropped and any other character written as its code point."""
    return "".join(_tex_char(ch) for ch in printable(text))


#: shrink to the line width only when wider (graphicx: ``\\width`` is the table's natural width)
FIT = r"  \resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"


def to_latex(mat: Matrix, caption: str = "Robust accuracy of each run under each attack.") -> str:
    """A booktabs table (needs ``\\usepackage{booktabs,graphicx}``) with the protocol under it; a
    table wider than the text is scaled down to the line width (a narrower one keeps its size)."""
    head = mat.header()
    spec = "ll" + "r" * (len(head) - 2)
    body = [" & ".join(tex_escape(c) for c in row) + r" \\" for row in mat.text_rows()]
    notes = "".join(f" \\\\\n  {tex_escape(n)}" for n in mat.notes)
    return "\n".join([
        r"\begin{table}[t]", r"  \centering", f"  \\caption{{{tex_escape(caption)}}}",
        FIT, f"  \\begin{{tabular}}{{{spec}}}",
        r"    \toprule", "    " + " & ".join(tex_escape(h) for h in head) + r" \\", r"    \midrule",
        *("    " + b for b in body), r"    \bottomrule", r"  \end{tabular}}",
        r"  \par\smallskip\footnotesize\raggedright", "  Protocol." + notes, r"\end{table}", ""])


#: format → (writer, the mark our own earlier file carries, an example file name)
FORMATS = {"csv": (to_csv, ",".join(TIDY_COLUMNS[:4]), "matrix.csv"),
           "md": (to_markdown, "*Protocol.*", "matrix.md"),
           "tex": (to_latex, "\\begin{table}", "matrix.tex")}
_SUFFIX = {".csv": "csv", ".md": "md", ".markdown": "md", ".tex": "tex"}


def write_matrix(mat: Matrix, path, *, format: str | None = None, overwrite: bool = False) -> str:
    """Write the matrix to ``path`` (``-``: standard output) as ``format`` (by default from the suffix)
    under the output rule of :mod:`mfdv_engine.project.outputs`; returns the format written."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..project.outputs import marked, write_output

    fmt = format or _SUFFIX.get(Path(str(path)).suffix.lower())
    if fmt not in FORMATS:
        raise ConfigError(f"say which format: csv, md or tex (a .csv, .md or .tex file name, or format=); "
                          f"got {format or str(path)!r}")
    writer, mark, example = FORMATS[fmt]
    text = writer(mat)
    write_output(path, lambda f: f.write(text), what=f"a matrix ({fmt})", overwrite=overwrite, ours=marked(mark),
                 example=example, need=len(text) + 4096)
    return fmt


class MatrixTable:
    """What ``mfdv.matrix`` gives back: the :class:`Matrix` (``.matrix``, its ``runs``, ``columns``,
    ``cells``, ``worst``) with its exports, shown as a table in Jupyter."""

    def __init__(self, mat: Matrix) -> None:
        self.matrix = mat

    def __getattr__(self, name: str):
        return getattr(self.matrix, name)

    def to_csv(self) -> str:
        return to_csv(self.matrix)

    def to_markdown(self) -> str:
        return to_markdown(self.matrix)

    def to_latex(self) -> str:
        return to_latex(self.matrix)

    def _repr_markdown_(self) -> str:
        return to_markdown(self.matrix)

    def __repr__(self) -> str:
        m = self.matrix
        return f"MatrixTable({len(m.runs)} runs × {len(m.columns)} columns; .to_csv(), .to_markdown(), .to_latex())"
