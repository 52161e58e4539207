"""``mfdv attack``, ``sweep``, ``checklist``, ``noise``, ``boundaries``: parse, call the API, print rows as they are stored."""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading

from ..safetext import printable  # every string from a file, before it reaches the terminal
from ..defaults import parse_eps
from .common import attack_argv, command, launch_nproc, protocol_from_args


@command("attack")
def cmd_attack(args: argparse.Namespace) -> int:
    from .. import api
    from ..training.distributed import init_from_env, launched_distributed
    from ..errors import ConfigError
    from ..devices import resolve_device

    proto = protocol_from_args(args)
    eps, _, suite_over = api.plan_attack(args.project, args.run, args.attacks, eps=parse_eps(args.eps),
                                         params=args.param, protocol=proto)
    if args.nproc is not None and args.nproc != 1 and not launched_distributed():
        if suite_over is not None:
            raise ConfigError("the adaptive suite runs in one process (it intersects per-example verdicts); drop --nproc")
        resolve_device(args.device)  # bad input fails here, once, before any process starts
        return launch_nproc(args, attack_argv(args))
    ctx = init_from_env(resolve_device(args.device))
    try:
        return report_rows(args, lambda on_event, cancel: api.attack(
            args.project, args.run, args.attacks, eps=eps, params=args.param, protocol=proto,
            data_root=args.data_root, device=ctx.device if ctx else args.device, on_event=on_event, cancel=cancel,
            dist=ctx), main=ctx is None or ctx.is_main)
    finally:
        if ctx is not None:
            ctx.shutdown()


@command("sweep")
def cmd_sweep(args: argparse.Namespace) -> int:
    from .. import api
    from ..config import parse_value
    from ..errors import ConfigError

    eps = parse_eps(args.eps)
    values = None
    if args.values:
        values = [parse_value(v) for v in args.values.split(",") if v.strip()]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ConfigError(f"--values must be numbers separated by commas, got {args.values!r}")
    proto = protocol_from_args(args)
    return report_rows(args, lambda on_event, cancel: api.sweep(
        args.project, args.run, args.kind, values=values, eps=eps, loss=args.loss, protocol=proto,
        data_root=args.data_root, device=args.device, on_event=on_event, cancel=cancel))


def report_rows(args, call, *, main: bool = True) -> int:
    """Run ``call(on_event, cancel)`` (an API evaluation) with a progress bar, printing each
    stored row; Ctrl-C stops it and keeps the finished rows. ``main`` False (ranks > 0
    of a ``torchrun`` job): compute only; rank 0 stores and prints."""
    from tqdm import tqdm

    from ..events import Progress, RowStored

    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *a: cancel.set())
    bars: list = []  # the bar appears with the first event, so a refusal prints only its sentence

    def bar():
        if not bars:
            bars.append(tqdm(total=1.0, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}",
                             disable=not main))
        return bars[0]

    def on_event(event) -> None:
        if isinstance(event, Progress):
            bar().set_description_str(printable(event.phase))
            bar().n = event.fraction if event.fraction is not None else bar().n
            bar().refresh()
        elif isinstance(event, RowStored):
            r = event.row
            bar().write(printable(f"{r['robust_acc']:7.2%} [{r['ci_low']:.1%}, {r['ci_high']:.1%}]  "
                                f"clean {r['clean_acc']:.2%}  {r['protocol']}  ({r['time_s']:.1f} s)"), file=sys.stderr)
            for m in r.get("messages", []):  # (attack libraries' own output, captured)
                bar().write(printable(f"    {m}"), file=sys.stderr)

    try:
        with contextlib.redirect_stdout(sys.stderr):  # third-party attacks print; stdout is for our JSON
            result = call(on_event, cancel)
    finally:
        signal.signal(signal.SIGINT, prev)
        for b in bars:
            b.close()
    if result.cancelled and main:
        print(f"stopped by the user; {len(result.rows)} finished row(s) kept in the project", file=sys.stderr)
    if args.json and main:
        print(json.dumps([dict(r.to_dict(), protocol=r.protocol_line()) for r in result.rows], indent=2, sort_keys=True))
    return 130 if result.cancelled else 0


@command("checklist")
def cmd_checklist(args: argparse.Namespace) -> int:
    from .. import api

    items = api.checklist(args.project, args.run, eps=parse_eps(args.eps), protocol=protocol_from_args(args),
                          data_root=args.data_root, device=args.device)
    if args.json:
        print(json.dumps([i.to_dict() for i in items], indent=2, sort_keys=True))
    else:
        for i in items:
            print(f"[{'PASS' if i.passed else 'FLAG'}] {printable(i.title)}\n       {printable(i.evidence)}")
    return 0


@command("noise")
def cmd_noise(args: argparse.Namespace) -> int:
    from .. import api

    rep = api.noise(args.project, args.run, n=args.n, draws=args.draws, mc_samples=args.mc, seed=args.seed,
                    data_root=args.data_root, device=args.device)
    print(json.dumps(rep.to_dict(), indent=2, sort_keys=True) if args.json else printable(str(rep), multiline=True))
    return 0


@command("boundaries")
def cmd_boundaries(args: argparse.Namespace) -> int:
    from .. import api

    out = api.boundaries(args.project, args.run, n_points=args.points, data_root=args.data_root, device=args.device)
    summary = {k: (list(v.shape) if hasattr(v, "shape") else v) for k, v in out.items()}
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True, default=str))
    else:
        print(f"stored the decision boundaries of run {args.run} ({out['kind']}: "
              f"{', '.join(k for k, v in out.items() if hasattr(v, 'shape'))}); open the studio's Boundaries tab to see them")
    return 0
