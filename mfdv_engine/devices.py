"""Where the engine runs: parse and resolve device names, describe a device for reports."""
from __future__ import annotations

import torch

from .errors import ConfigError
from .validate import parse_device


def resolve_device(name: str) -> torch.device:
    """The torch device for ``auto``/``cpu``/``cuda``/``cuda:N``; a malformed name or a
    GPU that is not there is a ConfigError here, before any run is created."""
    if parse_device(name) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but no CUDA GPU is visible; use --device cpu or auto")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} names GPU {dev.index}, but only {torch.cuda.device_count()} GPU(s) "
                          f"are visible (numbered from 0); use cuda:0 … cuda:{torch.cuda.device_count() - 1} or cuda")
    return dev


def describe_device(dev: torch.device) -> str:
    """The device as reports and benchmarks name it (timings mean little without it)."""
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"cpu ({cpu_name()}, {torch.get_num_threads()} threads)"


def cpu_name() -> str:
    import platform
    from pathlib import Path

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bf16_autocast_ok(dev: torch.device) -> bool:
    """Whether bf16 autocast pays on ``dev``: every CUDA GPU we target, and a CPU whose
    oneDNN has native bf16 (AVX512-BF16 or AMX). Elsewhere bf16 is emulated and slower
    than fp32, so training stays fp32 (docs/performance.md has the measurements)."""
    if dev.type == "cuda":
        return True
    if dev.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
