"""What the views say about a stored robustness row: whether it is a sweep's point or a suite's, the order
rows are listed in (a suite's row followed by its members), and a readable one-line label for a list."""
from __future__ import annotations

from mfdv_engine.defaults import eps_text

from .sweeps import LOSS_NAMES, gradient_order


def is_sweep(r: dict) -> bool:
    return bool(r.get("params", {}).get("sweep"))


def suite_of(r: dict) -> tuple[str, bool]:
    """(name of the suite the row belongs to or "", whether it is the suite's own row)."""
    p = r.get("params", {})
    if "members" in p:
        return r.get("attack", ""), True
    return p.get("suite") or "", False


def row_order(rows: list[dict]):
    """Sort key: stand-alone rows first, then each suite's row followed by its members in the suite's order."""
    pos = {(r.get("run_id"), suite_of(r)[0], float(r.get("eps") or 0), m.get("attack"), m.get("gradient")): i
           for r in rows if suite_of(r)[1] for i, m in enumerate(r["params"]["members"])}

    def key(r: dict):
        suite, own = suite_of(r)
        eps = float(r.get("eps") or 0)
        member = pos.get((r.get("run_id"), suite, eps, r.get("attack"), r.get("gradient")), len(pos))
        return (r.get("run_id", ""), r.get("params", {}).get("sweep") or "", suite, eps if suite else 0.0,
                not own, member if suite and not own else 0, r.get("attack", ""), eps, r.get("steps") or 0,
                gradient_order(r.get("gradient", "")))
    return key


def suite_members(rows: list[dict]) -> dict[int, list[int]]:
    """Suite row index → its members' indices (same run, suite and ε)."""
    own = {(r.get("run_id"), suite_of(r)[0], float(r.get("eps") or 0)): i for i, r in enumerate(rows) if suite_of(r)[1]}
    out: dict[int, list[int]] = {}
    for j, r in enumerate(rows):
        suite, is_own = suite_of(r)
        i = own.get((r.get("run_id"), suite, float(r.get("eps") or 0))) if suite and not is_own else None
        if i is not None:
            out.setdefault(i, []).append(j)
    return out


def row_label(r: dict) -> str:
    """``pgd10 · ε=8/255 · 10 steps · EOT-20`` — attack (its loss when not CE), ε as the studio writes
    it, steps, gradient (a suite's: "worst case of n"), the sweep; a suite's member is marked ↳."""
    p = r.get("params", {})
    suite, own = suite_of(r)
    loss, sweep = p.get("loss"), p.get("sweep")
    attack = str(r.get("attack", "?"))
    if loss and loss != "ce":
        attack += f" ({LOSS_NAMES.get(loss, loss)})"
    if own and not attack.endswith("suite"):   # (its gradient says "worst case of n")
        attack += " suite"
    steps = r.get("steps")
    parts = [("↳ " if suite and not own else "") + attack,
             f"ε={eps_text(r.get('eps'), r.get('norm', 'Linf'))}" if r.get("eps") is not None else "",
             f"{steps} step{'s' if steps != 1 else ''}" if steps else "",
             str(r.get("gradient", "")), f"{sweep} sweep" if sweep else ""]
    return " · ".join(x for x in parts if x)


def sorted_rows(rows: list[dict]) -> list[dict]:
    """Rows in the order the robustness table lists them."""
    return sorted(rows, key=row_order(rows))
