"""Terminal escapes and spoofing characters from a project file never reach a terminal or a widget raw."""
import json
import re

import h5py
import pytest

from mfdv_engine.safetext import printable

# clear screen, set the window title (OSC 0), write the clipboard (OSC 52), one-byte CSI, right-to-left override
EVIL = "x\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGVsbG8=\x07\x9b6n\u202etxt.exe"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")  # \n allowed (multi-line)


# ---------------------------------------------------------------- printable

@pytest.mark.parametrize("raw, shown", [
    ("\x1b", "\\x1b"), ("\x07", "\\x07"), ("\x9b", "\\x9b"), ("\x7f", "\\x7f"), ("\u202e", "\\u202e"),
    ("\u2066", "\\u2066"), ("\u200f", "\\u200f"), ("\x00", "\\x00"), ("\x85", "\\x85"),
    ("\t", "\\t"), ("\r", "\\r"), ("\n", "\\n"), ("\u2028", "\\u2028"),
])
def test_each_control_is_shown_escaped(raw, shown):
    assert printable(f"a{raw}b") == f"a{shown}b"


def test_osc52_clipboard_write_is_inert():
    s = printable("\x1b]52;c;aGVsbG8=\x07")
    assert s == "\\x1b]52;c;aGVsbG8=\\x07"
    assert not RAW.search(s)


def test_normal_unicode_is_unchanged():
    for name in ("Résumé σ-run", "mnist-lenet-mfdv", "模型 ε=8/255 ✓", "C:\\runs\\a b", "👩‍🔬 lab"):
        assert printable(name) == name


def test_multiline_keeps_newlines_only():
    assert printable("a\nb\r\x1b", multiline=True) == "a\nb\\r\\x1b"
    assert printable("a\nb") == "a\\nb"


def test_limit_never_cuts_an_escape():
    s = printable("ab\x1bcdef", limit=5)
    assert s == "ab…" and len(s) <= 5
    assert printable("abcdef", limit=4) == "abc…"
    assert printable("abc", limit=3) == "abc"


def test_non_strings():
    assert printable(ValueError("no run 'r\x1b'")) == "no run 'r\\x1b'"


def test_lone_surrogates_are_escaped_so_output_can_be_encoded():
    s = printable("p\udcff.h5")
    assert s == "p\\udcff.h5"
    s.encode("utf-8")


# ---------------------------------------------------------------- a project written by a stranger

def _evil_project(path):
    """A project whose run name, message, start time, config and final metrics, and a robustness row, hold escapes."""
    from mfdv_engine.config import RunConfig
    from mfdv_engine.evaluation import Row
    from mfdv_engine.project.store import Project

    cfg = RunConfig().to_dict()
    cfg["description"] = EVIL
    p = Project.open(path, create=True)
    with p:
        rid = p.create_run(cfg, EVIL)
        p.merge_live(rid, "finished", message=EVIL)
        row = Row(attack=EVIL, norm="Linf", eps=0.1, steps=10, gradient="single-sample", eot_samples=1, mc_samples=1,
                  n=10, seed=0, reeval=1, clean_acc=0.9, robust_acc=0.5, robust_acc_mean=0.5, ci_low=0.2, ci_high=0.8,
                  time_s=1.0, params={"note": EVIL}, messages=[EVIL], run_id=rid)
        d = row.to_dict()
        d["key"] = row.key
        p.add_eval_row(rid, d)
        sweep = Row(**dict(row.to_dict(), attack="pgd", params={"sweep": "eps", "loss": EVIL}))
        p.add_eval_row(rid, dict(sweep.to_dict(), key=sweep.key))
    with h5py.File(path, "a") as f:  # what no writer of ours would store, but a hand-made file can
        a = f["runs"][rid].attrs
        a["started"] = EVIL
        a["epochs_done"] = 1
        a["final"] = json.dumps({"clean_acc": 0.5, "clean_acc_protocol": EVIL, "note": EVIL})
    return rid


def _assert_clean(text):
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\u202e" not in text, repr(text)
    assert not RAW.search(text), repr(text)


def test_cli_runs_and_show_escape_file_text(tmp_path, capsys):
    from mfdv_engine.cli import main

    path = tmp_path / "p.mfdv.h5"
    rid = _evil_project(path)
    for argv in (["runs", "--project", str(path)], ["show", "--project", str(path), "--run", rid]):
        assert main(argv) == 0
        cap = capsys.readouterr()
        _assert_clean(cap.out)
        _assert_clean(cap.err)
        assert "\\x1b]52;c;aGVsbG8=\\x07" in cap.out and "\\u202etxt.exe" in cap.out, cap.out


def test_cli_json_output_is_escaped_by_json_itself(tmp_path, capsys):
    from mfdv_engine.cli import main

    path = tmp_path / "p.mfdv.h5"
    rid = _evil_project(path)
    for argv, pick in ((["runs", "--project", str(path), "--json"], lambda d: d[0]),
                       (["show", "--project", str(path), "--run", rid, "--json"], lambda d: d)):
        assert main(argv) == 0
        out = capsys.readouterr().out
        _assert_clean(out)
        assert pick(json.loads(out))["name"] == EVIL  # lossless: the name itself, escaped only on the wire


def test_cli_error_quoting_a_stranger_path_is_escaped(tmp_path, capsys):
    from mfdv_engine.cli import main

    # a folder name from an unpacked archive: the error sentence quotes it
    path = tmp_path / "evil\x1b]0;pwned\x07" / "p.mfdv.h5"
    assert main(["runs", "--project", str(path)]) == 2
    err = capsys.readouterr().err
    _assert_clean(err)
    assert "mfdv: error:" in err and "\\x1b]0;pwned\\x07" in err, err


def test_cli_error_message_is_sanitised_by_main(monkeypatch, capsys):
    from mfdv_engine import cli
    from mfdv_engine.errors import ProjectError

    def boom(args):
        raise ProjectError(f"no run named {EVIL}")

    monkeypatch.setitem(cli.COMMANDS, "runs", boom)
    assert cli.main(["runs", "--project", "x.mfdv.h5"]) == 2
    cap = capsys.readouterr()
    _assert_clean(cap.err)
    assert "\\x1b[2J" in cap.err


def test_cli_attack_rows_and_messages_are_escaped(tmp_path, capsys):
    """``report_rows`` prints each stored row and the attack's messages (third-party text) to stderr."""
    import argparse

    from mfdv_engine import api, cli
    from mfdv_engine.evaluation import Row
    from mfdv_engine.events import Progress
    from mfdv_engine.project.store import Project

    path = tmp_path / "p.mfdv.h5"
    rid = _evil_project(path)
    row = Row(attack="fgsm" + EVIL, norm="Linf", eps=0.1, steps=1, gradient="single-sample", eot_samples=1,
              mc_samples=1, n=10, seed=0, reeval=1, clean_acc=0.9, robust_acc=0.5, robust_acc_mean=0.5, ci_low=0.2,
              ci_high=0.8, time_s=1.0, messages=["autoattack says " + EVIL])

    def call(on_event, cancel):
        on_event(Progress("attacking " + EVIL, 0.5))
        proj = Project.open(path)
        with proj.writing():
            api.store_row(proj, rid, row, None, on_event)
        return api.Rows(rid, [row])

    args = argparse.Namespace(run=rid, json=False)
    assert cli.report_rows(args, call) == 0
    cap = capsys.readouterr()
    _assert_clean(cap.out)
    assert "autoattack says x\\x1b[2J" in cap.err
    assert "\x07" not in cap.err and "\x9b" not in cap.err and "\u202e" not in cap.err


# ---------------------------------------------------------------- the studio

def _widget_texts(win):
    """Every string the window shows: titles, labels, buttons, tooltips, combo items, item-view cells and tips."""
    from PySide6.QtCore import QAbstractListModel, Qt
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QComboBox, QLabel, QLineEdit, QWidget

    out = [("window title", win.windowTitle())]
    for w in [win] + win.findChildren(QWidget):
        out += [(f"{type(w).__name__} title", w.windowTitle()), (f"{type(w).__name__} tooltip", w.toolTip())]
        if isinstance(w, (QLabel, QLineEdit, QAbstractButton)):
            out.append((type(w).__name__, w.text()))
        if isinstance(w, QComboBox):
            out += [("combo item", w.itemText(i)) for i in range(w.count())]
        if isinstance(w, QAbstractItemView) and w.model() is not None:
            m = w.model()
            cols = 1 if isinstance(m, QAbstractListModel) else m.columnCount()
            for r in range(m.rowCount()):
                for c in range(cols):
                    idx = m.index(r, c)
                    for role in (Qt.DisplayRole, Qt.ToolTipRole):
                        v = m.data(idx, role)
                        if isinstance(v, str):
                            out.append((f"{type(w).__name__} cell {r},{c}", v))
    for a in win.findChildren(QAction):
        out += [("action", a.text()), ("action tip", a.toolTip())]
    return out


def test_studio_shows_file_text_escaped(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("MFDV_STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MFDV_STUDIO_DATA_DIR", str(tmp_path / "data"))
    from PySide6.QtCore import QItemSelectionModel, Qt

    from mfdv_engine.config import RunConfig
    from mfdv_studio.main_window import MainWindow
    from mfdv_studio.wizards import AttackWizard, NewRunWizard

    path = tmp_path / "evil\x1b]0;t\x07.mfdv.h5"  # the file's own name is a stranger's too
    rid = _evil_project(path)
    win = MainWindow(path)
    win.confirm = lambda title, text: True
    qtbot.addWidget(win)
    win.show()
    try:
        qtbot.waitUntil(lambda: win.run_model.rowCount() > 0, timeout=30_000)  # the reader's first snapshot
        flags = QItemSelectionModel.SelectionFlag
        win.explorer.selectionModel().select(win.run_model.index(0, 0), flags.ClearAndSelect | flags.Rows)
        win.robustness.table.selectRow(0)
        win.robustness.set_checklist(rid + EVIL, [{"passed": False, "title": EVIL, "evidence": EVIL}])
        win.training.finish_live("failed: " + EVIL)
        win.show_error("Train " + EVIL, "no run " + EVIL, "Traceback\n" + EVIL)
        qtbot.wait(50)
        texts = _widget_texts(win) + [("error box", win.last_error_box.text()),
                                      ("error box title", win.last_error_box.windowTitle()),
                                      ("error details", win.last_error_box.detailedText())]
        legend = [lab.text for _, lab in win.robustness.sweeps.plots["eps"].legend.items]
        texts += [("sweep legend", t) for t in legend]
        info = win.runs[0]
        aw = AttackWizard([(info.run_id, f"{info.name} ({info.run_id})")], win)
        nw = NewRunWizard(win)
        nw.load_config(RunConfig.from_dict(info.config), name=f"{info.name}-copy")
        for w in (aw, nw):
            texts += _widget_texts(w)
        bad = [(where, t) for where, t in texts if RAW.search(t)]
        assert not bad, bad
        assert "\\x1b]0;t\\x07" in win.windowTitle()
        explorer = win.run_model.index(0, 0).data()
        assert "\\x1b]52;c;aGVsbG8=\\x07" in explorer and "\\u202e" in explorer, explorer
        assert "\\x1b" in win.run_model.index(0, 0).data(Qt.ToolTipRole)
        table = [t for where, t in texts if "QTableView cell" in where]
        assert any("\\x1b" in t for t in table), table
        assert any("\\x1b" in win.gallery.key_box.itemText(i) for i in range(win.gallery.key_box.count()))
        assert "\\x1b" in win.robustness.protocol.text()
        assert any("\\x1b" in t for t in legend), legend
        assert "\\x1b" in aw.run_list.item(0).text() and "\\x1b" in nw.data_form.fields["name"][0].text()
    finally:
        win.shutdown()
