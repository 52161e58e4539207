"""A researcher's own network: ``my_net.py:build`` and a weights file, read safely.

Weights are tensors and nothing else: ``.pt``/``.pth`` go through
``torch.load(weights_only=True)`` (a file whose pickle would rebuild Python
objects is refused without running anything), ``.safetensors`` through the
``safetensors`` package when it is installed. The model file is Python and
so runs code: it is executed only from the bytes whose hash the caller checked
(see :mod:`mfdv_engine.imported.trust`), never re-read between hashing and running.
"""
from __future__ import annotations

import contextlib
import inspect
import pickle
import sys
import types
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from ..errors import ConfigError

IMPORTED = "imported"
WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
SOURCE_KEYS = {"file", "entry", "sha256", "stochastic", "weights"}


def parse_model_spec(spec: str) -> tuple[Path, str]:
    """``my_net.py:build`` → (absolute path, entry); the entry defaults to ``build``."""
    file, sep, entry = spec.rpartition(":")
    if not sep or "/" in entry or "\\" in entry:
        file, entry = spec, "build"
    if not entry.isidentifier():
        raise ConfigError(f"--model-file {spec!r}: {entry!r} is not a Python name; write FILE.py:FUNCTION, e.g. my_net.py:build")
    path = Path(file).expanduser().resolve()
    if path.suffix != ".py":
        raise ConfigError(f"--model-file {spec!r} is not a .py file; write FILE.py:FUNCTION, e.g. my_net.py:build")
    if not path.is_file():
        raise ConfigError(f"the model file {path} does not exist; check the path")
    return path, entry


def read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the model file {path}: {e.strerror}") from None


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A state_dict of tensors from ``.pt``/``.pth``/``.safetensors``; nothing it holds is run."""
    path = Path(path).expanduser()
    if path.suffix.lower() not in WEIGHT_SUFFIXES:
        raise ConfigError(f"weights file {path.name} is neither .pt, .pth nor .safetensors; save a state_dict with torch.save")
    if not path.is_file():
        raise ConfigError(f"the weights file {path} does not exist; check the path")
    if path.suffix.lower() == ".safetensors":
        return _load_safetensors(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "weights_only" not in str(e) and "Unsupported" not in str(e):
            raise ConfigError(f"weights file {path.name} is not a file torch.save wrote ({_first_line(e)})") from None
        raise ConfigError(f"weights file {path.name} holds Python objects that only pickle can rebuild (it could run "
                          "code); save a plain state_dict with torch.save(model.state_dict(), path)") from None
    except Exception as e:  # empty, text, a zip with a junk pickle: torch's own errors are of every type
        raise ConfigError(f"weights file {path.name} is not a file torch.save wrote ({_first_line(e)})") from None
    return _state_dict_of(obj, path.name)


def _first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type when it has none (never an IndexError)."""
    lines = str(e).strip().splitlines()
    return (lines[0] if lines else type(e).__name__)[:120]


#: what a weight may be: real numbers and integer/bool buffers, dense
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int8, torch.uint8, torch.int16,
                 torch.int32, torch.int64, torch.bool)


def check_weight(key: str, t: torch.Tensor, name: str) -> None:
    """One tensor of a weights file: dense, of a plain dtype, and finite (a NaN would make a
    deterministic model look stochastic, NaN ≠ NaN)."""
    if t.layout != torch.strided or t.is_quantized or t.is_meta:
        raise ConfigError(f"weights file {name}: {key} is a {str(t.layout).replace('torch.', '')} tensor; "
                          "save dense tensors (tensor.to_dense()) in the state_dict")
    if t.dtype not in WEIGHT_DTYPES:
        raise ConfigError(f"weights file {name}: {key} has dtype {str(t.dtype).replace('torch.', '')}, which no "
                          "network here computes in; save float32 (or float16/bfloat16) weights")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise ConfigError(f"weights file {name}: {key} holds NaN or infinite values; "
                          "these are not trained weights, save the state_dict of a trained model")


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError:
        raise ConfigError(f"weights file {path.name} is .safetensors, which needs `pip install safetensors`; "
                          "or save it with torch.save(model.state_dict(), 'weights.pt')") from None
    try:
        return _state_dict_of(load_file(str(path), device="cpu"), path.name)
    except Exception as e:  # the package's own errors: one sentence, whatever their type
        raise ConfigError(f"weights file {path.name} is not a readable .safetensors file ({str(e)[:120]})") from None


def _state_dict_of(obj: Any, name: str) -> dict[str, torch.Tensor]:
    """A plain state_dict, or one inside ``{"state_dict": ...}``/``{"model": ...}``."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if (not isinstance(obj, dict) or not obj
            or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())):
        raise ConfigError(f"weights file {name} holds no state_dict of tensors; "
                          "save one with torch.save(model.state_dict(), path)")
    for k, v in obj.items():
        check_weight(k, v, name)
    return {k: v.detach().contiguous() for k, v in obj.items()}


@contextlib.contextmanager
def beside(path: Path) -> Iterator[None]:
    """The model file's folder first on ``sys.path`` for the block, so its sibling modules import."""
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        if folder in sys.path:
            sys.path.remove(folder)


def exec_source(source: bytes, path: Path) -> types.ModuleType:
    """Run the model file's (already checked) bytes as a fresh module."""
    name = f"mfdv_user_model_{uuid.uuid4().hex[:12]}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and typing look their module up while it runs
    try:
        with beside(path):  # `import mynet` next to my_net.py works, as it does when the user runs it
            exec(compile(source, str(path), "exec"), module.__dict__)
    except Exception as e:
        sys.modules.pop(name, None)
        raise ConfigError(f"the model file {path.name} failed to run ({type(e).__name__}: {str(e)[:160]})") from None
    return module


def build_net(module: types.ModuleType, entry: str, path: Path, *, num_classes: int, in_channels: int) -> nn.Module:
    """Call ``entry()``, passing ``num_classes``/``in_channels`` only where it takes them."""
    fn = getattr(module, entry, None)
    if not callable(fn):
        raise ConfigError(f"the model file {path.name} has no function {entry!r}; write FILE.py:FUNCTION")
    kwargs = _known_kwargs(fn, {"num_classes": num_classes, "in_channels": in_channels})
    try:
        with beside(path):
            net = fn(**kwargs)
    except Exception as e:
        raise ConfigError(f"{path.name}:{entry}() failed ({type(e).__name__}: {str(e)[:160]})") from None
    if not isinstance(net, nn.Module):
        raise ConfigError(f"{path.name}:{entry}() returned a {type(net).__name__}, not a torch.nn.Module")
    return net


def _known_kwargs(fn: Callable, offer: dict[str, Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in offer.items() if k in params}


def load_net_state(net: nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """The weights into ``net`` (strict); a mismatch is one sentence naming the first difference."""
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        first = lines[1] if len(lines) > 1 else lines[0] if lines else "they differ"
        raise ConfigError(f"{what} do not fit the model ({first[:160]})") from None


def check_source(source: Any, placement: str) -> None:
    """An imported run's ``model.source``: the five fields, typed (validation, not trust)."""
    if not isinstance(source, dict) or set(source) != SOURCE_KEYS:
        raise ConfigError(f"model.source of an imported model must have exactly the keys {', '.join(sorted(SOURCE_KEYS))}")
    sha = source["sha256"]
    if not (isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)):
        raise ConfigError("model.source.sha256 must be 64 lowercase hexadecimal digits")
    if not isinstance(source["file"], str) or not Path(source["file"]).is_absolute():
        raise ConfigError("model.source.file must be an absolute path")
    if not isinstance(source["entry"], str) or not source["entry"].isidentifier():
        raise ConfigError("model.source.entry must be a Python name such as build")
    if not isinstance(source["stochastic"], bool) or not isinstance(source["weights"], str):
        raise ConfigError("model.source.stochastic must be true or false and model.source.weights a file name")
    if placement != "none":
        raise ConfigError("an imported model's model.stochastic must be none (its noise, if any, is its own)")
