"""What an evaluation gives back: its rows, and per row the per-example verdicts and adversarials.

:class:`Result` is the one result type of ``mfdv.evaluate`` and ``mfdv.attack``
(``mfdv.sweep`` too): a sequence of :class:`~mfdv_engine.evaluation.Row` (each
with its protocol), plus, where they were kept, :class:`Examples` per row:
which examples were clean-correct, which survived, the fraction of re-judging
draws that held, and every adversarial input. The adaptive suite's own row
carries the per-example worst case and the member that broke each example first.
It prints as a table, renders as HTML in Jupyter and becomes a pandas
DataFrame with :meth:`Result.to_pandas` (pandas is an optional extra).
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from .evaluation.row import Row
from .evaluation.rows import Outcome

#: the columns of :meth:`Result.to_pandas` and of the text/HTML tables (the protocol last)
TABLE = ("attack", "gradient", "eps", "steps", "n", "clean_acc", "robust_acc", "ci_low", "ci_high",
         "eot_samples", "mc_samples", "reeval", "seed")


@dataclass
class Examples:
    """One row's outcome per example (the first n of the data, in order)."""

    robust: torch.Tensor      # (n,) bool: held under every re-judging draw
    clean_ok: torch.Tensor    # (n,) bool: the clean prediction was right (only those were attacked)
    frac: torch.Tensor        # (n,) fraction of re-judging draws that were right
    x_adv: torch.Tensor | None = None  # (n, ...) adversarial inputs in [0, 1] (clean where not attacked)

    @property
    def broken(self) -> torch.Tensor:
        """(n,) bool: clean-correct and then misclassified: the attack's successes."""
        return self.clean_ok & ~self.robust

    def __repr__(self) -> str:
        """Counts and shapes: a notebook cell must not print n images' worth of tensor values."""
        adv = "not kept" if self.x_adv is None else f"shape {tuple(self.x_adv.shape)}"
        return (f"Examples(n={self.robust.numel()}, clean-correct {int(self.clean_ok.sum())}, "
                f"robust {int(self.robust.sum())}, broken {int(self.broken.sum())}, adversarials {adv})")

    @classmethod
    def of(cls, out: Outcome) -> "Examples":
        return cls(out.robust, out.clean_ok, out.frac, out.x_adv)


@dataclass
class Result:
    """Rows in the order they were measured, with :class:`Examples` by row key where kept."""

    run_id: str = ""   # (first, as in the Rows(run_id, rows, cancelled) this type replaces)
    rows: list[Row] = field(default_factory=list)
    cancelled: bool = False
    examples: dict[str, Examples] = field(default_factory=dict)

    # -- a sequence of rows -------------------------------------------------
    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> Row:
        return self.rows[i]

    def add_row(self, row: Row) -> None:
        """A measured (or stored) row, once."""
        if not any(r.key == row.key for r in self.rows):
            self.rows.append(row)

    def add(self, out: Outcome) -> None:
        """An outcome: its row (once) and its per-example verdicts and adversarials."""
        self.add_row(out.row)
        self.examples[out.row.key] = Examples.of(out)

    # -- what a researcher asks of it ----------------------------------------
    @property
    def worst(self) -> Row | None:
        """The adaptive suite's row when there is one, else the lowest robust accuracy."""
        suite = [r for r in self.rows if "members" in r.params]
        return suite[-1] if suite else min(self.rows, key=lambda r: r.robust_acc, default=None)

    def verdicts(self, row: Row | str | None = None) -> Examples:
        """The per-example outcome of ``row``: a Row, its key, an attack name (its worst kept row,
        e.g. the EOT one when both gradient modes ran), or None for :attr:`worst`."""
        key = self._key(row)
        if key not in self.examples:
            kept = ", ".join(self.examples) or "none (evaluate keeps them; attack(..., keep_examples=True))"
            raise KeyError(f"no examples kept for {key!r}; kept: {kept}")
        return self.examples[key]

    def _key(self, row: Row | str | None) -> str:
        if row is None:
            return self.worst.key if self.worst else ""
        if isinstance(row, Row):
            return row.key
        named = [r for r in self.rows if r.attack == row and r.key in self.examples]
        return min(named, key=lambda r: r.robust_acc).key if row not in self.examples and named else row

    def adversarial(self, row: Row | str | None = None) -> torch.Tensor:
        """Every adversarial input of ``row`` (the worst case's by default), shape (n, ...)."""
        ex = self.verdicts(row)
        if ex.x_adv is None:
            raise KeyError("this row's adversarials were not kept (a member read back from the project)")
        return ex.x_adv

    def table(self) -> list[dict[str, Any]]:
        return [dict({k: r[k] for k in TABLE}, protocol=r.protocol_line(), key=r.key) for r in self.rows]

    def to_pandas(self):
        """The rows as a pandas DataFrame (``pip install pandas``), one line per row, protocol included."""
        try:
            import pandas as pd
        except ImportError:
            from .errors import ConfigError

            raise ConfigError("to_pandas needs pandas: `pip install pandas` (or `pip install mfdv-studio[pandas]`)") from None
        return pd.DataFrame(self.table())

    # -- display ---------------------------------------------------------------
    def __repr__(self) -> str:
        head = f"Result({len(self.rows)} row{'s' if len(self.rows) != 1 else ''}" + (
            f", run {self.run_id}" if self.run_id else "") + (", cancelled" if self.cancelled else "") + ")"
        worst = self.worst
        lines = [f"  {r.robust_acc:7.2%} [{r.ci_low:.1%}, {r.ci_high:.1%}]  clean {r.clean_acc:.1%}  "
                 f"{r.protocol_line()}" + ("   <- worst: verdicts() and adversarial() default to it"
                                          if r is worst and len(self.rows) > 1 else "") for r in self.rows]
        return "\n".join([head, *lines])

    def _repr_html_(self) -> str:
        cells = lambda r: [r.attack, r.gradient, f"{r.eps:.4g}", r.n, f"{r.clean_acc:.1%}",  # noqa: E731
                           f"<b>{r.robust_acc:.1%}</b>", f"[{r.ci_low:.1%}, {r.ci_high:.1%}]", r.protocol_line()]
        head = ["attack", "gradient", "ε", "n", "clean", "robust", "95% CI", "protocol"]
        esc = lambda v: v if str(v).startswith("<b>") else html.escape(str(v))  # noqa: E731
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in cells(r)) + "</tr>" for r in self.rows)
        return (f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>{body}</tbody>"
                f"</table><p>{len(self.examples)} row(s) with per-example verdicts kept</p>")
