"""docs/python-api.md runs: every ```python and ```sh block, in order, in a fresh folder (the Python blocks
in one namespace; each shell line as a command, which must exit 0)."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def blocks(kinds=("python", "sh")) -> list[tuple[str, str]]:
    return [(k, code) for k, code in re.findall(r"```(\w+)\n(.*?)```", DOC.read_text(), flags=re.S) if k in kinds]


def test_the_doc_has_both_walkthroughs_and_the_side_by_side():
    text = DOC.read_text()
    assert len(blocks(("python",))) >= 8 and len(blocks(("sh",))) >= 1
    assert "## A notebook walk-through" in text and "## Bring your own model" in text
    assert "## The same evaluation by hand, and with `mfdv`" in text


def test_the_side_by_side_line_counts_are_the_blocks_own():
    text = DOC.read_text()
    hand, ours = [code for k, code in blocks(("python",))][-2:]
    assert f"with torchattacks and autoattack ({len(hand.strip().splitlines())} lines)" in text.lower()
    assert f"with `mfdv` ({len(ours.strip().splitlines())} lines)" in text.lower()


def test_every_code_block_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MFDV_CONFIG_DIR", str(tmp_path / "config"))  # the model-file trust list of this test
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    namespace: dict = {"__name__": "__doc__"}
    for i, (kind, code) in enumerate(blocks()):
        if kind == "python":
            exec(compile(code, f"{DOC.name} block {i + 1}", "exec"), namespace)
            continue
        for line in (ln for ln in code.splitlines() if ln.strip() and not ln.startswith("#")):
            out = subprocess.run(shlex.split(line), cwd=tmp_path, env=env, capture_output=True, text=True)
            assert out.returncode == 0, f"{line}\n{out.stderr[-2000:]}"
    out = capsys.readouterr().out
    assert "stored: fgsm" in out and "EOT-4" in out
    assert (tmp_path / "rows.csv").read_text().startswith("run_id,")
    assert (tmp_path / "matrix.md").read_text().startswith("| run | id |")
    assert namespace["run_id"] == "r002"
    assert "worst case" in out and "adaptive" in out   # both sides of the comparison printed their rows
