"""Every Python block of README.md and docs/*.md runs as written.

The blocks run in a fresh interpreter, one document at a time (a later block may use an earlier block's
names, as a reader pasting them in order would), from a folder whose ``experiments/quickstart`` is a trained
run of the quickstart's own args.json cut to one epoch, so that a block loading the quickstart finds a run of
the same shape as a reader's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(document: Path) -> list[str]:
    return PYTHON_BLOCK.findall(document.read_text(encoding="utf-8"))


DOCUMENTS = [d for d in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))] if python_blocks(d)]


@pytest.fixture(scope="module")
def reader_folder(tmp_path_factory) -> Path:
    """A folder laid out like a checkout after the quickstart: ``experiments/quickstart`` trained (one epoch)."""
    root = tmp_path_factory.mktemp("reader")
    run = root / "experiments" / "quickstart"
    run.mkdir(parents=True)
    args = json.loads((REPO / "experiments" / "quickstart" / "args.json").read_text(encoding="utf-8"))
    args["trainer"]["config"]["epochs"] = 1
    args["evaluators"] = [{"name": "cross_modal"}]
    (run / "args.json").write_text(json.dumps(args), encoding="utf-8")
    for command in (["generate", str(run / "args.json")], ["train", str(run)], ["prior", str(run)],
                    ["eval", str(run)]):
        done = subprocess.run([sys.executable, "-m", "remvae.cli", *command], cwd=root, capture_output=True,
                              text=True, timeout=900)
        assert done.returncode == 0, f"remvae {command[0]}: {done.stderr[-2000:]}"
    return root


def test_the_documents_have_python_blocks():
    assert python_blocks(REPO / "README.md"), "README.md lost its API example"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_python_blocks_run(document: Path, reader_folder: Path):
    program = "\n\n".join(python_blocks(document))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", program], cwd=reader_folder, capture_output=True, text=True,
                          timeout=600, env=env)
    assert done.returncode == 0, f"{document.name}'s Python blocks failed:\n{done.stderr[-3000:]}"
