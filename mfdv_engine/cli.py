"""The ``mfdv`` command: everything the GUI does, headless.

Bad input prints one sentence to stderr and exits with code 2; nothing is
written to the project in that case.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from typing import Any, Callable

from . import __version__
from .config import RunConfig, list_presets, load_config_file, load_preset
from .errors import MfdvError
from .safetext import printable  # every string from a file, before it reaches the terminal

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(name: str):
    def deco(fn: Callable[[argparse.Namespace], int]):
        COMMANDS[name] = fn
        return fn

    return deco


class _Parser(argparse.ArgumentParser):
    """Usage errors as one sentence (exit 2), like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mfdv", description="MFDV Studio, headless: train, attack and inspect stochastic networks.")
    p.add_argument("--version", action="version", version=f"mfdv {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a run (or resume one) into a project file")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--preset", help=f"a preset name ({', '.join(list_presets())})")
    src.add_argument("--config", help="a JSON config file")
    src.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. train.epochs=3, defense.lambda1=0.05, defense=none")
    t.add_argument("--project", required=True, help="the project file (*.mfdv.h5); created if missing")
    t.add_argument("--data-root", help="folder holding the data sets (default: the user data folder)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default: the config's)")
    t.add_argument("--epochs", type=int, help="number of epochs (shortcut for --set train.epochs=N)")
    t.add_argument("--limit-train", type=int, help="use only the first N training examples")
    t.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="train data-parallel on N processes (one per GPU, or gloo on the CPU) via torch.distributed.run; "
                        "train.batch_size stays the global batch")

    r = sub.add_parser("runs", help="list the runs of a project")
    r.add_argument("--project", required=True)
    r.add_argument("--json", action="store_true")

    s = sub.add_parser("show", help="print a run's config, status and final metrics")
    s.add_argument("--project", required=True)
    s.add_argument("--run", required=True, metavar="ID")
    s.add_argument("--json", action="store_true")
    a = sub.add_parser("attack", help="attack a trained run; rows land in the project with their protocol")
    a.add_argument("--project", required=True)
    # --run-id: the spelling --nproc re-launches with (torchrun's parser takes --run for its own --run-path)
    a.add_argument("--run", "--run-id", dest="run", required=True, metavar="ID")
    a.add_argument("--attacks", required=True, help="comma-separated, e.g. fgsm,pgd10,pgd100,cw,pixel1,autoattack,"
                   "autoattack-rand,square,eot-pgd,eot-apgd-ce,eot-square,transfer-sigma0; 'adaptive' = the adaptive "
                   "suite (per-example worst case over the strongest members, each member's row kept)")
    a.add_argument("--param", action="append", default=[], metavar="ATTACK.KEY=VALUE",
                   help="override an attack parameter, e.g. cw.kappa=1, square.n_queries=1000, "
                        "adaptive.square_queries=1000 or adaptive.members=pgd10,eot-apgd-cw")
    _protocol_args(a)
    a.add_argument("--nproc", type=int, metavar="N",
                   help="shard the examples over N processes (one per GPU, or gloo on the CPU) via torch.distributed.run; "
                        "counts are summed, rank 0 stores the rows")

    w = sub.add_parser("sweep", help="ε, steps or EOT-samples sweep with PGD (Figure 3, §5.1)")
    w.add_argument("--project", required=True)
    w.add_argument("--run", required=True, metavar="ID")
    w.add_argument("--kind", required=True, choices=("eps", "steps", "eot"))
    w.add_argument("--values", help="comma-separated points (fractions allowed); default: the paper's range "
                   "(eot: 1,2,5,10,20,50,100; steps: 1,...,1000)")
    w.add_argument("--loss", choices=("ce", "cw"), help="PGD's loss: ce (cross-entropy) or cw (C&W margin); "
                   "default: ce for eps (Figure 3), cw for steps and eot")
    _protocol_args(w)

    c = sub.add_parser("checklist", help="Athalye et al. obfuscated-gradient checklist, with the numbers behind each point")
    c.add_argument("--project", required=True)
    c.add_argument("--run", required=True, metavar="ID")
    _protocol_args(c)

    tm = sub.add_parser("timing", help="time per epoch of several defenses, interleaved (Table 8)")
    tm.add_argument("--dataset", required=True)
    tm.add_argument("--model", required=True)
    tm.add_argument("--defenses", default="none,mfdv,pgd-at")
    tm.add_argument("--epochs", type=int, default=1, help="timed epochs per defense; one untimed warm-up epoch per "
                    "defense always runs first (cuDNN autotune, first-touch allocations)")
    tm.add_argument("--limit-train", type=int)
    tm.add_argument("--preset", default="mnist-lenet-mfdv", help="optimiser, batch size and defense parameters to use")
    tm.add_argument("--data-root")
    tm.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    tm.add_argument("--json", action="store_true")

    rp = sub.add_parser("reproduce", help="train, evaluate and report one of the paper's tables")
    rp.add_argument("experiment", help="table1, table2, table3, table4, table8, table9, fig3, eot or lambda1 "
                    "(MFDV's robustness against λ1, with the adaptive suite)")
    rp.add_argument("--scale", choices=("smoke", "gpu", "paper"), default="smoke",
                    help="smoke: CPU, minutes; gpu: one CUDA GPU, one run of at most ~9 minutes on an H100; "
                    "paper: the paper's settings on a GPU (gpu and paper need CUDA)")
    rp.add_argument("--project", required=True)
    rp.add_argument("--data-root")
    rp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    rp.add_argument("--report", metavar="OUT.md", help="write the Markdown report here (default: print it)")
    rp.add_argument("--lambda1", metavar="LIST", help="lambda1 study only: the λ1 values, e.g. 0,0.02,0.1 "
                    "(default: 0,0.01,0.02,0.05,0.1,0.2,0.5)")

    e = sub.add_parser("export", help="write every robustness row (all protocol fields) to CSV")
    e.add_argument("--project", required=True)
    e.add_argument("--run", metavar="ID", help="only this run (default: all)")
    e.add_argument("--csv", required=True, metavar="OUT", help="the CSV file to write, or - for standard output")
    return p


def _protocol_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--eps", help="perturbation budget, e.g. 8/255 or 0.3 (default: each attack's own)")
    a.add_argument("--mc", type=int, default=15, help="Monte-Carlo draws per prediction (paper: 15)")
    a.add_argument("--eot", type=int, help="noise draws per EOT gradient step on stochastic models, for every EOT "
                   "attack including eot-pgd and the adaptive suite (default 20)")
    a.add_argument("--limit", type=int, default=1000, help="number of test examples n")
    a.add_argument("--reeval", type=int, default=3, help="independent MC re-predictions that judge success")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--batch-size", type=int, default=250,
                   help="examples attacked together (noise seeds are per batch; larger is faster on a GPU)")
    a.add_argument("--data-root")
    a.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    a.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except MfdvError as e:
        print(f"mfdv: error: {printable(e)}", file=sys.stderr)  # messages quote run ids / names from files
        return 2
    except OSError as e:  # a file we were told to read or write: say which, no traceback
        where = f" ({e.filename})" if e.filename else ""
        print(printable(f"mfdv: error: {e.strerror or e}{where}; check the path and its permissions"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mfdv: stopped by the user", file=sys.stderr)
        return 130


# ---------------------------------------------------------------- train

def _config_from_args(args: argparse.Namespace) -> RunConfig | None:
    if args.resume:
        if args.set or args.epochs or args.limit_train:
            from .errors import ConfigError

            raise ConfigError("--resume continues a run with its own config; drop --set/--epochs/--limit-train")
        return None
    if args.preset:
        cfg = load_preset(args.preset)
    elif args.config:
        cfg = load_config_file(args.config)
    else:
        from .errors import ConfigError

        raise ConfigError("say what to train: --preset NAME, --config FILE or --resume RUN")
    sets = list(args.set)
    if args.epochs is not None:
        sets.append(f"train.epochs={args.epochs}")
    if args.limit_train is not None:
        sets.append(f"data.limit_train={args.limit_train}")
    return cfg.with_overrides(sets).validate()


def _train_argv(args: argparse.Namespace) -> list[str]:
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


def _attack_argv(args: argparse.Namespace) -> list[str]:
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


def _launch_nproc(args: argparse.Namespace, argv: list[str]) -> int:
    """Replace this process with ``python -m torch.distributed.run --nproc_per_node=N -m mfdv_engine.cli ARGV``."""
    import os

    from .errors import ConfigError

    if args.nproc < 1:
        raise ConfigError(f"--nproc must be at least 1, got {args.nproc}")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "mfdv_engine.cli"] + argv
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)
    return 0  # not reached


@command("train")
def cmd_train(args: argparse.Namespace) -> int:
    from .distributed import is_main_process, launched_distributed
    from .runs import train_run

    if getattr(args, "nproc", None) is not None and args.nproc != 1 and not launched_distributed():
        _config_from_args(args)  # bad input fails here, once, before any process starts
        return _launch_nproc(args, _train_argv(args))
    cfg = _config_from_args(args)
    main_rank = is_main_process()
    bar = _Progress(quiet=not main_rank)
    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *a: cancel.set())
    try:
        summary = train_run(args.project, cfg, resume=args.resume, data_root=args.data_root,
                            device=args.device, on_event=bar.on_event, cancel_event=cancel)
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


# ---------------------------------------------------------------- runs / show

@command("runs")
def cmd_runs(args: argparse.Namespace) -> int:
    from .store import Project

    infos = Project.open(args.project).runs()
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2, sort_keys=True))
        return 0
    if not infos:
        print("no runs yet")
    for i in infos:
        acc = i.final.get("clean_acc")
        how = i.final.get("clean_acc_short") or i.final.get("clean_acc_protocol", "")
        acc_s = f"clean {acc:.2%} ({how})" if acc is not None else ""
        cfg = i.config
        what = f"{cfg.get('data', {}).get('name')}/{cfg.get('model', {}).get('name')}/{cfg.get('defense', {}).get('name')}"
        print(printable(f"{i.run_id}  {i.status:<11} {i.name:<24} {what:<24} epochs {i.epochs_done}  {acc_s}"))
    return 0


@command("show")
def cmd_show(args: argparse.Namespace) -> int:
    from .store import Project

    info = Project.open(args.project).run(args.run)
    if args.json:
        print(json.dumps(info.to_dict(), indent=2, sort_keys=True))
        return 0
    print(printable(f"run {info.run_id} ({info.name}): {info.status}"))
    print(printable(f"  started {info.started}  ended {info.ended or '-'}  epochs done {info.epochs_done}"))
    if info.message:
        print(printable(f"  message: {info.message}"))
    print("  config:")
    for line in json.dumps(info.config, indent=2, sort_keys=True).splitlines():  # (json.dumps escapes controls)
        print(printable("    " + line))
    if info.final:
        print("  final metrics:")
        for k, v in sorted(info.final.items()):
            print(printable(f"    {k}: {v}"))
    return 0


# ---------------------------------------------------------------- attack / checklist / export

def _parse_eps(text: str | None) -> float | None:
    from .config import parse_value
    from .errors import ConfigError

    if text is None:
        return None
    v = parse_value(text)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"--eps must be a number or a fraction such as 8/255, got {text!r}")
    if not 0 <= v <= 1:
        raise ConfigError(f"--eps {text} is outside [0, 1]; inputs are in [0, 1], so use e.g. 8/255 or 0.3")
    return float(v)


def _protocol(args: argparse.Namespace):
    from .evaluation import Protocol

    return Protocol(n=args.limit, mc_samples=args.mc, eot_samples=20 if args.eot is None else args.eot,
                    reeval=args.reeval, seed=args.seed, batch_size=args.batch_size).validate()


def _prepare(args: argparse.Namespace, device=None, *, write: bool = True):
    """Everything that can fail on bad input, before the project is touched. A job
    that will ``write`` takes the project's lock first, so a busy project is
    refused before the model and data are loaded."""
    from .evaluation import load_run
    from .store import Project
    from .training import resolve_device

    proto = _protocol(args)
    project = Project.open(args.project)
    if write:
        project.acquire()  # released by _run_rows's `with project`
    try:
        device = device if device is not None else resolve_device(args.device)
        cfg, ds, model = load_run(project, args.run, data_root=args.data_root, device=device, limit_test=proto.n)
    except BaseException:
        project.release()
        raise
    return project, proto, device, cfg, ds, model


@command("attack")
def cmd_attack(args: argparse.Namespace) -> int:
    from .distributed import init_from_env, launched_distributed
    from .errors import ConfigError
    from .evaluation import checked_run
    from .store import Project
    from .suite import evaluate_request, parse_attacks
    from .training import resolve_device

    eps = _parse_eps(args.eps)
    if eps is None:  # the data set's default ε for every attack and the suite alike
        eps = _default_eps(checked_run(Project.open(args.project), args.run))
    specs, suite_over = parse_attacks(args.attacks, eps=eps, params=args.param, eot=args.eot)
    _protocol(args)
    if args.nproc is not None and args.nproc != 1 and not launched_distributed():
        if suite_over is not None:
            raise ConfigError("the adaptive suite runs in one process (it intersects per-example verdicts); drop --nproc")
        # bad input fails here, once, before any process starts (the ranks load the model themselves)
        resolve_device(args.device)
        checked_run(Project.open(args.project), args.run)
        return _launch_nproc(args, _attack_argv(args))
    ctx = init_from_env(resolve_device(args.device))
    try:
        project, proto, device, cfg, ds, model = _prepare(args, device=ctx.device if ctx else None,
                                                          write=ctx is None or ctx.is_main)
        return _run_rows(args, project, lambda on_row, on_progress, cancel: evaluate_request(
            model, ds.test, specs, suite_over, proto, eps=eps,
            device=device, on_row=on_row, on_progress=on_progress, cancel=cancel, dist=ctx),
            main=ctx is None or ctx.is_main)
    finally:
        if ctx is not None:
            ctx.shutdown()


@command("sweep")
def cmd_sweep(args: argparse.Namespace) -> int:
    from .config import parse_value
    from .sweeps import run_sweep

    eps = _parse_eps(args.eps)
    values = None
    if args.values:
        values = [parse_value(v) for v in args.values.split(",") if v.strip()]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            from .errors import ConfigError

            raise ConfigError(f"--values must be numbers separated by commas, got {args.values!r}")
    project, proto, device, cfg, ds, model = _prepare(args)
    eps = eps if eps is not None else _default_eps(cfg)
    from .sweeps import sweep_points
    from .stochastic import is_stochastic

    sweep_points(args.kind, values, eps, proto.eot_samples, is_stochastic(model), args.loss)  # validate before writing
    return _run_rows(args, project, lambda on_row, on_progress, cancel: run_sweep(
        model, ds.test, proto, kind=args.kind, device=device, eps=eps, values=values, on_row=on_row, cancel=cancel,
        loss=args.loss, on_progress=on_progress))


def _run_rows(args, project, job, *, main: bool = True) -> int:
    """Run an evaluation job, storing each row as it finishes; Ctrl-C keeps finished rows.
    ``main`` False (ranks > 0 of a ``torchrun`` job): compute only; rank 0 writes and prints."""
    from .evaluation import gallery_arrays

    cancel = threading.Event()
    prev = signal.signal(signal.SIGINT, lambda *a: cancel.set())
    rows = []
    from tqdm import tqdm

    bar = tqdm(total=1.0, file=sys.stderr, bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}", disable=not main)
    from .errors import Cancelled

    if not main:
        try:
            with contextlib.redirect_stdout(sys.stderr):  # stdout carries rank 0's JSON only
                job(None, None, cancel)
        except Cancelled:
            return 130
        finally:
            signal.signal(signal.SIGINT, prev)
        return 0

    def on_progress(what: str, frac: float) -> None:
        bar.set_description_str(printable(what))
        bar.n = frac
        bar.refresh()

    def on_row(row, gallery) -> None:
        row.run_id = args.run
        d = row.to_dict()
        d["key"] = row.key
        project.add_eval_row(args.run, d, gallery_arrays(gallery))
        rows.append(row)
        bar.write(printable(f"{row.robust_acc:7.2%} [{row.ci_low:.1%}, {row.ci_high:.1%}]  clean {row.clean_acc:.2%}  "
                            f"{row.protocol_line()}  ({row.time_s:.1f} s)"), file=sys.stderr)
        for m in row.messages:  # (attack libraries' own output, captured)
            bar.write(printable(f"    {m}"), file=sys.stderr)

    status = 0
    try:
        # third-party attacks print; keep stdout for our own (JSON) output
        with project, contextlib.redirect_stdout(sys.stderr):
            job(on_row, on_progress, cancel)
    except Cancelled:
        bar.write(f"stopped by the user; {len(rows)} finished row(s) kept in the project", file=sys.stderr)
        status = 130
    finally:
        signal.signal(signal.SIGINT, prev)
        bar.close()
    if args.json:
        print(json.dumps([dict(r.to_dict(), protocol=r.protocol_line()) for r in rows], indent=2, sort_keys=True))
    return status


@command("checklist")
def cmd_checklist(args: argparse.Namespace) -> int:
    from .checklist import run_checklist

    eps = _parse_eps(args.eps)
    project, proto, device, cfg, ds, model = _prepare(args, write=False)
    items = run_checklist(model, ds.test, proto, device=device, eps=eps if eps is not None else _default_eps(cfg))
    if args.json:
        print(json.dumps([i.to_dict() for i in items], indent=2, sort_keys=True))
    else:
        for i in items:
            print(f"[{'PASS' if i.passed else 'FLAG'}] {printable(i.title)}\n       {printable(i.evidence)}")
    return 0


def _default_eps(cfg: RunConfig) -> float:
    from .defaults import default_eps_for

    return default_eps_for(cfg.data.name)


@command("timing")
def cmd_timing(args: argparse.Namespace) -> int:
    from .timing import time_defenses

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


@command("reproduce")
def cmd_reproduce(args: argparse.Namespace) -> int:
    from .lambda1 import parse_lambdas
    from .reproduce import reproduce
    from .runs import check_project_path

    lambdas = parse_lambdas(args.lambda1, []) if args.lambda1 is not None else None
    check_project_path(args.project)
    argv = "mfdv reproduce " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    with contextlib.redirect_stdout(sys.stderr):
        text = reproduce(args.experiment, scale=args.scale, project_path=args.project, data_root=args.data_root,
                         device=args.device, report=args.report, argv=argv, lambdas=lambdas,
                         log=lambda m: print(printable(m), file=sys.stderr))  # log lines quote run names
    if not args.report:
        print(printable(text, multiline=True))  # the report quotes run names from the project
    return 0


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from .export import export_csv
    from .store import Project

    n = export_csv(Project.open(args.project), args.csv, run_id=args.run)
    print(f"wrote {n} row(s) to {'standard output' if args.csv == '-' else args.csv}",
          file=sys.stderr if args.csv == "-" else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
