"""channels_last for evaluation on the CPU: the same fp32 arithmetic in oneDNN's
faster layout (1.3–1.6x per attack step, docs/performance.md).

Attacks hand the model NCHW inputs and read NCHW gradients back (some reshape
them with ``view``), so the layout changes only inside the trunk: its input is
converted on the way in and the gradient converted back on the way out.
"""
from __future__ import annotations

import torch
from torch import nn


class _ToChannelsLast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return grad.contiguous()


def _convert_input(_module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return (_ToChannelsLast.apply(x),) + tuple(args[1:])
    return args


def channels_last_for_eval(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` with its trunk in channels_last on a CPU when it holds convolutions (else as it is)."""
    trunk = getattr(model, "trunk", None)
    if device.type != "cpu" or trunk is None or not any(isinstance(m, nn.Conv2d) for m in trunk.modules()):
        return model
    model.to(memory_format=torch.channels_last)
    trunk.register_forward_pre_hook(_convert_input)
    return model
