"""What every command shares: the command registry, the protocol options, re-launching under torchrun."""
from __future__ import annotations

import argparse
import sys
from typing import Callable


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    """Register ``fn(args) -> exit code`` as ``mfdv NAME``."""
    def deco(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = fn
        return fn

    return deco


def protocol_from_args(args: argparse.Namespace):
    from ..evaluation import Protocol

    return Protocol(n=args.limit, mc_samples=args.mc, eot_samples=20 if args.eot is None else args.eot,
                    reeval=args.reeval, seed=args.seed, batch_size=args.batch_size).validate()


def train_argv(args: argparse.Namespace) -> list[str]:
    """The ``train`` arguments again, without ``--nproc`` (for the re-launch)."""
    out = ["train"]
    for flag, value in (("--preset", args.preset), ("--config", args.config), ("--resume", args.resume),
                        ("--project", args.project), ("--data-root", args.data_root), ("--device", args.device),
                        ("--epochs", args.epochs), ("--limit-train", args.limit_train)):
        if value is not None:
            out += [flag, str(value)]
    for kv in args.set:
        out += ["--set", kv]
    if args.json:
        out.append("--json")
    return out


def attack_argv(args: argparse.Namespace) -> list[str]:
    """The ``attack`` arguments again, without ``--nproc`` (for the re-launch)."""
    out = ["attack", "--project", str(args.project), "--run-id", args.run, "--attacks", args.attacks]
    for kv in args.param:
        out += ["--param", kv]
    for flag, value in (("--eps", args.eps), ("--mc", args.mc), ("--eot", args.eot), ("--limit", args.limit),
                        ("--reeval", args.reeval), ("--seed", args.seed), ("--batch-size", args.batch_size),
                        ("--data-root", args.data_root), ("--device", args.device)):
        if value is not None:
            out += [flag, str(value)]
    if args.json:
        out.append("--json")
    return out


def launch_nproc(args: argparse.Namespace, argv: list[str]) -> int:
    """Replace this process with ``python -m torch.distributed.run --nproc_per_node=N -m mfdv_engine.cli ARGV``."""
    import os

    from ..errors import ConfigError

    if args.nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {args.nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "mfdv_engine.cli"] + argv
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)
    return 0  # not reached
