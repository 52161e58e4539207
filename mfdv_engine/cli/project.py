"""``mfdv runs``, ``show``, ``export``, ``delete``, ``trash``, ``import``, ``datasets``, ``reproduce``:
the project and its sources."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys

from ..safetext import printable  # every string from a file, before it reaches the terminal
from .common import command


@command("runs")
def cmd_runs(args: argparse.Namespace) -> int:
    from ..project.store import Project

    infos = [i for i in Project.open(args.project).runs() if set(args.tag) <= set(i.tags)]
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
        tags = f"  [{', '.join(i.tags)}]" if i.tags else ""
        print(printable(f"{i.run_id}  {i.status:<11} {i.name:<24} {what:<24} epochs {i.epochs_done}  {acc_s}{tags}"))
    return 0


@command("note")
def cmd_note(args: argparse.Namespace) -> int:
    from .. import api
    from ..errors import ConfigError

    if args.notes is None and args.tags is None:
        raise ConfigError("say what to set: --notes TEXT and/or --tags A,B")
    info = api.annotate(args.project, args.run, notes=args.notes, tags=args.tags)
    print(printable(f"{info.run_id}: tags [{', '.join(info.tags)}]; notes: {info.notes or '(none)'}", multiline=True))
    return 0


@command("show")
def cmd_show(args: argparse.Namespace) -> int:
    from .. import api

    d = api.show(args.project, args.run)
    info = d.info
    if args.json:
        print(json.dumps(dict(info.to_dict(), rows=[dict(r) for r in d.rows], results=d.results), indent=2,
                         sort_keys=True))
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
    print(f"  robustness rows: {len(d.rows)}" + (" (mfdv export --csv - prints them)" if d.rows else ""))
    for name, meta in sorted(d.results.items()):
        what = f"{len(meta.get('items', []))} items" if name == "checklist" else meta.get("kind", "")
        print(printable(f"  stored {name}: {what}"))
    return 0


@command("export")
def cmd_export(args: argparse.Namespace) -> int:
    from .. import api

    if args.curves is not None:
        out = args.curves
        n = api.export_curves(args.project, [args.run] if args.run else None, out, overwrite=args.overwrite)
    else:
        out = args.csv
        n = api.export_csv(args.project, out, run_id=args.run, overwrite=args.overwrite)
    print(f"wrote {n} row(s) to {'standard output' if out == '-' else out}",
          file=sys.stderr if out == "-" else sys.stdout)
    return 0


@command("matrix")
def cmd_matrix(args: argparse.Namespace) -> int:
    from .. import api

    fmt = args.format or ("md" if args.out == "-" else None)
    mat = api.matrix(args.project, args.run, path=args.out, format=fmt, overwrite=args.overwrite)
    if args.out != "-":
        print(f"wrote the matrix of {len(mat.runs)} run(s) × {len(mat.columns)} column(s) to {args.out}")
    return 0


@command("delete")
def cmd_delete(args: argparse.Namespace) -> int:
    from .. import api

    api.delete_run(args.project, args.run)
    print(printable(f"moved run {args.run} to the trash; `mfdv trash restore {args.run}` brings it back"))
    return 0


@command("trash")
def cmd_trash(args: argparse.Namespace) -> int:
    from .. import api
    from ..errors import ConfigError

    if args.action == "restore":
        if not args.run:
            raise ConfigError("say which run to restore: `mfdv trash restore ID` (`mfdv trash` lists them)")
        api.restore_run(args.project, args.run)
        print(printable(f"restored run {args.run}"))
    elif args.action == "empty":
        ids = api.empty_trash(args.project)
        print(printable(f"removed {len(ids)} run(s) for good: {', '.join(ids)}" if ids else "the trash is empty"))
    else:
        items = api.trashed_runs(args.project)
        print("the trash is empty" if not items else "\n".join(
            printable(f"{t.info.run_id}  {t.info.name:<24} {t.info.status:<11} deleted {t.trashed}") for t in items))
    return 0


@command("import")
def cmd_import(args: argparse.Namespace) -> int:
    from ..imported.byom import import_model
    from ..project.store import Project

    run_id = import_model(args.project, args.model_file, args.weights, args.dataset, args.name, args.data_root,
                          stochastic={"auto": None, "yes": True, "no": False}[args.stochastic],
                          limit_test=args.limit, device=args.device)
    f = Project.open(args.project).run(run_id).final
    print(printable(f"run {run_id}: imported {f['imported_from']}, clean accuracy {f['clean_acc']:.2%} "
                    f"({f['clean_acc_short']}); this machine now trusts that file"))
    return 0


@command("datasets")
def cmd_datasets(args: argparse.Namespace) -> int:
    from ..data.image_cache import clear_caches, list_caches
    from ..data.registry import describe_datasets, format_caches, format_datasets

    if args.clear_cache:
        n, freed = clear_caches()
        print(f"removed {n} cache(s), {freed / 2**20:.0f} MiB freed", file=sys.stderr)
        return 0
    if args.caches:
        caches = list_caches()
        print(json.dumps(caches, indent=2) if args.json else printable(format_caches(caches), multiline=True))
        return 0
    rows = describe_datasets()
    text = format_datasets(rows) + "\n\n" + format_caches(list_caches())
    print(json.dumps(rows, indent=2, sort_keys=True) if args.json else printable(text, multiline=True))
    return 0


@command("reproduce")
def cmd_reproduce(args: argparse.Namespace) -> int:
    from ..reproduction.lambda1 import parse_lambdas, parse_seeds
    from ..reproduction.tables import reproduce
    from ..training.runs import check_project_path

    lambdas = parse_lambdas(args.lambda1, []) if args.lambda1 is not None else None
    seeds = parse_seeds(args.seeds)
    check_project_path(args.project)
    argv = "mfdv reproduce " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else ""
    try:
        with contextlib.redirect_stdout(sys.stderr):
            text = reproduce(args.experiment, scale=args.scale, project_path=args.project, data_root=args.data_root,
                             device=args.device, report=args.report, argv=argv, lambdas=lambdas,
                             overwrite=args.overwrite, seeds=seeds, controls=args.controls,
                             log=lambda m: print(printable(m), file=sys.stderr))  # log lines quote run names
    except KeyboardInterrupt:
        print("mfdv: stopped by the user; finished runs and rows are kept, and the same command continues "
              "where it stopped (an interrupted run resumes from its last epoch)", file=sys.stderr)
        return 130
    if not args.report:
        print(printable(text, multiline=True))  # the report quotes run names from the project
    return 0
