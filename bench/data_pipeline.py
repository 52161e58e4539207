"""Benchmark: images/second of our tensor data path vs. torchvision DataLoader + PIL.

Ours: :func:`mfdv_engine.data.iterate_batches` with augment ``"crop-flip"`` over
a uint8 ``(N, 3, 32, 32)`` tensor (random images, or the real CIFAR-10 train
split with ``--data-root``), yielding float32 batches in [0, 1] on the device.
Theirs: the same images as a torchvision dataset of PIL images (``Image.fromarray``
per item, as ``torchvision.datasets.CIFAR10`` does) with RandomCrop(32, padding=4),
RandomHorizontalFlip, ToTensor, through ``torch.utils.data.DataLoader`` with
num_workers 0 and 2 (batches moved to the device). Each variant is one full
epoch, repeated and interleaved; medians. CPU always, CUDA too when available
(ours with the uint8 tensor resident on the GPU).

Prints one JSON object; top-level ``ratio`` = ours ÷ best DataLoader on the CPU
(images/s, higher is better); per-device and per-num_workers ratios alongside.
Usage: python bench/data_pipeline.py [--n 50000] [--batch 128] [--repeats 2] [--data-root DIR]
"""
from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torchvision import transforms  # noqa: E402
from torchvision.datasets import VisionDataset  # noqa: E402

from mfdv_engine.data import Split, iterate_batches  # noqa: E402
from mfdv_engine.devices import describe_device  # noqa: E402


class PilImages(VisionDataset):
    """HWC uint8 array + labels, served as PIL images like torchvision's CIFAR10."""

    def __init__(self, data: np.ndarray, targets: list[int], transform=None) -> None:
        super().__init__(root=None, transform=transform)
        self.data = data
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        img = Image.fromarray(self.data[i])
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[i]


def load_images(n: int, data_root: str | None) -> tuple[torch.Tensor, torch.Tensor, str]:
    if data_root:
        from mfdv_engine.data import load_dataset

        ds = load_dataset("cifar10", data_root, limit_train=n)
        return ds.train.x, ds.train.y, f"CIFAR-10 train ({len(ds.train)} images)"
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return x, y, f"random uint8 3x32x32 ({n} images)"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--data-root", default=None, help="folder with cifar-10-batches-py (default: random images)")
    ap.add_argument("--workers", default="0,2")
    args = ap.parse_args()
    x, y, what = load_images(args.n, args.data_root)
    n = len(y)
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor()])
    pil_ds = PilImages(x.permute(0, 2, 3, 1).contiguous().numpy(), y.tolist(), transform=tf)
    workers = [int(w) for w in args.workers.split(",")]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    out_devices = {}
    for dev in devices:
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        split = Split(x, y).to(dev)  # GPU-resident on CUDA
        gen = torch.Generator(device=dev).manual_seed(0)

        def ours():
            seen = 0
            for xb, yb in iterate_batches(split, args.batch, shuffle=True, augment="crop-flip", device=dev, generator=gen):
                seen += yb.shape[0]
            sync()
            return seen

        def loader(nw: int):
            def run():
                dl = DataLoader(pil_ds, batch_size=args.batch, shuffle=True, num_workers=nw,
                                pin_memory=dev.type == "cuda", drop_last=False)
                seen = 0
                for xb, yb in dl:
                    xb = xb.to(dev, non_blocking=True)
                    yb = yb.to(dev, non_blocking=True)
                    seen += yb.shape[0]
                sync()
                return seen
            return run

        runs = {"ours": ours, **{f"dataloader_w{w}": loader(w) for w in workers}}
        ours()  # warm-up (allocator, kernels); DataLoader start-up cost stays in its epochs
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, f in runs.items():
                t = time.perf_counter()
                seen = f()
                times[k].append(time.perf_counter() - t)
                assert seen == n, (k, seen, n)
        ips = {k: round(n / statistics.median(v), 1) for k, v in times.items()}
        best_dl = max(v for k, v in ips.items() if k != "ours")
        out_devices[dev.type] = {
            "images_per_s": ips,
            "epoch_s": {k: [round(t, 3) for t in v] for k, v in times.items()},
            "ratio": round(ips["ours"] / best_dl, 2),
            **{f"ratio_vs_w{w}": round(ips["ours"] / ips[f"dataloader_w{w}"], 2) for w in workers},
        }
        if dev.type == "cuda":
            out_devices[dev.type]["device_name"] = torch.cuda.get_device_name(dev)
    print(json.dumps({
        "benchmark": "data_pipeline",
        "what": "images/s, one epoch, batch crop(pad 4)+flip; ours = iterate_batches on uint8 tensors, "
                "theirs = DataLoader + PIL RandomCrop/RandomHorizontalFlip/ToTensor",
        "images": what,
        "batch": args.batch,
        "repeats": args.repeats,
        "cpu": describe_device(torch.device("cpu")),
        "device": "cpu" + (f" + cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else " (no CUDA)"),
        "torch": torch.__version__,
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ratio": out_devices["cpu"]["ratio"],
        "gpu_measured": "cuda" in out_devices,
        "devices": out_devices,
    }, indent=2))


if __name__ == "__main__":
    main()
