"""The use-case layer: typed events, the cancel token, and results stored like rows
(checklist and decision boundaries survive reopening and are listed by `mfdv show`)."""
import json
import threading

import pytest

import mfdv_engine as mfdv
from mfdv_engine.cli import main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    p = tmp_path_factory.mktemp("api") / "p.mfdv.h5"
    cfg = mfdv.load_preset("demo-lenet-mfdv")
    cfg.data.limit_train = 1200
    events = []
    summary = mfdv.train(p, cfg, on_event=events.append)
    assert summary.status == "finished"
    return p, summary.run_id, events


SMALL = mfdv.Protocol(n=24, mc_samples=3, eot_samples=2, reeval=1, seed=0)


def test_training_reports_typed_events(trained):
    _, _, events = trained
    kinds = [e.kind for e in events if isinstance(e, mfdv.TrainingEvent)]
    assert kinds[0] == "run" and "step" in kinds and "epoch" in kinds and kinds[-1] == "finished"


def test_attack_stores_rows_and_announces_each(trained):
    p, rid, _ = trained
    seen = []
    res = mfdv.attack(p, rid, "fgsm", protocol=SMALL, on_event=seen.append)
    stored = [e.row for e in seen if isinstance(e, mfdv.RowStored)]
    assert [r["gradient"] for r in stored] == [r.gradient for r in res.rows] == ["single-sample", "EOT-2"]
    assert all("protocol" in r and "n=24" in r["protocol"] for r in stored)
    assert any(isinstance(e, mfdv.Progress) for e in seen)
    keys = {r["key"] for r in mfdv.show(p, rid).rows}
    assert {r.key for r in res.rows} <= keys


def test_a_set_cancel_token_stops_before_any_row(trained):
    p, rid, _ = trained
    cancel = threading.Event()
    cancel.set()
    before = len(mfdv.show(p, rid).rows)
    res = mfdv.attack(p, rid, "pgd10", protocol=SMALL, cancel=cancel)
    assert res.cancelled and res.rows == [] and len(mfdv.show(p, rid).rows) == before


def test_checklist_items_and_rows_are_stored_and_shown(trained, capsys):
    p, rid, _ = trained
    mine = mfdv.attack(p, rid, "fgsm", protocol=SMALL)[0]
    items = mfdv.checklist(p, rid, protocol=SMALL, square_queries=20)
    rows = mfdv.show(p, rid).rows
    kept = [r for r in rows if r.key == mine.key]
    assert len(kept) == 1 and kept[0].robust_acc == mine.robust_acc  # the checklist never replaces a user's row
    assert any(r.attack == "fgsm" and r.key.endswith("|in=checklist") for r in rows)
    stored = mfdv.stored_checklist(p, rid)
    assert [i["title"] for i in stored["items"]] == [i.title for i in items] and stored["protocol"]["n"] == 24
    attacks = {r["attack"] for r in mfdv.show(p, rid).rows}
    assert {"pgd10", "square", "pgd"} <= attacks  # the checklist's own attack rows reach the table
    assert main(["show", "--project", str(p), "--run", rid]) == 0
    assert f"stored checklist: {len(items)} items" in capsys.readouterr().out


def test_boundaries_are_stored_and_the_command_exists(trained, capsys):
    p, rid, _ = trained
    assert main(["boundaries", "--project", str(p), "--run", rid, "--points", "60", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kind"] == "image" and out["slice_pred"][0] > 1
    again = mfdv.stored_boundaries(mfdv.open_project(p), rid)  # as a reopened project shows them
    assert again["kind"] == "image" and again["slice_pred"].shape == tuple(out["slice_pred"])
    assert again["labels"].shape == (60,)


def test_show_of_an_unknown_run_is_one_sentence(trained):
    p, _, _ = trained
    with pytest.raises(mfdv.MfdvError, match="no run 'r999'"):
        mfdv.show(p, "r999")


def test_project_calls_take_lists_and_dicts_and_give_one_result_type(trained):
    """Issue 20: attacks as a list, params as a dict, the protocol as a dict; show().rows are the same
    Row type as attack().rows and still read like the stored dicts."""
    p, rid, _ = trained
    res = mfdv.attack(p, rid, ["fgsm", "pgd10"], params={"pgd10": {"steps": 3}},
                      protocol={"n": 24, "mc_samples": 3, "eot_samples": 2, "reeval": 1}, keep_examples=True)
    assert isinstance(res, mfdv.Result) and {r.attack for r in res} == {"fgsm", "pgd10"}
    assert all(r.steps in (None, 3) for r in res) and res.adversarial(res[0]).shape[0] == 24
    shown = mfdv.show(p, rid).rows
    assert all(isinstance(r, mfdv.Row) for r in shown)
    stored = {r["key"]: r for r in shown}
    for r in res:
        assert stored[r.key].robust_acc == r.robust_acc and stored[r.key]["protocol"] == r.protocol_line()
    assert json.loads(json.dumps(dict(shown[0])))["attack"] == shown[0].attack


def test_the_checklist_honours_cancel(trained):
    p, rid, _ = trained
    cancel = threading.Event()
    cancel.set()
    before = mfdv.show(p, rid)
    assert mfdv.checklist(p, rid, protocol=SMALL, eps=0.2, cancel=cancel) == []
    after = mfdv.show(p, rid)
    assert after.results == before.results and len(after.rows) == len(before.rows)  # stopped before its first row


def test_matrix_timing_and_train_summary_are_in_the_api(trained, tmp_path):
    p, rid, _ = trained
    mat = mfdv.matrix(p)
    assert mat.runs[0].run_id == rid and "| run | id |" in mat.to_markdown()
    mfdv.matrix(p, path=tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().startswith("run_id,run_name,clean_acc")
    with pytest.raises(mfdv.MfdvError, match="format must be"):
        mfdv.matrix(p, format="xls")
    res = mfdv.timing("demo", "lenet", ["none", "mfdv"], preset="demo-lenet-mfdv", limit_train=256)
    assert set(res.median_s) == {"none", "mfdv"} and res.ratio("mfdv", "none") > 0
    assert mfdv.TrainSummary.__name__ == "TrainSummary"


def test_reproduce_runs_twice_in_one_process(tmp_path, monkeypatch, data_root):
    """Issue 22.5: the second call raised TypeError: 'module' object is not callable."""
    for _ in range(2):
        with pytest.raises(mfdv.MfdvError, match="no scale 'cpu'"):
            mfdv.reproduce("table1", scale="cpu", project=tmp_path / "r.mfdv.h5")
    assert callable(mfdv.reproduce)


def test_wrong_types_are_one_sentence_naming_the_argument(trained):
    p, rid, _ = trained
    for call, says in ((lambda: mfdv.runs(3), "project must"), (lambda: mfdv.attack(p, rid, None), "attacks must"),
                       (lambda: mfdv.attack(p, rid, "fgsm", protocol={"n": "x"}), "n"),
                       (lambda: mfdv.attack(p, rid, "fgsm", params=[1]), "params must"),
                       (lambda: mfdv.attack(p, 5, "fgsm"), "run_id must"),
                       (lambda: mfdv.train(p, None), "config must"),
                       (lambda: mfdv.export_csv(p, None), "path must"),
                       (lambda: mfdv.attack(p, rid, "fgsm", on_event="print"), "on_event must"),
                       (lambda: mfdv.attack(p, rid, "fgsm", bogus=1), "unexpected keyword")):
        with pytest.raises(mfdv.MfdvError, match=says):
            call()
