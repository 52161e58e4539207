"""Build resources/demo/mnist-demo.npz: a class-balanced subset of real MNIST.

Usage: python resources/demo/make_demo.py /work/shared/datasets [--train-pool 5000] [--test-pool 1000]

The first argument is a torchvision MNIST root (the folder holding MNIST/raw).
From the first ``train-pool`` training and ``test-pool`` test images it keeps,
for every digit, as many images as the rarest digit has there (the first ones
in the original order), so the subset is class-balanced. Writes x_train,
y_train, x_test, y_test (uint8 N x 28 x 28 and int64 N) with
numpy.savez_compressed; the file must stay at most 2 MB.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from torchvision.datasets import MNIST

MAX_BYTES = 2 * 1024 * 1024


def balanced(x: np.ndarray, y: np.ndarray, pool: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = x[:pool], y[:pool]
    per_class = min(int((y == c).sum()) for c in range(10))
    keep = np.sort(np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(10)]))
    return x[keep], y[keep]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mnist_root", type=Path, help="folder holding MNIST/raw")
    parser.add_argument("--train-pool", type=int, default=5000)
    parser.add_argument("--test-pool", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "mnist-demo.npz")
    args = parser.parse_args()

    train = MNIST(str(args.mnist_root), train=True, download=False)
    test = MNIST(str(args.mnist_root), train=False, download=False)
    x_train, y_train = balanced(train.data.numpy(), train.targets.numpy(), args.train_pool)
    x_test, y_test = balanced(test.data.numpy(), test.targets.numpy(), args.test_pool)
    np.savez_compressed(
        args.out,
        x_train=x_train.astype(np.uint8),
        y_train=y_train.astype(np.int64),
        x_test=x_test.astype(np.uint8),
        y_test=y_test.astype(np.int64),
    )
    size = args.out.stat().st_size
    print(f"wrote {args.out}: {len(y_train)} train + {len(y_test)} test images, {size} bytes")
    if size > MAX_BYTES:
        raise SystemExit(f"{args.out} is {size} bytes, over the 2 MB limit; use smaller --train-pool/--test-pool")


if __name__ == "__main__":
    main()
