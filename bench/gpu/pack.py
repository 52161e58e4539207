"""Pack what an offline GPU machine (torch, torchvision, h5py only) needs to run `mfdv reproduce`.

Writes an ignored folder inside the repository (default ``.gpu-pack/``):

- ``cifar10-jpeg.tar.gz``: the CIFAR-10 JPEG archive, copied as is;
- ``site/``: the pure-Python wheels of torchattacks, pyautoattack, platformdirs
  and tqdm (versions as pinned in pyproject.toml), unzipped, without
  ``pyautoattack/examples/`` (a 42 MB model file nobody imports);
- ``PACK.json``: what went in (versions, sizes, sha256 of the archive).

It prints one JSON object with the total size and exits 1 if that is over
``--max-mib`` (the device tool carries at most 64 MiB with the working tree).
Standard library only; the wheels come from ``python -m pip download``.
Usage: python bench/gpu/pack.py [--archive PATH] [--out DIR] [--python-version 3.12]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("torchattacks", "pyautoattack", "platformdirs", "tqdm")
#: members of a wheel left out of site/ (pyautoattack's example models: 42 MB, never imported)
EXCLUDE_PREFIXES = ("pyautoattack/examples/",)
MARKER = "PACK.json"


class PackError(Exception):
    """A problem the user can fix; printed as one sentence, exit 2."""


def default_archive() -> Path:
    data = Path(os.environ.get("MFDV_DATA_DIR", REPO.parent / "shared" / "datasets"))
    return data / "cifar10-jpeg.tar.gz"


def pinned_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The pyproject.toml dependency strings of PACKAGES, e.g. ``torchattacks>=3.5.1,<4``."""
    text = pyproject.read_text()
    try:
        import tomllib

        deps = tomllib.loads(text)["project"]["dependencies"]
    except ImportError:  # Python 3.10: the quoted strings of the dependencies list
        block = re.search(r"^dependencies\s*=\s*\[(.*?)^\]", text, re.S | re.M)
        deps = re.findall(r'"([^"]+)"', block.group(1)) if block else []
    found = {}
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower()
        if name in PACKAGES:
            found[name] = dep.replace(" ", "")
    missing = [p for p in PACKAGES if p not in found]
    if missing:
        raise PackError(f"{pyproject} pins no version of {', '.join(missing)}; add it to [project] dependencies")
    return [found[p] for p in PACKAGES]


def download_wheels(requirements: list[str], dest: Path, python_version: str) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", python_version, "-d", str(dest), *requirements]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise PackError(f"pip download failed ({last}); check the network or the package index")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(requirements):
        raise PackError(f"pip download gave {len(wheels)} wheels for {len(requirements)} packages in {dest}")
    return wheels


def unpack_wheel(wheel: Path, site: Path, exclude: tuple[str, ...] = EXCLUDE_PREFIXES) -> tuple[int, int]:
    """Unzip ``wheel`` into ``site`` without the ``exclude`` prefixes: (files written, files left out)."""
    written = skipped = 0
    root = site.resolve()
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir():
                continue
            if name.startswith(exclude):
                skipped += 1
                continue
            target = (site / name).resolve()
            if root not in target.parents:
                raise PackError(f"{wheel.name} holds a path outside its folder ({name}); refusing to unpack it")
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            written += 1
    return written, skipped


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def prepare_out(out: Path) -> None:
    """An empty folder, or one this script wrote before (its site/ is rebuilt); never someone else's."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise PackError(f"{out} exists and was not written by this script (no {MARKER}); choose another --out")
    shutil.rmtree(out / "site", ignore_errors=True)
    (out / "site").mkdir(parents=True)


def pack(archive: Path, out: Path, python_version: str) -> dict:
    if not archive.is_file():
        raise PackError(f"the CIFAR-10 archive {archive} does not exist; pass --archive or set MFDV_DATA_DIR")
    requirements = pinned_requirements()
    prepare_out(out)
    shutil.copy2(archive, out / archive.name)
    wheels = []
    with tempfile.TemporaryDirectory(prefix="gpu-pack-wheels-") as tmp:
        for whl in download_wheels(requirements, Path(tmp), python_version):
            written, skipped = unpack_wheel(whl, out / "site")
            wheels.append({"wheel": whl.name, "wheel_bytes": whl.stat().st_size, "files": written,
                           "files_left_out": skipped})
    manifest = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "python_version": python_version, "requirements": requirements, "wheels": wheels,
                "archive": {"name": archive.name, "bytes": archive.stat().st_size, "sha256": sha256(archive)},
                "left_out": list(EXCLUDE_PREFIXES)}
    (out / MARKER).write_text(json.dumps(manifest, indent=2) + "\n")
    total = folder_size(out)
    return dict(manifest, out=str(out), site_bytes=folder_size(out / "site"), total_bytes=total,
                total_mib=round(total / 2**20, 2))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archive", type=Path, default=default_archive(), help="CIFAR-10 JPEG archive to copy")
    ap.add_argument("--out", type=Path, default=REPO / ".gpu-pack", help="pack folder (ignored by git)")
    ap.add_argument("--python-version", default="3.12", help="the GPU machine's Python (wheels must match)")
    ap.add_argument("--max-mib", type=float, default=48.0, help="fail above this total (device limit: 64 MiB)")
    args = ap.parse_args(argv)
    try:
        result = pack(args.archive, args.out, args.python_version)
    except PackError as e:
        print(f"pack: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    if result["total_mib"] > args.max_mib:
        print(f"pack: error: the pack is {result['total_mib']} MiB, over --max-mib {args.max_mib}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
