"""Two CPU processes under torchrun (gloo): training runs, ranks end with identical weights, only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from remvae.core.checkpoint import load_model_state, read_state
from remvae.core.distributed import DistributedContext, environment_context

SCRIPTS = Path(__file__).parent / "scripts"


def test_environment_context_reads_torchrun_variables(monkeypatch):
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert environment_context() == DistributedContext(0, 0, 1) and not environment_context().enabled
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    context = environment_context()
    assert context.enabled and not context.is_main and context.world_size == 2


def test_two_process_ddp_run_ends_with_identical_weights(tmp_path):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(SCRIPTS / "train_tiny.py"), str(run), "--hashes", "--epochs", "2", "--every", "3"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    hashes = [(run / f"rank-{rank}.sha256").read_text() for rank in range(2)]
    assert hashes[0] == hashes[1]
    summary = json.loads((run / "metrics" / "train_summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["steps"] == 2 * 4  # 256 items sharded over 2 ranks: 128 each, 4 batches of 32 per epoch
    records = [json.loads(line) for line in (run / "metrics" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]  # one writer: no duplicated lines
    state = read_state(run / "checkpoints" / "last")
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["rng"][0] != state["rng"][1]
    # the checkpoint rank 0 wrote holds the weights both ranks ended with
    weights = load_model_state(run / "checkpoints" / "last")
    sys.path.insert(0, str(SCRIPTS))
    from train_tiny import state_hash

    model = torch.nn.Module()
    model.state_dict = lambda: weights  # type: ignore[method-assign]
    assert state_hash(model) + "\n" == hashes[0]
