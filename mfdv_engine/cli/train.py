"""``mfdv train`` (and ``timing``): parse, then call :func:`mfdv_engine.api.train` / ``resume``."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from typing import Any

from ..config import RunConfig, load_config_file, load_preset
from .common import launch_nproc, train_argv, command


def _config_from_args(args: argparse.Namespace) -> RunConfig | None:
    if args.resume:
        if args.set or args.epochs or args.limit_train:
            from ..errors import ConfigError

            raise ConfigError("--resume continues a run with its own config; drop --set/--epochs/--limit-train")
        return None
    if args.preset:
        cfg = load_preset(args.preset)
    elif args.config:
        cfg = load_config_file(args.config)
    else:
        from ..errors import ConfigError

        raise ConfigError("say what to train: --preset NAME, --config FILE or --resume RUN")
    sets = list(args.set)
    if args.epochs is not None:
        sets.append(f"train.epochs={args.epochs}")
    if args.limit_train is not None:
        sets.append(f"data.limit_train={args.limit_train}")
    return cfg.with_overrides(sets).validate()


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from .. import api
    from ..training.distributed import is_main_process, launched_distributed

    if getattr(args, "nproc", None) is not None and args.nproc != 1 and not launched_distributed():
        _config_from_args(args)  # bad input fails here, once, before any process starts
        return launch_nproc(args, train_argv(args))
    cfg = _config_from_args(args)
    main_rank = is_main_process()
    bar = _Progress(quiet=not main_rank)
    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *a: cancel.set())
    try:
        kw = dict(data_root=args.data_root, device=args.device, cancel=cancel,
                  on_event=bar.on_api_event)
        summary = api.resume(args.project, args.resume, **kw) if args.resume else api.train(args.project, cfg, **kw)
    finally:
        signal.signal(signal.SIGINT, prev)
        bar.close()
    if not main_rank:  # rank 0 reports for the whole job
        return 0 if summary.status == "finished" else 130
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, sort_keys=True))
    else:
        f = summary.final
        print(f"run {summary.run_id}: {summary.status} after {summary.epochs_done} epoch(s)")
        if f:
            print(f"  clean accuracy {f['clean_acc']:.2%} ({f['clean_acc_protocol']})")
            if f.get("sigma_mean_end") is not None:
                print(f"  sigma mean {f['sigma_mean_start']:.4f} -> {f['sigma_mean_end']:.4f}")
            print(f"  last epoch {f['epoch_time_s']:.1f} s on {f['device']}")
    return 0 if summary.status == "finished" else 130


class _Progress:
    """A tqdm bar per epoch on stderr, fed by trainer events."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.steps_per_epoch = 0
        self.last_step = 0
        self.epochs = 0

    def on_api_event(self, event) -> None:
        """Trainer events feed the epoch bars; a Progress event (decoding a data set) gets a bar of its own."""
        from ..events import Progress

        if not isinstance(event, Progress):
            return self.on_event(event.kind, event.data)
        if self.quiet:
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=1.0, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")
        self.bar.set_description_str(event.phase)
        self.bar.n = event.fraction or 0.0
        self.bar.refresh()
        if event.fraction is not None and event.fraction >= 1.0:
            self.close()

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        if self.quiet:
            return
        from tqdm import tqdm

        if kind == "run":
            self.epochs = data["epochs"]
            print(f"run {data['run_id']} on {data['device']}", file=sys.stderr)
        elif kind == "start":
            self.steps_per_epoch = data["steps_per_epoch"]
        elif kind == "step":
            if self.bar is None:
                self.bar = tqdm(total=self.steps_per_epoch, desc=f"epoch {int(data['epoch'])}/{self.epochs}",
                                file=sys.stderr, leave=True, dynamic_ncols=True)
                self.last_step = (int(data["epoch"]) - 1) * self.steps_per_epoch
            self.bar.update(int(data["step"]) - self.last_step)
            self.last_step = int(data["step"])
            post = {"loss": f"{data['loss']:.3f}", "acc": f"{data['train_acc']:.3f}"}
            if "sigma_mean" in data:
                post["sigma"] = f"{data['sigma_mean']:.3f}"
            self.bar.set_postfix(post)
        elif kind == "epoch":
            self.close()
            msg = f"epoch {int(data['epoch'])}: test acc {data['test_acc']:.2%}, loss {data['loss']:.3f}"
            if "sigma_mean" in data:
                msg += f", sigma mean {data['sigma_mean']:.4f}"
            print(msg + f", {data['epoch_time']:.1f} s", file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@command("timing")
def cmd_timing(args: argparse.Namespace) -> int:
    from ..training.timing import time_defenses

    defenses = [d.strip() for d in args.defenses.split(",") if d.strip()]
    res = time_defenses(args.dataset, args.model, defenses, base=load_preset(args.preset), epochs=args.epochs,
                        data_root=args.data_root, limit_train=args.limit_train, device=args.device,
                        on_epoch=lambda d, r, t: print(f"{d:>8}: {f'round {r}' if r else 'warm-up'}: {t:.2f} s",
                                                       file=sys.stderr))
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True))
        return 0
    print(f"{res.dataset} / {res.model} on {res.device}, n_train={res.n_train}, batch {res.batch_size}")
    for d, t in res.median_s.items():
        print(f"  {d:>8}: {t:.2f} s per epoch (median of {len(res.times_s[d])})")
    for k, v in res.ratios().items():
        print(f"  {k}: {v:.2f}")
    return 0
