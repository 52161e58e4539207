"""One calling convention for every function of the Python API (:func:`python_api`).

Arguments are checked and converted by their name before the function runs, so a
researcher may pass what comes naturally: ``attacks`` as ``"fgsm,pgd10"`` or a
list, ``params`` as ``["pgd10.steps=5"]`` or ``{"pgd10.steps": 5}`` or
``{"pgd10": {"steps": 5}}``, ``protocol`` as a :class:`Protocol` or a dict. A
wrong type is one :class:`~mfdv_engine.errors.ConfigError` sentence naming the
Python argument, never a TypeError from deep inside. Errors the engine words
for the command line (``--data-root``, ``--param``) reach a Python caller
spelled with the argument names. ``progress=True`` adds a ``tqdm.auto`` bar
(a widget in Jupyter, a line in a terminal) to whatever ``on_event`` receives.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import os
import re
from typing import Any, Callable, Iterator

from .errors import ConfigError, MfdvError
from .events import Progress, TrainingEvent, ignore

#: command-line spellings in engine messages → the Python API's
_CLI_TO_PY = [
    (re.compile(r"`mfdv train --project ([^`]+)`"), r"`mfdv.train(\1, config)`"),
    (re.compile(r"`mfdv (\w+)[^`]*`"), r"`mfdv.\1(...)`"),
    (re.compile(r"--data-root"), "data_root="), (re.compile(r"--param\b"), "params="),
    (re.compile(r"--attacks\b"), "attacks="), (re.compile(r"--eps\b"), "eps="),
    (re.compile(r"--limit\b"), "protocol n="), (re.compile(r"--mc\b"), "protocol mc_samples="),
    (re.compile(r"--eot\b"), "protocol eot_samples="), (re.compile(r"--seed\b"), "protocol seed="),
    (re.compile(r"--batch-size\b"), "protocol batch_size="), (re.compile(r"--overwrite\b"), "overwrite=True"),
    (re.compile(r"--set ([\w.]+)="), r"config.\1 = "), (re.compile(r"--set\b"), "the config"),
    (re.compile(r"--resume\b"), "mfdv.resume"), (re.compile(r"--lambda1\b"), "lambdas="),
    (re.compile(r"--device\b"), "device="), (re.compile(r"--weights\b"), "weights="),
    (re.compile(r"--model-file\b"), "model_file="), (re.compile(r"--run\b"), "run_id="),
]


def python_words(text: str) -> str:
    """An engine sentence with its command-line spellings replaced by the Python API's."""
    for pat, repl in _CLI_TO_PY:
        text = pat.sub(repl, text)
    return text


# ------------------------------------------------------------------ the checks, by argument name

def _path(name: str, v: Any) -> Any:
    from .project.store import Project

    if isinstance(v, (str, os.PathLike)) and str(v):
        return v
    if name == "project" and isinstance(v, Project):
        return v
    what = "a project path (str or pathlib.Path) or an open project" if name == "project" else "a file path"
    raise ConfigError(f"{name} must be {what}, got {v!r}")


def _sink(name: str, v: Any) -> Any:
    if v is None:
        return ignore
    if not callable(v):
        raise ConfigError(f"{name} must be a function of one event (e.g. `lambda event: print(event)`), got {v!r}")
    return v


def _cancel(name: str, v: Any) -> Any:
    if v is not None and not callable(getattr(v, "is_set", None)):
        raise ConfigError(f"{name} must be a threading.Event (set it to stop the job), got {v!r}")
    return v


def as_protocol(name: str, v: Any) -> Any:
    from .evaluation import Protocol

    if v is None or isinstance(v, Protocol):
        return v
    if isinstance(v, dict):
        known = set(Protocol.__dataclass_fields__)
        bad = sorted(set(v) - known)
        if bad:
            raise ConfigError(f"{name} has no field {bad[0]!r}; its fields: {', '.join(sorted(known))}")
        return Protocol(**v).validate()
    raise ConfigError(f"{name} must be an mfdv.Protocol or a dict such as {{'n': 500, 'eot_samples': 20}}, got {v!r}")


def as_attacks(name: str, v: Any) -> str:
    if isinstance(v, str) and v.strip():
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(a, str) and a.strip() for a in v):
        return ",".join(a.strip() for a in v)
    raise ConfigError(f"{name} must name attacks: a string such as 'fgsm,pgd10' or a list such as "
                      f"['fgsm', 'pgd10', 'adaptive'], got {v!r}")


def as_params(name: str, v: Any) -> list[str]:
    """``params`` as the ``ATTACK.KEY=VALUE`` strings the engine parses."""
    if v is None:
        return []
    if isinstance(v, dict):
        out = []
        for k, val in v.items():
            if isinstance(val, dict):
                out += [f"{k}.{kk}={_text(vv)}" for kk, vv in val.items()]
            else:
                out.append(f"{k}={_text(val)}")
        return out
    if isinstance(v, (list, tuple)) and all(isinstance(p, str) for p in v):
        return list(v)
    raise ConfigError(f"{name} must be a dict such as {{'pgd10.steps': 5}} or {{'cw': {{'kappa': 1}}}}, or a list "
                      f"such as ['pgd10.steps=5'], got {v!r}")


def _text(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v).lower() if isinstance(v, bool) else str(v)


def _run_id(name: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{name} must be a run id such as 'r001' (mfdv.runs(project) lists them), got {v!r}")
    return v


def _config(name: str, v: Any) -> Any:
    from .config import RunConfig

    if isinstance(v, RunConfig):
        return v
    if isinstance(v, dict):
        return RunConfig.from_dict(v)
    raise ConfigError(f"{name} must be an mfdv.RunConfig (e.g. mfdv.load_preset('mnist-lenet-mfdv')) or a dict "
                      f"of one, got {v!r}")


CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "project": _path, "path": _path, "project_path": _path, "report": lambda n, v: v if v is None else _path(n, v),
    "on_event": _sink, "cancel": _cancel, "protocol": as_protocol, "attacks": as_attacks, "params": as_params,
    "run_id": _run_id, "config": _config,
}


# ------------------------------------------------------------------ progress

def with_progress(on_event: Callable, progress: bool, what: str) -> Callable:
    """``on_event`` plus, with ``progress``, a ``tqdm.auto`` bar over the job's Progress events
    (and a training run's steps)."""
    if not progress:
        return on_event
    from tqdm.auto import tqdm

    bar = tqdm(total=1000, desc=what, bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
    state = {"steps": 0}

    def sink(event) -> None:
        if isinstance(event, Progress) and event.fraction is not None:
            bar.set_description_str(event.phase[:60], refresh=False)
            bar.update(int(1000 * event.fraction) - bar.n)
        elif isinstance(event, TrainingEvent):
            if event.kind == "run":
                state["total"] = max(1, int(event.data.get("epochs", 1)))
            elif event.kind == "start":
                state["steps"] = int(event.data.get("steps_per_epoch", 0)) * state.get("total", 1)
            elif event.kind == "step" and state["steps"]:
                bar.set_description_str(f"training, epoch {int(event.data['epoch'])}", refresh=False)
                bar.update(int(1000 * min(1.0, event.data["step"] / state["steps"])) - bar.n)
            elif event.kind == "finished":
                bar.update(1000 - bar.n)
        on_event(event)

    sink.close = bar.close  # type: ignore[attr-defined]
    return sink


# ------------------------------------------------------------------ the decorator

#: how the engine's sentences are worded for the caller: "python" (a library caller) or "cli" (the
#: command line and the studio, whose users know the command-line spellings); see :func:`worded_for`
_WORDING: contextvars.ContextVar[str] = contextvars.ContextVar("mfdv_wording", default="python")


@contextlib.contextmanager
def worded_for(front: str) -> Iterator[None]:
    """Inside the block (this thread), error sentences keep the command-line spellings (``"cli"``)."""
    token = _WORDING.set(front)
    try:
        yield
    finally:
        _WORDING.reset(token)


def python_api(fn: Callable) -> Callable:
    """Check and convert ``fn``'s arguments by name (:data:`CHECKS`), add ``progress=False`` (True: a
    ``tqdm.auto`` bar fed by the job's events), and word the engine's errors for a Python caller;
    the error's type stays the engine's own (catch ``mfdv.MfdvError``)."""
    sig = inspect.signature(fn)
    has_sink = "on_event" in sig.parameters

    @functools.wraps(fn)
    def wrapper(*args, progress: bool = False, **kwargs):
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as e:
            raise ConfigError(f"{fn.__name__}(): {e}") from None
        for name, value in list(bound.arguments.items()):
            optional = value is None and sig.parameters[name].default is None  # None where None is the default
            if name in CHECKS and not optional:
                bound.arguments[name] = CHECKS[name](name, value)
        bar = None
        if progress and has_sink:
            bar = with_progress(bound.arguments.get("on_event", ignore), True, fn.__name__)
            bound.arguments["on_event"] = bar
        try:
            return fn(*bound.args, **bound.kwargs)
        except MfdvError as e:
            if _WORDING.get() == "python":
                e.args = (python_words(str(e)),) + e.args[1:]
            raise
        finally:
            if bar is not None:
                bar.close()

    if has_sink:
        extra = inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=bool)
        params = list(sig.parameters.values())
        at = next((i for i, p in enumerate(params) if p.kind == inspect.Parameter.VAR_KEYWORD), len(params))
        wrapper.__signature__ = sig.replace(parameters=params[:at] + [extra] + params[at:])  # type: ignore[attr-defined]
    return wrapper
