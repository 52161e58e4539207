"""Multi-process / multi-GPU data-parallel training (DistributedDataParallel).

Launch with ``mfdv train --nproc N ...`` (which re-executes itself through
``python -m torch.distributed.run --standalone --nproc_per_node=N``) or with
``torchrun`` directly. When ``WORLD_SIZE > 1`` is in the environment,
:func:`mfdv_engine.training.runs.train_run`:

* initialises the process group (``nccl`` on CUDA, ``gloo`` on the CPU), one
  GPU per process (``cuda:LOCAL_RANK``);
* wraps the model in :class:`DistributedDataParallel` (the trainer keeps the
  unwrapped module for evaluation, ``mc_predict``, σ statistics and
  checkpoints, and passes the wrapper only to the defense's loss);
* shards every global batch: all ranks draw the *same* permutation (same
  seed, same generator), rank ``r`` takes ``perm[start:end][r::world]`` of each
  global batch of ``train.batch_size`` examples, so the per-rank batch is
  ``batch_size / world`` and the union over ranks is exactly the batch a
  single process would see (augmentation offsets are drawn for the whole
  global batch and sliced the same way);
* scales each rank's loss by ``n_rank * world / n_global`` so DDP's gradient
  average equals the gradient of the global-batch mean; a term every rank
  computes identically (MFDV's −λ1 Σ ln σ) is thus averaged, not summed;
* all-reduces the logged metrics, evaluates each rank on ``test[r::world]``
  and sums the correct counts;
* lets only rank 0 open and write the project file; checkpoints hold the
  unwrapped model's ``state_dict`` and so resume on any number of ranks.

Everything here is a no-op for a plain single-process run.
"""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..data.base import Split, iterate_batches
from ..errors import ConfigError


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def env_world_size() -> int:
    return _env_int("WORLD_SIZE", 1)


def launched_distributed() -> bool:
    """True inside a ``torchrun`` worker of a job with more than one process."""
    return env_world_size() > 1


def env_rank() -> int:
    return _env_int("RANK", 0)


def is_main_process() -> bool:
    """Rank 0 of a distributed job, or any non-distributed process."""
    return env_rank() == 0 if launched_distributed() else True


@dataclass
class DistContext:
    """The process group this process belongs to."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device
    owns_group: bool = True

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- collectives ------------------------------------------------------
    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def any_flag(self, flag: bool) -> bool:
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def all_gather_object(self, obj: Any) -> list[Any]:
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_object(self, obj: Any = None) -> Any:
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self.device if self.device.type == "cuda" else None)
        return box[0]

    def barrier(self) -> None:
        if self.device.type == "cuda":
            dist.barrier(device_ids=[self.device.index])
        else:
            dist.barrier()

    def shutdown(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def init_from_env(device: torch.device, timeout_s: float = 1800.0) -> DistContext | None:
    """Join the ``torchrun`` job described by the environment, or return None.

    ``device`` is the resolved single-process device: ``cuda`` becomes
    ``cuda:LOCAL_RANK`` with backend ``nccl``; ``cpu`` uses ``gloo``.
    """
    if not launched_distributed():
        return None
    rank = env_rank()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ConfigError(f"process {rank} wants GPU {local_rank} but only {torch.cuda.device_count()} are visible; "
                              "lower --nproc to the number of GPUs")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        device = torch.device("cpu")
        backend = "gloo"
    owns = not dist.is_initialized()
    if owns:
        kwargs: dict[str, Any] = {"backend": backend, "timeout": datetime.timedelta(seconds=timeout_s)}
        if backend == "nccl":
            kwargs["device_id"] = device
        dist.init_process_group(**kwargs)
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, backend, device, owns)


class DataParallelModel(DistributedDataParallel):
    """DDP whose unknown attributes fall through to the wrapped module.

    Defenses read backbone attributes (``trunk``, ``head``, buffers such as
    L2P's step counters) from the model they are given; with this wrapper the
    same code works on the wrapper. ``modules()`` already includes the wrapped
    module's, so σ-regularisers and projections find every stochastic layer
    exactly once.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["module"], name)


def wrap_model(model: nn.Module, ctx: DistContext) -> DataParallelModel:
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DataParallelModel(model, device_ids=ids, output_device=ids[0] if ids else None,
                             gradient_as_bucket_view=True)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def shard_split(split: Split, ctx: DistContext) -> Split:
    """Every ``world``-th example starting at ``rank`` (used for evaluation)."""
    return Split(split.x[ctx.rank::ctx.world_size], split.y[ctx.rank::ctx.world_size])


def iterate_shard(
    split: Split,
    global_batch: int,
    ctx: DistContext,
    *,
    shuffle: bool,
    augment: str = "none",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """This rank's part of every global batch: ``(x, y, n_global)``.

    Mirrors :func:`mfdv_engine.data.iterate_batches` (same permutation and the
    same random numbers from ``generator``, drawn for the whole global batch),
    then keeps rows ``rank::world`` of each global batch. A final global batch
    with fewer examples than ranks is dropped so no rank gets an empty batch.
    """
    n = len(split)
    for start, (xb, yb) in zip(range(0, n, global_batch),
                               iterate_batches(split, global_batch, shuffle=shuffle, augment=augment, device=device,
                                               generator=generator, shard=(ctx.rank, ctx.world_size))):
        yield xb, yb, min(start + global_batch, n) - start


def steps_per_epoch(n: int, global_batch: int, world: int) -> int:
    full, rest = divmod(n, global_batch)
    return full + (1 if rest >= world else 0)
