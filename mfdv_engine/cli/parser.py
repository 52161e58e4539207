"""The ``mfdv`` argument parser: every command's options, with help that says the defaults."""
from __future__ import annotations

import argparse

from .. import __version__
from ..config import list_presets
from ..defaults import EPS_RULE


class _Parser(argparse.ArgumentParser):
    """Usage errors as one sentence (exit 2), like every other bad input."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mfdv", description="MFDV Studio, headless: train, attack and inspect stochastic networks.")
    p.add_argument("--version", action="version", version=f"mfdv {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _train_commands(sub)
    _project_commands(sub)
    _evaluation_commands(sub)
    _reproduction_commands(sub)
    _more_project_commands(sub)
    return p


def _train_commands(sub) -> None:
    """mfdv train."""
    t = sub.add_parser("train", help="train a run (or resume one) into a project file")
    src = t.add_mutually_exclusive_group()
    src.add_argument("--preset", help=f"a preset name ({', '.join(list_presets())}); pick the data set with "
                     f"--set data.name=NAME (`mfdv datasets` lists them, e.g. mnist, cifar10 or imagefolder for "
                     f"your own images) and its training augmentation with --set data.augment=none|crop|crop-flip|auto")
    src.add_argument("--config", help="a JSON config file")
    src.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last checkpoint")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. train.epochs=3, defense.lambda1=0.05, defense=none")
    t.add_argument("--project", required=True, help="the project file (*.mfdv.h5); created if missing")
    t.add_argument("--data-root", metavar="DIR", help="the folder holding the data set's usual folder (DIR/MNIST/raw, "
                   "DIR/cifar-10-batches-py, ...) or that folder itself; for imagefolder the folder holding "
                   "train/<class>/ and test/<class>/; `mfdv datasets` shows every layout (default: the user data folder)")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), help="where to train (default: the config's)")
    t.add_argument("--epochs", type=int, help="number of epochs (shortcut for --set train.epochs=N)")
    t.add_argument("--limit-train", type=int, help="use only the first N training examples")
    t.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    t.add_argument("--nproc", type=int, metavar="N",
                   help="train data-parallel on N processes (one per GPU, or gloo on the CPU) via torch.distributed.run; "
                        "train.batch_size stays the global batch")


def _project_commands(sub) -> None:
    """mfdv runs, show."""
    r = sub.add_parser("runs", help="list the runs of a project")
    r.add_argument("--project", required=True)
    r.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only runs carrying this tag (repeat for runs carrying all of them)")
    r.add_argument("--json", action="store_true")

    nt = sub.add_parser("note", help="give a run notes and tags (to group and filter runs by)")
    nt.add_argument("--project", required=True)
    nt.add_argument("--run", required=True, metavar="ID")
    nt.add_argument("--notes", metavar="TEXT", help="the run's notes (replaces them; '' clears them)")
    nt.add_argument("--tags", metavar="A,B", help="the run's tags, comma-separated (replaces them; '' clears them)")

    s = sub.add_parser("show", help="print a run's config, status and final metrics")
    s.add_argument("--project", required=True)
    s.add_argument("--run", required=True, metavar="ID")
    s.add_argument("--json", action="store_true")


def _evaluation_commands(sub) -> None:
    """mfdv attack, sweep, checklist, noise."""
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

    nz = sub.add_parser("noise", help="where a run's learned noise sits: σ on the features that vary and on the "
                        "others, logit wobble across draws against spread across examples, one-draw/MC/σ=0 accuracy")
    nz.add_argument("--project", required=True)
    nz.add_argument("--run", required=True, metavar="ID")
    nz.add_argument("--n", type=int, default=1000, help="first N test examples (default 1000)")
    nz.add_argument("--draws", type=int, default=20, help="noise draws for the logits' wobble (default 20)")
    nz.add_argument("--mc", type=int, default=15, help="MC samples of the averaged prediction (default 15)")
    nz.add_argument("--seed", type=int, default=0)
    nz.add_argument("--data-root")
    nz.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    nz.add_argument("--json", action="store_true")


def _reproduction_commands(sub) -> None:
    """mfdv timing, reproduce."""
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
    rp.add_argument("--scale", default="smoke",
                    help="smoke: CPU, minutes (plumbing); cpu: 2 idle CPU cores, at most about 2 hours, full data on "
                    "a small network (table9, lambda1); gpu: one CUDA GPU, one run of at most ~9 minutes on an H100; "
                    "paper: the paper's settings on a GPU (gpu and paper need CUDA). An experiment without the "
                    "scale names the ones it has")
    rp.add_argument("--project", required=True)
    rp.add_argument("--data-root")
    rp.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    rp.add_argument("--report", metavar="OUT.md", help="write the Markdown report here (default: print it); "
                    "checked before anything runs")
    rp.add_argument("--overwrite", action="store_true", help="replace --report (and its .svg) even if it is not a "
                    "report this tool wrote (never a project, its lock or a read-only file)")
    rp.add_argument("--lambda1", metavar="LIST", help="lambda1 study only: the λ1 values, e.g. 0,0.02,0.1 "
                    "(default: the scale's list; cpu: 0,0.02,0.1,0.5)")
    rp.add_argument("--seeds", metavar="LIST", help="lambda1 study only: the training seeds, e.g. 0 or 0,1 "
                    "(default: the scale's); a later call with more seeds reuses the finished runs")
    rp.add_argument("--no-controls", dest="controls", action="store_false",
                    help="lambda1 study only: leave out the adversarially trained control (e.g. when an earlier "
                    "report already checked the same suite on it); the report then says it has no control")


def _more_project_commands(sub) -> None:
    """mfdv boundaries, import, export, delete, trash, datasets."""
    bd = sub.add_parser("boundaries", help="compute and store a run's decision-boundary data (grids, input slice, PCA)")
    bd.add_argument("--project", required=True)
    bd.add_argument("--run", required=True, metavar="ID")
    bd.add_argument("--points", type=int, default=300, help="test examples to use (default 300)")
    bd.add_argument("--data-root")
    bd.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    bd.add_argument("--json", action="store_true")

    im = sub.add_parser("import", help="record your own network (FILE.py:FUNCTION + weights) as a run to attack")
    im.add_argument("--project", required=True)
    im.add_argument("--model-file", required=True, metavar="FILE.py:FUNCTION",
                    help="a Python file and the function in it that returns the nn.Module (inputs in [0, 1], logits out)")
    im.add_argument("--weights", required=True, metavar="W.pt", help="a state_dict saved with torch.save (.pt/.pth), "
                    "or .safetensors; pickled Python objects are refused")
    im.add_argument("--dataset", default="mnist")
    im.add_argument("--name", help="the run's name (default: the model file's name)")
    im.add_argument("--data-root")
    im.add_argument("--stochastic", choices=("auto", "yes", "no"), default="auto",
                    help="whether its forward draws noise (auto: two passes on the same input differ)")
    im.add_argument("--limit", type=int, help="clean accuracy on the first N test examples (default: all)")
    im.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")

    e = sub.add_parser("export", help="write every robustness row (all protocol fields), or the training "
                       "curves, to CSV")
    e.add_argument("--project", required=True)
    e.add_argument("--run", metavar="ID", help="only this run (default: all)")
    out = e.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", metavar="OUT", help="the robustness rows' CSV file to write, or - for standard output")
    out.add_argument("--curves", metavar="OUT", help="the stored training curves instead: one line per step and "
                     "per epoch (run_id, kind, step, epoch, then each metric), or - for standard output")
    e.add_argument("--overwrite", action="store_true", help="replace OUT even if it is not a CSV this tool wrote "
                   "(never a project, its lock or a read-only file)")

    mx = sub.add_parser("matrix", help="the runs × attacks matrix: tidy CSV (numbers, one line per cell), "
                        "Markdown or LaTeX")
    mx.add_argument("--project", required=True)
    mx.add_argument("--run", action="append", metavar="ID", help="only these runs (repeat; default: all)")
    mx.add_argument("--out", metavar="FILE", default="-", help="file to write (.csv, .md or .tex), or - for "
                    "standard output (default)")
    mx.add_argument("--format", choices=("csv", "md", "tex"), help="the format (default: from --out's suffix; "
                    "md for standard output)")
    mx.add_argument("--overwrite", action="store_true", help="replace --out even if this tool did not write it")

    dl = sub.add_parser("delete", help="move a run to the project's trash (`mfdv trash restore ID` brings it back)")
    dl.add_argument("--project", required=True)
    dl.add_argument("--run", required=True, metavar="ID")

    tr = sub.add_parser("trash", help="list the deleted runs, restore one, or empty the trash for good")
    tr.add_argument("action", nargs="?", choices=("list", "restore", "empty"), default="list",
                    help="list (default): the deleted runs; restore ID: bring one back; empty: remove them for "
                    "good (the file keeps its size)")
    tr.add_argument("run", nargs="?", metavar="ID", help="the run to restore")
    tr.add_argument("--project", required=True)

    ds = sub.add_parser("datasets", help="list the data sets: folder layout under --data-root, default "
                        "augmentation, download, decode cache (MFDV_CACHE_DIR)")
    ds.add_argument("--json", action="store_true")
    ds.add_argument("--caches", action="store_true", help="list only the decoded-image caches, with their sizes")
    ds.add_argument("--clear-cache", action="store_true",
                    help="remove every decoded-image cache (data sets are decoded again on next use)")

def _protocol_args(a: argparse.ArgumentParser) -> None:
    a.add_argument("--eps", help=f"perturbation budget, e.g. 8/255 or 0.3 ({EPS_RULE})")
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
