"""The layers hold: no import cycles, no Qt in the engine, orchestration only in the use-case layer.

Imports are read from the source (module level and inside functions alike: a
function-level import that closes a loop is still a cycle in the design).
"""
import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("mfdv_engine", "mfdv_studio")
#: the use-case layer (and the two engine loops that run it): the only modules that build a run's
#: model, loop attacks over it, train runs or store rows and results
USE_CASES = {"mfdv_engine.api", "mfdv_engine.measure", "mfdv_engine.reproduction.experiments", "mfdv_engine.reproduction.tables",
             "mfdv_engine.reproduction.lambda1", "mfdv_engine.imported.byom", "mfdv_engine.training.runs", "mfdv_engine.training.timing"}
ORCHESTRATION = ("load_run", "add_eval_row", "put_result", "evaluate_request", "run_sweep", "run_checklist",
                 "train_run", "compute_boundaries")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in (REPO / pkg).rglob("*.py"):
            parts = list(f.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The in-package modules ``name`` imports anywhere in its source."""
    out = set()
    base = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
                   for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            pkg = base[:len(base) - node.level + 1] if node.level else []
            prefix = ".".join(pkg + ([node.module] if node.module else []))
            subs = [f"{prefix}.{a.name}" for a in node.names if f"{prefix}.{a.name}" in known]
            # `from . import fsio` depends on the submodule, not on the package's own names
            targets = subs if len(subs) == len(node.names) else [prefix] + subs
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for ~150 nodes)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    g: dict[str, set[str]] = defaultdict(set)
    for name, path in known.items():
        g[name] |= imports(name, path, known)
    return g


def test_no_import_cycles_inside_the_packages():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_engine_never_imports_qt():
    for name, path in modules().items():
        if name.startswith("mfdv_engine"):
            tree = ast.parse(path.read_text())
            names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
            names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
            assert not [m for m in names if m.split(".")[0] in ("PySide6", "pyqtgraph", "mfdv_studio")], name


def test_orchestration_lives_only_in_the_use_case_layer():
    """The CLI parses and calls the API; each studio job is one API call; nobody else
    builds a run's model, loops attacks or stores rows."""
    offenders = []
    for name, path in modules().items():
        if name in USE_CASES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
                if called in ORCHESTRATION:
                    offenders.append(f"{name}:{node.lineno} calls {called}")
    assert offenders == []


def test_the_public_api_is_importable_and_documented():
    import mfdv_engine as mfdv

    for name in mfdv.__all__:
        obj = getattr(mfdv, name)
        assert obj is not None
        if callable(obj) and not isinstance(obj, type) and name != "__version__":
            assert (obj.__doc__ or "").strip(), f"mfdv.{name} has no docstring"


def test_the_engine_top_level_holds_the_rules_and_the_one_door():
    """Issue 20: the folders say the architecture (project/, imported/, reproduction/, ...); the top
    level keeps the rules every layer uses, the use cases and api.py."""
    top = {p.stem for p in (REPO / "mfdv_engine").glob("*.py")}
    assert top == {"__init__", "api", "calling", "config", "defaults", "devices", "errors", "events", "measure",
                   "registry", "resources", "results", "safetext", "stochastic", "validate"}, top
    for pkg in ("project", "imported", "reproduction", "evaluation", "training", "attacks", "defenses", "models",
                "data", "cli"):
        assert (REPO / "mfdv_engine" / pkg / "__init__.py").is_file(), pkg


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                offenders += [f"{name}: {a.name}" for a in node.names if a.name.startswith("_") and not a.name.endswith("__")]
    assert not offenders, offenders
