"""docs/python-api.md runs: every ```python block, in order, in one namespace, in a fresh folder."""
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_both_walkthroughs():
    text = DOC.read_text()
    assert len(blocks()) >= 6
    assert "## A notebook walk-through" in text and "## Bring your own model" in text


def test_every_code_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFDV_CONFIG_DIR", str(tmp_path / "config"))  # the model-file trust list of this test
    namespace: dict = {"__name__": "__doc__"}
    for i, code in enumerate(blocks()):
        exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)
    out = capsys.readouterr().out
    assert "stored: fgsm" in out and "EOT-4" in out
    assert (tmp_path / "rows.csv").read_text().startswith("run_id,")
    assert namespace["run_id"] == "r002"
