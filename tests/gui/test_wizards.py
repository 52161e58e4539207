"""The two wizards as a researcher drives them: drop-downs from the engine's registries, the attack
checklist with its parameters, ε's per-data-set default, the clamp note, remembered choices, name and
description that follow the config, and inline errors that are never clipped."""
import json

import h5py
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from mfdv_engine.config import OPTIMIZERS, SCHEDULES, RunConfig, auto_description
from mfdv_engine.data.registry import DATASETS, known_test_size, load_dataset
from mfdv_engine.defaults import default_eps_for, eps_text
from mfdv_engine.defenses import list_defenses
from mfdv_engine.evaluation.rows import modes_for
from mfdv_engine.evaluation.suite import parse_attacks
from mfdv_engine.models import list_models
from mfdv_engine.models.base import PLACEMENTS

SHOTS = "/tmp"


def new_run(qtbot, **kw):
    from mfdv_studio.wizards import NewRunWizard

    w = NewRunWizard(default_device="cpu", **kw)
    qtbot.addWidget(w)
    return w


def attack_wizard(qtbot, runs=(("r001", "a (r001)"),), configs=None, **kw):
    from mfdv_studio.wizards import AttackWizard

    w = AttackWizard(list(runs), configs=configs if configs is not None else {"r001": {"data": {"name": "demo"}}},
                     **kw)
    qtbot.addWidget(w)
    return w


def box(w, key):
    for form in (w.data_form, w.model_form, w.train_form):
        if key in form.fields:
            return form.fields[key][0]
    raise KeyError(key)


def pick(combo, value):
    """Choose ``value`` as a user would: the drop-down's item whose data it is."""
    i = combo.findData(value)
    assert i >= 0, (value, [combo.itemData(j) for j in range(combo.count())])
    combo.setCurrentIndex(i)


def items(combo):
    return [combo.itemData(i) for i in range(combo.count())]


def check_only(aw, names):
    aw.attack_list.set_checked(names)
    assert aw.attack_list.checked() == sorted(names, key=list(aw.attack_list.items).index)


# ---------------------------------------------------------------- new training run

def test_new_run_dropdowns_come_from_the_registries_and_build_the_config(qtbot):
    w = new_run(qtbot)
    assert items(box(w, "data.name")) == DATASETS.names()
    assert items(box(w, "model.name")) == list_models()
    assert items(w.defense_box) == list_defenses()
    assert items(box(w, "train.optimizer")) == list(OPTIMIZERS)
    assert items(box(w, "train.schedule")) == list(SCHEDULES)
    assert items(box(w, "model.stochastic")) == list(PLACEMENTS)
    pick(box(w, "data.name"), "cifar10")
    pick(box(w, "model.name"), "resnet20")
    pick(box(w, "model.stochastic"), "linear12")
    pick(w.defense_box, "se-snn")
    pick(box(w, "train.optimizer"), "adam")
    pick(box(w, "train.schedule"), "multistep")
    qtbot.keyClicks(w.defense_form.fields["defense.lam"][0], "5")  # a numeric field stays a line edit
    assert not any(w.errors.values()), w.errors
    cfg = w.config()
    assert (cfg.data.name, cfg.model.name, cfg.model.stochastic, cfg.defense.name) == ("cifar10", "resnet20",
                                                                                       "linear12", "se-snn")
    assert (cfg.train.optimizer, cfg.train.schedule, cfg.defense.params["lam"]) == ("adam", "multistep", 0.015)
    # a placement typed by hand is the engine's to judge, and its sentence shows under the field
    box(w, "model.stochastic").setEditText("linear9x")
    assert "unknown stochastic placement" in w.model_form.fields["model.stochastic"][1].text()
    assert not w.pages[1].isComplete()


def test_placement_note_when_the_defense_places_its_own_noise(qtbot):
    w = new_run(qtbot)
    pick(w.defense_box, "mfdv")
    assert w.placement_note.isHidden()
    pick(w.defense_box, "rse")
    assert not w.placement_note.isHidden() and "'none'" in w.placement_note.text()


def test_name_and_description_follow_the_config_until_typed(qtbot):
    w = new_run(qtbot)
    w.set_preset("demo-lenet-mfdv")
    name, desc = w.data_form.fields["name"][0], w.description
    preset_notes = desc.toPlainText()
    assert name.text() == "demo-lenet-mfdv" and preset_notes  # the preset's own words until the config changes
    pick(box(w, "data.name"), "mnist")
    assert name.text() == "mnist-lenet-mfdv"
    assert desc.toPlainText() == auto_description(w.config()) != preset_notes
    pick(w.defense_box, "none")
    assert name.text() == "mnist-lenet-plain" and "defense none" in desc.toPlainText()
    name.clear()
    qtbot.keyClicks(name, "my-baseline")
    pick(box(w, "model.name"), "simplenet")
    assert name.text() == "my-baseline"  # typed: kept
    assert "simplenet" in desc.toPlainText()  # not typed: follows
    assert w.config().name == "my-baseline"
    desc.setFocus()
    desc.selectAll()
    qtbot.keyClicks(desc, "why I ran it")
    pick(box(w, "model.name"), "lenet")
    assert desc.toPlainText() == "why I ran it" and w.config().description == "why I ran it"


def test_load_config_regenerates_a_stale_description(qtbot):
    cfg = RunConfig.from_dict({"name": "a", "description": "CIFAR notes that no longer apply",
                               "data": {"name": "mnist"}, "model": {"name": "lenet", "stochastic": "linear1"}})
    w = new_run(qtbot)
    w.load_config(cfg, name="a-copy", copy_of="a")
    text = w.description.toPlainText()
    assert "CIFAR notes" not in text and text.startswith(auto_description(cfg)) and text.endswith("Copy of a.")
    assert w.config().name == "a-copy"
    pick(box(w, "data.name"), "demo")
    assert w.config().name == "a-copy"  # the name the duplicate was given stays
    assert "demo" in w.config().description and "Copy of a." in w.config().description


def test_new_run_choices_are_remembered(qtbot):
    w1 = new_run(qtbot)
    pick(box(w1, "data.name"), "mnist")
    pick(box(w1, "train.schedule"), "constant")
    pick(w1.defense_box, "wca")
    w1.set_value("train.epochs", "7")
    w1.accept()
    w2 = new_run(qtbot)
    assert w2 is not w1
    cfg = w2.config()
    assert (cfg.data.name, cfg.train.schedule, cfg.defense.name, cfg.train.epochs) == ("mnist", "constant", "wca", 7)
    assert w2.data_form.fields["name"][0].text() == "mnist-lenet-wca"


# ---------------------------------------------------------------- attack evaluation

def test_attack_checklist_lists_the_registry_with_parameters(qtbot):
    from mfdv_engine.attacks import list_attacks

    aw = attack_wizard(qtbot)
    assert list(aw.attack_list.items) == list_attacks() + ["adaptive"]
    for name, key in (("pgd10", "steps"), ("eot-apgd-ce", "restarts"), ("eot-pgd", "loss"),
                      ("square", "n_queries"), ("adaptive", "n_iter")):
        assert aw.attack_list.param(name, key) is not None
    assert ("fgsm", "eps") not in aw.attack_list.edits  # ε is the wizard's one field
    check_only(aw, ["pgd10", "eot-pgd"])
    assert aw.attack_list.items["pgd10"].isExpanded()  # a checked attack shows its parameters
    qtbot.keyClicks(aw.attack_list.param("pgd10", "steps"), "0")  # 10 → 100
    pick(aw.mode, "both")
    aw.eot.setValue(8)
    req = aw.request()
    assert req["attacks"] == "eot-pgd,pgd10" and req["params"] == ["pgd10.steps=100"]
    assert req["proto"].eot_samples == 8 and req["eps"] is None
    specs, _ = parse_attacks(req["attacks"], eps=0.3, params=req["params"], eot=req["proto"].eot_samples)
    by = {s.name: s for s in specs}
    assert by["pgd10"].steps == 100 and by["eot-pgd"].eot_samples == 8
    assert modes_for(by["pgd10"], True, 8) == [1, 8]


@pytest.mark.parametrize("mode, eot, rows", [("single", 1, [1]), ("eot", 6, [6]), ("both", 6, [1, 6])])
def test_gradient_mode_gives_the_rows_asked_for(qtbot, mode, eot, rows):
    aw = attack_wizard(qtbot)
    check_only(aw, ["pgd10"])
    pick(aw.mode, mode)
    aw.eot.setValue(6)
    req = aw.request()
    assert req["proto"].eot_samples == eot
    (spec,), _ = parse_attacks(req["attacks"], eps=None, params=req["params"], eot=req["proto"].eot_samples)
    assert modes_for(spec, True, req["proto"].eot_samples) == rows
    assert aw.eot.isEnabled() == (mode != "single")


def test_bad_parameter_is_an_inline_error(qtbot):
    aw = attack_wizard(qtbot)
    check_only(aw, ["pgd10"])
    aw.attack_list.param("pgd10", "steps").setText("0")   # (loss is a drop-down: it cannot be mistyped)
    assert "steps" in aw.attack_err.text() and not aw.pages[1].isComplete()
    aw.attack_list.param("pgd10", "steps").setText("10")
    assert aw.attack_err.text() == "" and aw.pages[1].isComplete()
    check_only(aw, [])
    assert aw.attack_err.text() and not aw.pages[1].isComplete()


def test_eps_placeholder_is_the_selected_runs_default(qtbot):
    configs = {"r001": {"data": {"name": "mnist"}}, "r002": {"data": {"name": "cifar10"}}}
    aw = attack_wizard(qtbot, runs=[("r001", "m"), ("r002", "c")], configs=configs, preselect=["r001"])
    assert aw.eps.placeholderText() == f"default for mnist: {eps_text(default_eps_for('mnist'))}" == \
        "default for mnist: 0.3"
    aw.run_list.item(0).setCheckState(Qt.Unchecked)
    aw.run_list.item(1).setCheckState(Qt.Checked)
    assert aw.eps.placeholderText() == "default for cifar10: 8/255"
    aw.run_list.item(0).setCheckState(Qt.Checked)
    assert aw.eps.placeholderText() == "default per run: cifar10 8/255, mnist 0.3"
    aw.eps.setText("2/255")
    assert aw.request()["eps"] == pytest.approx(2 / 255)
    aw.eps.setText("")
    assert aw.request()["eps"] is None  # empty: each run's own default, decided by the engine


def test_clamp_note_for_n_above_the_test_set(qtbot):
    aw = attack_wizard(qtbot)  # a run on the demo set: 850 test images
    size = known_test_size("demo")
    aw.n.setValue(size + 1)
    assert not aw.n_note.isHidden() and f"so n={size}" in aw.n_note.text()
    assert aw.n_note.text() in aw.summary.text()
    aw.n.setValue(size)
    assert aw.n_note.isHidden() and aw.n_note.text() == ""


def test_known_test_sizes_match_the_data(tmp_path):
    for name in ("demo", "moons"):
        assert known_test_size(name) == len(load_dataset(name, tmp_path).test)
    assert known_test_size("mnist", 300) == 300 and known_test_size("imagefolder") is None


def test_attack_choices_are_remembered(qtbot):
    aw = attack_wizard(qtbot)
    check_only(aw, ["eot-apgd-ce", "fgsm"])
    aw.attack_list.param("eot-apgd-ce", "restarts").setText("4")
    aw.eps.setText("0.1")
    pick(aw.mode, "eot")
    aw.eot.setValue(12)
    aw.n.setValue(321)
    aw.accept()
    again = attack_wizard(qtbot)
    assert again.attack_list.checked() == ["eot-apgd-ce", "fgsm"]
    assert again.attack_list.param("eot-apgd-ce", "restarts").text() == "4"
    assert (again.eps.text(), again.mode.currentData(), again.eot.value(), again.n.value()) == ("0.1", "eot", 12, 321)
    assert again.request()["params"] == ["eot-apgd-ce.restarts=4", "fgsm.eot_samples=12"]


# ---------------------------------------------------------------- inline errors are never clipped

LONG = "train.lr must be a number in (0, 10]; " * 12


def assert_fully_shown(label):
    """Wrapped, as tall as its text needs at its width, and inside the page's scrolling body,
    whose viewport it fits across (the body scrolls down, never sideways)."""
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QScrollArea

    assert label.isVisible() and label.wordWrap()
    assert label.height() >= label.heightForWidth(label.width()), (label.height(), label.width())
    area = label.parent()
    while not isinstance(area, QScrollArea):
        area = area.parent()
    body, corner = area.widget(), label.mapTo(area.widget(), QPoint(label.width(), label.height()))
    assert corner.y() <= body.height() and corner.x() <= area.viewport().width(), (corner, body.size())


def test_long_inline_errors_are_fully_visible(qtbot):
    from mfdv_studio.wizards.common import set_text

    w = new_run(qtbot)
    w.resize(1280, 800)
    w.show()
    qtbot.waitExposed(w)
    w.next()  # the backbone page
    box(w, "model.stochastic").setEditText("linear9x")
    err = w.model_form.fields["model.stochastic"][1]
    qtbot.waitUntil(lambda: err.isVisible())
    assert len(err.text()) > 150
    qtbot.waitUntil(lambda: err.height() >= err.heightForWidth(err.width()))
    assert_fully_shown(err)
    w.grab().save(f"{SHOTS}/wizard_new_run_error.png")
    w.next(), w.next()  # training: an even longer sentence, under a field with others below it
    lr_err = w.train_form.fields["train.lr"][1]
    set_text(lr_err, LONG)
    qtbot.waitUntil(lambda: lr_err.height() >= lr_err.heightForWidth(lr_err.width()))
    assert_fully_shown(lr_err)
    w.grab().save(f"{SHOTS}/wizard_train_long_error.png")
    w.resize(640, 420)  # a small window: the page scrolls, the sentence still wraps in full
    qtbot.waitUntil(lambda: w.width() == 640 and lr_err.height() >= lr_err.heightForWidth(lr_err.width()))
    assert_fully_shown(lr_err)
    w.grab().save(f"{SHOTS}/wizard_train_long_error_small.png")


def test_attack_errors_and_notes_are_fully_visible(qtbot):
    aw = attack_wizard(qtbot)
    aw.resize(1280, 800)
    aw.show()
    qtbot.waitExposed(aw)
    aw.next()
    aw.eps.setText("5")
    aw.attack_list.param("pgd10", "steps").setText("0")
    for lab in (aw.eps_err, aw.attack_err):
        qtbot.waitUntil(lambda lab=lab: lab.isVisible() and lab.height() >= lab.heightForWidth(lab.width()))
        assert_fully_shown(lab)
    aw.grab().save(f"{SHOTS}/wizard_attack_errors.png")
    aw.eps.setText("")
    aw.attack_list.param("pgd10", "steps").setText("10")
    aw.next()
    aw.n.setValue(5000)
    qtbot.waitUntil(lambda: aw.n_note.isVisible() and aw.n_note.height() >= aw.n_note.heightForWidth(aw.n_note.width()))
    assert_fully_shown(aw.n_note)
    aw.grab().save(f"{SHOTS}/wizard_attack_protocol.png")
    aw.next()
    aw.grab().save(f"{SHOTS}/wizard_attack_summary.png")


# ---------------------------------------------------------------- through the window's commands

def _project_with_run(path, cfg):
    from mfdv_engine.project.store import Project

    p = Project.open(path, create=True)
    with p:
        rid = p.create_run(cfg.to_dict(), cfg.name)
        p.merge_live(rid, "finished", message="")
    with h5py.File(path, "a") as f:
        f["runs"][rid].attrs["epochs_done"] = 1
    return rid


def test_duplicate_and_attack_from_the_window(qtbot, tmp_path, monkeypatch):
    from mfdv_studio.main_window import MainWindow
    from mfdv_studio.wizards import AttackWizard, NewRunWizard

    cfg = RunConfig.from_dict({"name": "orig", "description": "stale: about another data set",
                               "data": {"name": "demo"}, "model": {"name": "lenet", "stochastic": "linear1"}})
    path = tmp_path / "p.mfdv.h5"
    rid = _project_with_run(path, cfg)
    seen = []
    monkeypatch.setattr(NewRunWizard, "exec", lambda self: seen.append(self) or QDialog.Rejected)
    monkeypatch.setattr(AttackWizard, "exec", lambda self: seen.append(self) or QDialog.Rejected)
    win = MainWindow(path)
    qtbot.addWidget(win)
    try:
        qtbot.waitUntil(lambda: win.snapshot is not None and win.snapshot.entry(rid) is not None, timeout=30_000)
        win.duplicate_run(rid)
        dup = seen[-1].config()
        assert dup.name == "orig-copy" and "stale" not in dup.description
        assert dup.description.endswith("Copy of orig.") and json.dumps(dup.data.name) == '"demo"'
        win.new_attack([rid])
        aw = seen[-1]
        assert aw.selected_runs() == [rid] and aw.eps.placeholderText() == "default for demo: 0.3"
    finally:
        win.shutdown()


def test_yes_no_and_fixed_choice_parameters_are_check_boxes_and_drop_downs(qtbot):
    """Issue 21, item 6: what a defense lists in ``param_choices()`` is picked, not typed."""
    from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit

    from mfdv_engine.defenses import get_defense

    w = new_run(qtbot)
    for defense in ("pgd-at", "pni", "l2p"):
        pick(w.defense_box, defense)
        choices = get_defense(defense).param_choices()
        assert choices, defense
        for key, (widget, _) in w.defense_form.fields.items():
            name = key.split(".", 1)[1]
            if name not in choices:
                assert isinstance(widget, QLineEdit), key
            elif set(choices[name]) == {True, False}:
                assert isinstance(widget, QCheckBox), key
            else:
                assert isinstance(widget, QComboBox) and not widget.isEditable(), key
                assert [widget.itemData(i) for i in range(widget.count())] == [str(v) for v in choices[name]]
    pick(w.defense_box, "pni")
    w.defense_form.fields["defense.random_start"][0].setChecked(False)
    pick(w.defense_form.fields["defense.mode"][0], "channelwise")
    params = w.config().defense.params
    assert params["random_start"] is False and params["mode"] == "channelwise" and not any(w.errors.values())
    # a duplicated run's values come back in the same widgets
    w2 = new_run(qtbot)
    w2.load_config(w.config(), name="copy")
    pick(w2.defense_box, "pni")
    assert not w2.defense_form.fields["defense.random_start"][0].isChecked()
    assert w2.defense_form.fields["defense.mode"][0].currentData() == "channelwise"


def test_the_summary_is_a_readable_list_not_escaped_json(qtbot):
    w = new_run(qtbot)
    w.set_preset("demo-lenet-mfdv")
    w.set_value("description", "σ and λ1, as typed")
    w.revalidate()   # (as reaching the Summary page does)
    text = w.summary.toPlainText()
    assert "\\u" not in text and not text.lstrip().startswith("{")
    assert "description: σ and λ1, as typed" in text
    assert "defense:\n    name: mfdv\n    lambda1: 0.02" in text   # its parameters by name
    assert "\n    limit_train: null" in text and "\n    epochs: 1" in text


def test_a_new_preset_keeps_the_example_limits_typed_and_says_so(qtbot):
    w = new_run(qtbot)
    w.set_preset("demo-lenet-mfdv")
    assert w.limits_note.isHidden()
    w.set_value("data.limit_test", "200")
    w.set_preset(next(p for p in ("mnist-lenet-mfdv", "demo-lenet-mfdv") if w.preset_box.findData(p) >= 0))
    assert box(w, "data.limit_test").text() == "200" and w.config().data.limit_test == 200
    assert not w.limits_note.isHidden() and "limit_test=200" in w.limits_note.text()
    w.set_value("data.limit_test", "null")   # cleared: the next preset's own limits again, without a note
    w.set_preset("demo-lenet-mfdv")
    assert w.config().data.limit_test is None and w.limits_note.isHidden()


def test_yes_no_and_norm_parameters_are_drop_downs_and_send_only_changes(qtbot):
    """Walk-through finding: ``random_start`` and ``norm`` were free text that a typo broke."""
    from mfdv_studio.wizards.attack_list import ChoiceEdit

    aw = attack_wizard(qtbot)
    check_only(aw, ["pgd10", "autoattack"])
    start, norm = aw.attack_list.param("pgd10", "random_start"), aw.attack_list.param("autoattack", "norm")
    assert isinstance(start, ChoiceEdit) and [start.itemText(i) for i in range(start.count())] == ["true", "false"]
    assert isinstance(norm, ChoiceEdit) and "L2" in [norm.itemText(i) for i in range(norm.count())]
    assert start.text() == "true" and aw.request()["params"] == []
    start.setCurrentIndex(1)
    assert aw.request()["params"] == ["pgd10.random_start=false"] and aw.pages[1].isComplete()
    specs, _ = parse_attacks(aw.request()["attacks"], eps=0.3, params=aw.request()["params"], eot=1)
    assert {s.name: s for s in specs}["pgd10"].random_start is False


def test_the_proposed_name_is_never_one_the_project_already_has(qtbot):
    """Walk-through finding: two runs of one preset were both called alike and could not be told apart."""
    from mfdv_engine.config import auto_name, load_preset

    w = new_run(qtbot, taken={"demo-lenet-mfdv", "demo-lenet-mfdv-2"})
    w.set_preset("demo-lenet-mfdv")
    assert w.config().name == "demo-lenet-mfdv-3"
    pick(box(w, "model.stochastic"), "linear1")   # the name follows the config, still unique
    follows = auto_name(load_preset("demo-lenet-mfdv").with_overrides(["model.stochastic=linear1"]))
    assert w.config().name not in w.taken and w.config().name.startswith(follows)
    w.set_value("name", "demo-lenet-mfdv")   # typed by the user: theirs to choose
    assert w.config().name == "demo-lenet-mfdv"


def test_a_defense_budget_shows_as_255ths_and_reads_back_exactly(qtbot):
    """Switching to an adversarially trained defense shows ε as 8/255, not 0.03137254901960784."""
    w = new_run(qtbot)
    pick(w.defense_box, "pgd-at")
    eps = w.defense_form.fields["defense.eps"][0]
    assert eps.text() == "8/255"
    assert not any(w.errors.values()), w.errors
    assert w.config().defense.params.get("eps", 8 / 255) == 8 / 255


def test_an_attack_loss_is_a_drop_down_of_what_the_attack_accepts(qtbot):
    """Walk-through finding: pgd10's ``loss`` was free text, checked only after a typo."""
    from mfdv_engine.attacks.eot import LOSSES
    from mfdv_studio.wizards.attack_list import ChoiceEdit

    aw = attack_wizard(qtbot)
    check_only(aw, ["pgd10"])
    loss = aw.attack_list.param("pgd10", "loss")
    assert isinstance(loss, ChoiceEdit) and tuple(loss.itemText(i) for i in range(loss.count())) == LOSSES
    loss.setText("cw")
    assert aw.request()["params"] == ["pgd10.loss=cw"] and aw.pages[1].isComplete()
