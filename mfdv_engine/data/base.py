"""In-memory data sets and vectorised batch augmentation.

A data set is loaded once into two :class:`Split` objects holding whole
tensors: images as ``uint8`` ``(N, C, H, W)`` and labels as ``int64`` ``(N,)``
(2-D toy data keeps ``float32`` ``(N, 2)`` points). :func:`iterate_batches`
indexes those tensors, moves each batch to the target device, converts it to
``float32`` in ``[0, 1]`` and applies :func:`augment_batch` there, so there is
no per-image Python work in the training loop and augmentation runs on the GPU
when the batch is on the GPU.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import torch

from ..errors import ConfigError

#: Augmentations understood by :func:`augment_batch`.
AUGMENTATIONS = ("none", "crop", "crop-flip")
#: Zero padding (pixels, each side) of the random crop.
CROP_PADDING = 4


@dataclass
class Split:
    """One split: inputs ``x`` (``N`` first) and ``int64`` labels ``y`` of shape ``(N,)``."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"x has {self.x.shape[0]} examples but y has {self.y.shape[0]}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str | None) -> "Split":
        """A new split with both tensors on ``device``."""
        return Split(self.x.to(device), self.y.to(device))

    def subset(self, n: int) -> "Split":
        """A new split with the first ``n`` examples (all of them if ``n >= len(self)``).

        The slice is copied so the full tensors can be freed.
        """
        if n < 0:
            raise ValueError(f"subset size must be non-negative, got {n}")
        if n >= len(self):
            return self
        return Split(self.x[:n].clone(), self.y[:n].clone())


@dataclass
class Dataset:
    """A loaded data set: both splits plus what a model needs to know about them.

    ``mean``/``std`` are per-channel statistics of inputs in ``[0, 1]`` (``None``
    for 2-D toy data, whose ``x`` is ``float32`` ``(N, 2)`` with
    ``in_channels=2`` and ``input_size=1``). ``augment`` is the training
    augmentation: ``"none"``, ``"crop"`` (random crop with 4-pixel zero
    padding) or ``"crop-flip"`` (that plus a horizontal flip with probability
    0.5); :func:`~.registry.load_dataset` sets it from ``data.augment`` or the
    registry entry's default.
    """

    name: str
    train: Split
    test: Split
    num_classes: int
    in_channels: int
    input_size: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    classes: list[str] = field(default_factory=list)
    augment: str = "none"

    def __post_init__(self) -> None:
        check_augment(self.augment)

    def to(self, device: torch.device | str | None) -> "Dataset":
        """A new data set with both splits on ``device``."""
        return replace(self, train=self.train.to(device), test=self.test.to(device))

    def with_augment(self, kind: str) -> "Dataset":
        """This data set trained with augmentation ``kind`` (``"auto"`` keeps its own), so a run's
        ``data.augment`` wins over the data set's default; refused for data that are not images."""
        if kind == "auto" or kind == self.augment:
            return self
        check_augment(kind)
        if kind != "none" and self.train.x.dim() != 4:
            raise ConfigError(f"data.augment={kind} needs images, but data set {self.name!r} holds "
                              f"{self.train.x.dim() - 1}-D points; set data.augment=none or auto")
        return replace(self, augment=kind)

    def limit(self, train: int | None = None, test: int | None = None) -> "Dataset":
        """A new data set keeping the first ``train``/``test`` examples (``None`` keeps all)."""
        return replace(
            self,
            train=self.train if train is None else self.train.subset(train),
            test=self.test if test is None else self.test.subset(test),
        )


def check_augment(kind: str) -> str:
    """``kind`` if it is one of :data:`AUGMENTATIONS`, else one ConfigError listing them."""
    if kind not in AUGMENTATIONS:
        raise ConfigError(f"unknown augmentation {kind!r}; choose one of: {', '.join(AUGMENTATIONS)}")
    return kind


def _draw_randint(high: int, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.randint(0, high, (n,), generator=generator, device=gen_device).to(device)


def _draw_rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    gen_device = generator.device if generator is not None else device
    return torch.rand((n,), generator=generator, device=gen_device).to(device)


def random_crop(
    x: torch.Tensor,
    padding: int = CROP_PADDING,
    generator: torch.Generator | None = None,
    offsets: tuple[torch.Tensor, torch.Tensor] | None = None,
    flip_p: float = 0.0,
    flip: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example random crop of ``x`` ``(N, C, H, W)`` after zero padding by ``padding``.

    Offsets (row, column) lie in ``[0, 2 * padding]``; pass ``offsets`` to fix
    them (used by tests), otherwise they are drawn with ``generator``. With
    ``flip_p`` > 0 each example is also mirrored with that probability, in the
    same gather (drawn after the offsets); or pass the (N,) bool ``flip`` itself.
    """
    n, c, h, w = x.shape
    if (padding == 0 and flip_p == 0 and flip is None) or n == 0:
        return x
    if offsets is None:
        oy = _draw_randint(2 * padding + 1, n, generator, x.device)
        ox = _draw_randint(2 * padding + 1, n, generator, x.device)
    else:
        oy, ox = (o.to(x.device, torch.long) for o in offsets)
    if flip is None and flip_p > 0:
        flip = _draw_rand(n, generator, x.device) < flip_p
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    ar = torch.arange(w, device=x.device)
    col_offsets = ar if flip is None else torch.where(flip[:, None], ar.flip(0), ar)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # N,1,H,1
    cols = (ox[:, None] + col_offsets)[:, None, None, :]  # N,1,1,W
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows, cols]


def random_flip(x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each example of ``x`` ``(N, C, H, W)`` horizontally with probability ``p``."""
    if x.shape[0] == 0:
        return x
    flip = _draw_rand(x.shape[0], generator, x.device) < p
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def augment_batch(x: torch.Tensor, kind: str, generator: torch.Generator | None = None,
                  shard: tuple[int, int, int] | None = None) -> torch.Tensor:
    """Augment a batch ``(N, C, H, W)`` with tensor ops on ``x``'s device.

    ``kind`` is ``"none"`` (returns ``x``), ``"crop"`` (random crop with
    4-pixel zero padding, a fresh offset per example) or ``"crop-flip"`` (that
    plus a per-example horizontal flip with probability 0.5). Works for any
    dtype (``uint8`` or float). Random numbers come from ``generator`` (on its
    own device, then moved) or from the global generator of ``x``'s device.
    ``shard = (rank, world, n_global)``: ``x`` holds rows ``rank::world`` of a
    global batch of ``n_global``; the random numbers are drawn for the whole
    global batch, so the shards of all ranks equal one single-process batch.
    """
    check_augment(kind)
    if kind == "none":
        return x
    if x.dim() != 4:
        raise ConfigError(f"augmentation {kind!r} needs image batches (N, C, H, W), got shape {tuple(x.shape)}")
    if shard is None:
        return random_crop(x, CROP_PADDING, generator, flip_p=0.5 if kind == "crop-flip" else 0.0)
    rank, world, m = shard
    oy = _draw_randint(2 * CROP_PADDING + 1, m, generator, x.device)[rank::world]
    ox = _draw_randint(2 * CROP_PADDING + 1, m, generator, x.device)[rank::world]
    flip = (_draw_rand(m, generator, x.device) < 0.5)[rank::world] if kind == "crop-flip" else None
    return random_crop(x, CROP_PADDING, offsets=(oy, ox), flip=flip)


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    augment: str = "none",
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    shard: tuple[int, int] | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x, y)`` batches of ``split`` on ``device`` (default: where the split is).

    ``uint8`` images are augmented as ``uint8`` and then become ``float32`` in
    ``[0, 1]`` after indexing and moving (so only the batch is converted);
    float data passes through as ``float32``. With ``shuffle`` each epoch visits every example exactly once
    in the order of ``torch.randperm(..., generator=generator)``. ``augment``
    is applied per batch on ``device`` with the same generator.

    ``shard = (rank, world)`` yields only rows ``rank::world`` of every batch
    (``batch_size`` is then the global batch), with the same permutation and
    augmentation draws as the single-process loop; a last batch with fewer
    examples than ranks is dropped so that no rank gets an empty one.
    """
    if batch_size < 1:
        raise ConfigError(f"batch size must be at least 1, got {batch_size}")
    check_augment(augment)
    n = len(split)
    device = torch.device(device) if device is not None else split.x.device
    order = None
    if shuffle:
        gen_device = generator.device if generator is not None else torch.device("cpu")
        order = torch.randperm(n, generator=generator, device=gen_device).to(split.x.device)
    stop = n - n % batch_size if drop_last else n
    rank, world = shard if shard is not None else (0, 1)
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if end - start < world:
            break
        rows = order[start:end] if order is not None else torch.arange(start, end, device=split.x.device)
        if world > 1:
            rows = rows[rank::world]
        xb, yb = split.x[rows], split.y[rows]
        non_blocking = xb.device.type == "cpu" and device.type == "cuda"
        xb = xb.to(device, non_blocking=non_blocking)
        yb = yb.to(device, non_blocking=non_blocking)
        if augment != "none":  # on the uint8 batch: a quarter of the bytes of float32
            xb = augment_batch(xb, augment, generator, None if world == 1 else (rank, world, end - start))
        if xb.dtype == torch.uint8:
            xb = xb.float().div_(255)
        elif xb.dtype != torch.float32:
            xb = xb.float()
        yield xb, yb
