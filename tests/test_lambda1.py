"""`mfdv reproduce lambda1 --scale smoke` end to end on the real MNIST, and its bad input."""
import re

import pytest

from mfdv_engine.cli import main
from mfdv_engine.errors import ConfigError
from mfdv_engine.reproduction.lambda1 import COLUMNS, parse_lambdas
from mfdv_engine.reproduction.plots import Series, interval_plot_svg
from mfdv_engine.reproduction.experiments import Experiment
from mfdv_engine.project.store import Project


def test_lambda1_smoke_report_has_every_cell_with_its_protocol(tmp_path, data_root, capsys):
    p, report = tmp_path / "l.mfdv.h5", tmp_path / "lambda1.md"
    code = main(["reproduce", "lambda1", "--scale", "smoke", "--lambda1", "0,0.05,1000", "--project", str(p),
                 "--data-root", str(data_root), "--device", "cpu", "--report", str(report)])
    assert code == 0
    text = report.read_text()
    table = [l for l in text.splitlines() if l.startswith("| ") and "| 0 |" in l]  # seed 0's rows
    labels = [l.split("|")[1].strip() for l in table]
    assert labels == ["plain", "λ1=0", "λ1=0.05", "λ1=1000"]
    rows = dict(zip(labels, table))
    for lab in ("λ1=0", "λ1=0.05"):  # σ mean, clean and every column, each with an interval
        cells = [c.strip() for c in rows[lab].strip("|").split("|")]
        assert float(cells[2]) > 0 and float(cells[3]) >= 0 and all("[" in c for c in cells[4:8]), rows[lab]
    assert "diverged" in rows["λ1=1000"] and "training stopped" in rows["λ1=1000"]  # a result, not a gap
    for lab in labels[:3]:  # every finished run's wall time: training + evaluation, in minutes
        wall = re.search(r"\| (\d+\.\d+) \((\d+\.\d+) \+ (\d+\.\d+)\) \|", rows[lab])
        assert wall and abs(float(wall[1]) - float(wall[2]) - float(wall[3])) <= 0.11 and float(wall[1]) > 0, rows[lab]
    plain = [c.strip() for c in rows["plain"].strip("|").split("|")]
    assert plain[2] == plain[3] == "—" and plain[6] == "—" and "[" in plain[7]  # no σ, no EOT row; the suite runs
    for lab in ("λ1=0", "λ1=0.05"):  # every cell's protocol is written out
        for col in COLUMNS:
            assert any(l.startswith(f"- {lab}, {col}:") and "MC-8" in l and "n=100" in l for l in text.splitlines())
    assert "worst case of 8" in text and "broken first by" in text
    assert re.search(r"^- λ1=0, noise: head\.\d+: \d+/\d+ features live.*accuracy: one draw", text, re.M)
    svg = tmp_path / "lambda1.svg"
    assert svg.is_file() and "<svg" in svg.read_text() and "lambda1.svg" in text
    assert "test examples only" in text  # the intervals say what they cover
    statuses = sorted(r.status for r in Project.open(p).runs())
    assert statuses == ["failed", "finished", "finished", "finished"]
    assert re.search(r"^\s+\d+\.\d%", capsys.readouterr().err, re.M)  # the first run computed its rows
    assert main(["reproduce", "lambda1", "--scale", "smoke", "--lambda1", "0,0.05,1000", "--project", str(p),
                 "--data-root", str(data_root), "--device", "cpu", "--report", str(report)]) == 0
    log = capsys.readouterr().err
    computed = [l for l in log.splitlines() if l.startswith("training ") or re.match(r"\s+\d+\.\d%", l)]
    assert not computed, log  # every run, row and suite (plain's too) reused; the diverged run is not retrained
    assert len(Project.open(p).runs()) == 4


def test_lambda1_bad_input_is_one_sentence_and_touches_nothing(tmp_path, capsys):
    p = tmp_path / "l.mfdv.h5"
    for args, says in ((["--lambda1", "0,-0.1"], "numbers ≥ 0"), (["--lambda1", "a"], "numbers ≥ 0"),
                       (["--scale", "gpu", "--device", "cpu"], "--scale smoke")):
        assert main(["reproduce", "lambda1", "--project", str(p)] + args) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err
    assert not p.exists()
    with pytest.raises(ConfigError):
        parse_lambdas("0,inf", [])


def test_lambda1_experiment_has_four_scales_with_seeds():
    exp = Experiment.load("lambda1")
    assert list(exp.scales) == ["smoke", "cpu", "gpu", "paper"]
    assert [float(v) for v in exp.lambdas] == [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5]
    assert "estimated" in exp.scales["gpu"]["notes"]


def test_lambda1_gpu_scale_trains_the_decisive_values_for_at_least_30_epochs():
    """Issue 19.4: at 12 epochs λ1 = 0.1 reached 17 % PGD-10, at 30 epochs 52 %: plain, 0.02 and 0.1 get ≥ 30."""
    from mfdv_engine.reproduction.lambda1 import scale_lambdas, study_configs

    exp = Experiment.load("lambda1")
    plan = study_configs(exp, "gpu", scale_lambdas(exp, "gpu", None))
    labels = {r.label for r, _ in plan}
    assert {"plain", "λ1=0.02", "λ1=0.1"} <= labels
    assert all(c.train.epochs >= 30 for _, c in plan)
    assert all(c.model.name == "resnet18" and c.data.limit_train is None for _, c in plan)


def test_lambda1_cpu_scale_is_simplenet_with_the_issue_lambdas_seeds_and_a_control():
    """Issue 19: plain, λ1 ∈ {0, 0.02, 0.1, 0.5}, two seeds, every run with the suite on n ≥ 500,
    and a PGD-AT control of the same network; plain and λ1 = 0.02 (seed 0) are Table 9's runs."""
    from mfdv_engine.reproduction.experiments import same_config
    from mfdv_engine.reproduction.lambda1 import scale_lambdas, study_configs

    exp = Experiment.load("lambda1")
    sc = exp.scales["cpu"]
    assert scale_lambdas(exp, "cpu", None) == [0, 0.02, 0.1, 0.5] and sc["seeds"] == [0, 1]
    assert sc["suite"]["n"] >= 500 and "suite_seeds" not in sc
    plan = study_configs(exp, "cpu", scale_lambdas(exp, "cpu", None))
    assert {c.model.name for _, c in plan} == {"simplenet"} and {c.data.name for _, c in plan} == {"cifar10"}
    assert all(c.data.limit_train is None for _, c in plan)  # the full training set
    control = [(r, c) for r, c in plan if r.control]
    assert [c.defense.name for _, c in control] == ["pgd-at"]
    table9 = Experiment.load("table9")
    shared = {r["label"]: table9.run_config(r, "cpu").to_dict() for r in table9.rows if r.get("group") == "simplenet"}
    for run, cfg in plan:
        if run.seed == 0 and run.label in ("plain", "λ1=0.02"):
            assert any(same_config(cfg.to_dict(), t) for t in shared.values()), run.label


def test_lambda1_seeds_choose_the_training_seeds_and_the_control_follows_the_first():
    """The control's verdict decides whether any number can be published, so it is trained right
    after the first seed; ``--seeds 0`` runs seed 0 and the control, a later ``--seeds 0,1`` adds seed 1."""
    from mfdv_engine.reproduction.lambda1 import parse_seeds, scale_lambdas, study_configs

    exp = Experiment.load("lambda1")
    lams = scale_lambdas(exp, "cpu", None)
    order = [(r.seed, r.control) for r, _ in study_configs(exp, "cpu", lams)]
    assert order == [(0, False)] * 5 + [(0, True)] + [(1, False)] * 5
    one = study_configs(exp, "cpu", lams, parse_seeds("0"))
    assert [(r.seed, r.control) for r, _ in one] == [(0, False)] * 5 + [(0, True)]
    assert [r.seed for r, _ in study_configs(exp, "cpu", [0.1], parse_seeds("3"))] == [3, 3, 0]
    without = study_configs(exp, "cpu", lams, parse_seeds("0,1"), controls=False)  # --no-controls
    assert [(r.seed, r.control) for r, _ in without] == [(0, False)] * 5 + [(1, False)] * 5
    for bad in ("", "a", "-1", "0.5"):
        with pytest.raises(ConfigError, match="--seeds needs whole numbers"):
            parse_seeds(bad)


def test_seeds_apply_to_the_lambda1_study_only(tmp_path, capsys):
    p = tmp_path / "t.mfdv.h5"
    assert main(["reproduce", "table9", "--seeds", "0", "--project", str(p)]) == 2
    err = capsys.readouterr().err
    assert "--seeds applies to the lambda1 study only" in err and "Traceback" not in err
    assert not p.exists()


def test_a_report_without_its_control_says_so_instead_of_a_verdict():
    """--no-controls must not read as a checked suite: the report names the control it left out."""
    from mfdv_engine.reproduction.lambda1 import StudyRun, _control_lines

    lines = _control_lines([StudyRun("plain", None, 0)], ["PGD-AT"])
    assert any("control PGD-AT: not run in this call (--no-controls)" in l and "earlier report" in l for l in lines)
    assert _control_lines([StudyRun("plain", None, 0)]) == []  # a scale without controls: no section


def test_no_controls_applies_to_the_lambda1_study_only(tmp_path, capsys):
    p = tmp_path / "t.mfdv.h5"
    assert main(["reproduce", "table9", "--no-controls", "--project", str(p)]) == 2
    err = capsys.readouterr().err
    assert "--no-controls applies to the lambda1 study only" in err and "Traceback" not in err
    assert not p.exists()


def test_interval_plot_draws_each_point_with_its_interval():
    svg = interval_plot_svg([Series("a", [("0", 0.5, 0.4, 0.6), ("0.1", None, 0, 0), ("0.2", 0.2, 0.1, 0.3)])],
                            title="t", xlabel="λ1", ylabel="robust accuracy (%)")
    assert svg.count("<circle") == 2 and svg.count("<polyline") == 1 and "λ1" in svg
