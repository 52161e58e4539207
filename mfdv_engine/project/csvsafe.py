"""CSV a spreadsheet can trust: numbers stay numbers, and no text cell is read as a formula.

OWASP's advice against CSV injection: a cell that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is prefixed with a single quote, so
Excel, LibreOffice and Google Sheets show it as text instead of evaluating it
(a run named ``=HYPERLINK(...)`` stays a name). Only text is touched: a
negative number is written as a number.
"""
from __future__ import annotations

import csv
from typing import IO, Any, Iterable

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutral(value: Any) -> Any:
    """``value`` as a CSV cell: text that a spreadsheet would run gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(stream: IO, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """A header and one line per row (missing fields empty), every text cell neutralised."""
    w = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: neutral(r.get(k)) for k in columns})
