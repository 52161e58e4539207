"""Which runs the Project panel lists, and under which group: a W&B-style filter over a run's name,
tags, notes and hyper-parameters, and a "group by" key (tag set, defense, model, data set).

Plain Python (no Qt): the tree model (:mod:`.explorer_model`) asks :func:`matches` and :func:`group_of`.

Filter syntax — terms separated by spaces, every term must hold:

* ``word``            the word appears in the run's name, id, status, tags, notes, data set, model or defense
* ``tag:x`` or ``#x``  the run has tag ``x``
* ``key=value``       a config value: ``defense=mfdv``, ``lambda1=0.1``, ``dataset=mnist``, ``train.lr=0.05``
                      (a key is a dotted path, or its last part); numbers compare as numbers
* ``key!=value``, ``key<value``, ``key>value``   the same, negated or compared
"""
from __future__ import annotations

import math
import re
from typing import Any

from mfdv_engine.project.store import RunInfo

#: group-by choices: key → (combo text, what a run's group is called)
GROUPS = {"none": "group: none", "tag": "group by tag", "defense": "group by defense", "model": "group by model",
          "dataset": "group by data set"}
#: short names for the config keys a user types first
ALIASES = {"dataset": "data.name", "data": "data.name", "model": "model.name", "defense": "defense.name",
           "placement": "model.stochastic", "optimizer": "train.optimizer"}
TERM = re.compile(r"^(?P<key>[^=!<>]+?)\s*(?P<op>!=|=|<|>)\s*(?P<value>.*)$")
NO_TAGS = "(no tags)"


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """``{"defense": {"params": {"lambda1": 0.1}}}`` → ``{"defense.params.lambda1": 0.1}``."""
    if not isinstance(d, dict):
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _key_fits(key: str, full: str) -> bool:
    """Whether a typed key names a config key: the whole dotted path, its tail, or the path without
    ``params`` (``defense.lambda1`` for ``defense.params.lambda1``)."""
    key = ALIASES.get(key, key)
    return full == key or full.endswith("." + key) or full.replace(".params.", ".") == key


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _equal(have: Any, want: str) -> bool:
    w = want.strip().lower()
    if have is None:
        return w in ("null", "none", "")
    if isinstance(have, bool):
        return w in (("true", "yes", "1") if have else ("false", "no", "0"))
    a, b = _number(have), _number(w)
    if a is not None and b is not None:
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return str(have).lower() == w


def _compare(have: Any, op: str, want: str) -> bool:
    if op == "=":
        return _equal(have, want)
    if op == "!=":
        return not _equal(have, want)
    a, b = _number(have), _number(want)
    return a is not None and b is not None and (a < b if op == "<" else a > b)


def _words(info: RunInfo) -> str:
    flat = flatten(info.config or {})
    parts = [info.name, info.run_id, info.status, info.notes, *info.tags,
             *(str(flat.get(k, "")) for k in ("data.name", "model.name", "defense.name"))]
    return " ".join(p for p in parts if p).lower()


def term_holds(info: RunInfo, term: str) -> bool:
    """One term of the filter (see the module's docstring)."""
    low = term.lower()
    if low.startswith("tag:") or (low.startswith("#") and len(low) > 1):
        tag = low.split(":", 1)[1] if low.startswith("tag:") else low[1:]
        return tag in (t.lower() for t in info.tags)
    m = TERM.match(term)
    if m is None:
        return low in _words(info)
    key, op, value = m.group("key").strip(), m.group("op"), m.group("value")
    if key.lower() in ("tag", "tags"):
        has = value.lower() in (t.lower() for t in info.tags)
        return has if op == "=" else not has if op == "!=" else False
    if key.lower() in ("status", "name", "run", "id"):
        have = {"status": info.status, "name": info.name}.get(key.lower(), info.run_id)
        return _compare(have, op, value)
    values = [v for k, v in flatten(info.config or {}).items() if _key_fits(key, k)]
    return any(_compare(v, op, value) for v in values) if op != "!=" else all(_compare(v, op, value) for v in values)


def matches(info: RunInfo, query: str) -> bool:
    """Whether a run passes the filter ``query`` (empty: every run)."""
    return all(term_holds(info, t) for t in query.split())


def group_of(info: RunInfo, by: str) -> str | None:
    """The group a run goes under (None: no grouping)."""
    if by == "tag":
        return ", ".join(sorted(info.tags)) or NO_TAGS
    key = {"defense": "defense.name", "model": "model.name", "dataset": "data.name"}.get(by)
    if key is None:
        return None
    v = flatten(info.config or {}).get(key)
    return str(v) if v not in (None, "") else "(unknown)"
