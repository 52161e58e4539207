"""Run one experiment at `gpu` scale on an offline GPU machine, from the repository root.

Needs the pack written by ``bench/gpu/pack.py`` (``.gpu-pack/``: the CIFAR-10
archive and ``site/`` with torchattacks, pyautoattack, platformdirs, tqdm)
and a Python with torch, torchvision and h5py. It

1. unpacks the archive once into ``--data`` (default ``.gpu-data/``, ignored by
   git): ``<data>/cifar10-jpeg/{train,test}/<class>/*.jpg``, the layout
   ``--data-root <data>`` reads; decoded tensors are cached in ``<data>/cache``;
2. runs ``python -m mfdv_engine.cli reproduce EXPERIMENT --scale gpu --device cuda
   --project <project-dir>/EXPERIMENT.mfdv.h5 --data-root <data> --report <out>/EXPERIMENT.md``
   with ``PYTHONPATH`` = the repository + ``.gpu-pack/site``, its output also
   going to ``<out>/EXPERIMENT.log``;
3. writes ``<out>/EXPERIMENT.run.json``: the command, wall times (data
   preparation and the experiment), exit code and ``nvidia-smi`` output (written
   once before the run with ``returncode: null``, so a killed run leaves it too).

``--dry-run`` does step 1 and prints the command and environment without running it.
Usage: python3 bench/gpu/run.py EXPERIMENT OUT_DIR [--dry-run] [--scale gpu] [--project-dir DIR] [--lambda1 0,0.5]
Exit code: the experiment's (2 with one sentence for bad arguments or a missing pack).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHIVE = "cifar10-jpeg.tar.gz"
NEEDED = ("torchattacks", "pyautoattack", "platformdirs", "tqdm")


class RunError(Exception):
    """Bad arguments or a missing pack: one sentence, exit 2."""


def experiments() -> list[str]:
    folder = REPO / "resources" / "presets" / "experiments"
    return sorted(p.stem for p in folder.glob("*.json") if not p.stem.endswith(".paper"))


def check_pack(pack: Path) -> None:
    missing = [n for n in NEEDED if not (pack / "site" / n).is_dir()]
    if not (pack / ARCHIVE).is_file() or missing:
        what = f"{ARCHIVE}" if not (pack / ARCHIVE).is_file() else f"site/{missing[0]}"
        raise RunError(f"the pack {pack} has no {what}; run `python bench/gpu/pack.py` on a machine with "
                       "internet and carry .gpu-pack along")


def prepare_data(pack: Path, data: Path) -> bool:
    """Unpack the CIFAR-10 archive into ``data`` once; True if it was unpacked now."""
    done = data / ".cifar10-jpeg.complete"
    if done.is_file() and (data / "cifar10-jpeg" / "train").is_dir() and (data / "cifar10-jpeg" / "test").is_dir():
        return False
    data.mkdir(parents=True, exist_ok=True)
    tmp = data / f".extract-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with tarfile.open(pack / ARCHIVE) as tf:
            tf.extractall(tmp, filter="data")
    except (OSError, tarfile.TarError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"cannot unpack {pack / ARCHIVE} ({e}); run bench/gpu/pack.py again") from None
    base = tmp / "cifar10-jpeg"
    if not ((base / "train").is_dir() and (base / "test").is_dir()):
        shutil.rmtree(tmp, ignore_errors=True)
        raise RunError(f"{pack / ARCHIVE} holds no cifar10-jpeg/train and cifar10-jpeg/test folders")
    shutil.rmtree(data / "cifar10-jpeg", ignore_errors=True)
    os.replace(base, data / "cifar10-jpeg")
    shutil.rmtree(tmp, ignore_errors=True)
    done.touch()
    return True


def build_command(args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
    name = args.experiment
    cmd = [args.python, "-m", "mfdv_engine.cli", "reproduce", name, "--scale", args.scale, "--device", args.device,
           "--project", str(args.project_dir / f"{name}.mfdv.h5"), "--data-root", str(args.data),
           "--report", str(args.out / f"{name}.md")] + (["--lambda1", args.lambda1] if args.lambda1 else [])
    path = os.pathsep.join([str(REPO), str((args.pack / "site").resolve())]
                           + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
    env = {"PYTHONPATH": path, "MFDV_CACHE_DIR": str(args.data / "cache"), "PYTHONUNBUFFERED": "1"}
    return cmd, env


def nvidia_smi() -> str:
    try:
        return subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return f"nvidia-smi not available: {e}"


def run_logged(cmd: list[str], env: dict[str, str], log: Path) -> int:
    """Run ``cmd`` from the repository root, its output to our stdout and to ``log``."""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1)
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
        return proc.wait()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("experiment", help="table1, table3, table4, table8, table9, fig3, eot, ...")
    ap.add_argument("out", type=Path, help="folder for the report, log and run JSON (created if missing)")
    ap.add_argument("--scale", default="gpu", help="experiment scale (default gpu)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--pack", type=Path, default=REPO / ".gpu-pack")
    ap.add_argument("--data", type=Path, default=REPO / ".gpu-data", help="where the archive is unpacked")
    ap.add_argument("--project-dir", type=Path, help="folder of the project file (default: OUT; use one that "
                    "outlives OUT, e.g. .gpu-data/projects, to resume an interrupted run)")
    ap.add_argument("--python", default=sys.executable, help="the Python with torch, torchvision and h5py")
    ap.add_argument("--lambda1", help="lambda1 study only: the λ1 values instead of the scale's (e.g. 0,0.5)")
    ap.add_argument("--dry-run", action="store_true", help="prepare the data, print the command, run nothing")
    args = ap.parse_args(argv)
    if args.experiment not in experiments():
        raise RunError(f"unknown experiment {args.experiment!r}; choose one of: {', '.join(experiments())}")
    args.data = args.data.resolve()
    args.out = args.out.resolve()
    args.project_dir = (args.project_dir or args.out).resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
        check_pack(args.pack)
        t0 = time.perf_counter()
        unpacked = prepare_data(args.pack, args.data)
        data_s = time.perf_counter() - t0
    except RunError as e:
        print(f"run: error: {e}", file=sys.stderr)
        return 2
    cmd, env = build_command(args)
    if args.dry_run:
        print("env: " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
        print("command: " + shlex.join(cmd))
        print(f"data: {args.data / 'cifar10-jpeg'} ({'unpacked now' if unpacked else 'already unpacked'})")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    args.project_dir.mkdir(parents=True, exist_ok=True)
    record = {"experiment": args.experiment, "scale": args.scale, "command": shlex.join(cmd), "env": env,
              "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "data_prep_s": round(data_s, 1), "data_unpacked_now": unpacked, "nvidia_smi": nvidia_smi()}
    record_path = args.out / f"{args.experiment}.run.json"
    record_path.write_text(json.dumps(dict(record, returncode=None), indent=2) + "\n")  # if the run is killed
    t0 = time.perf_counter()
    rc = run_logged(cmd, env, args.out / f"{args.experiment}.log")
    record.update(wall_s=round(time.perf_counter() - t0, 1), returncode=rc,
                  ended=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    where = f"report {args.out / (args.experiment + '.md')}" if rc == 0 else f"log {args.out / (args.experiment + '.log')}"
    print(f"{args.experiment}: exit {rc} after {record['wall_s']} s; {where}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
