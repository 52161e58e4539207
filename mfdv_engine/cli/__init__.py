"""The ``mfdv`` command: everything the studio does, headless.

Each command parses its arguments and calls :mod:`mfdv_engine.api`; nothing here
loads a model or stores a row. Bad input prints one sentence to stderr and
exits with code 2; nothing is written to the project in that case.
"""
from __future__ import annotations

import sys

from ..errors import MfdvError
from ..safetext import printable  # messages quote run ids and names from files
from . import evaluate, project, train  # noqa: F401  (register the commands)
from ..defaults import parse_eps
from .common import COMMANDS, attack_argv, train_argv
from .evaluate import report_rows
from .parser import build_parser

# train_argv, attack_argv, parse_eps and report_rows are re-exported for tests and tools
__all__ = ["COMMANDS", "attack_argv", "parse_eps", "report_rows", "train_argv", "build_parser", "evaluate",
           "main", "project", "train"]


def main(argv: list[str] | None = None) -> int:
    from ..calling import worded_for

    args = build_parser().parse_args(argv)
    try:
        with worded_for("cli"):  # its users type --data-root, not data_root=
            return COMMANDS[args.command](args)
    except MfdvError as e:
        print(f"mfdv: error: {printable(e)}", file=sys.stderr)  # messages quote run ids / names from files
        return 2
    except OSError as e:  # a file we were told to read or write: say which, no traceback
        from ..project.fsio import is_disk_full

        where = f" ({e.filename})" if e.filename else ""
        advice = ("the disk is full; free some space and run the command again (an interrupted run continues "
                  "with --resume)" if is_disk_full(e) else "check the path and its permissions")
        print(printable(f"mfdv: error: {e.strerror or e}{where}; {advice}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mfdv: stopped by the user", file=sys.stderr)
        return 130
