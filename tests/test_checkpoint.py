"""Checkpoint folders: round trip, atomic replacement, and clear errors for truncated or foreign files."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch
from torch import nn

from remvae.core.checkpoint import (
    MODEL_FILE,
    OPTIMIZER_FILE,
    STATE_FILE,
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    read_state,
    save_checkpoint,
)
from remvae.text import Tokenizer


def _write(folder, step=3, model=None):
    model = model or nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    tokenizer = Tokenizer.fit(["a photo of a seven"])
    save_checkpoint(
        folder, model.state_dict(), {"step": step, "epoch": 1, "position": 2}, {"name": "simple", "config": {"lr": 1}},
        optimizer_state={"optimizer": optimizer.state_dict(), "lr_scheduler": None}, tokenizer=tokenizer,
    )
    return model, optimizer, tokenizer


def _restamp(folder, name):
    """Make state.json agree with a replaced file, so the file's own validation is what must catch it."""
    import hashlib

    state = json.loads((folder / STATE_FILE).read_text())
    data = (folder / name).read_bytes()
    state["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / STATE_FILE).write_text(json.dumps(state))


def test_round_trip_restores_weights_optimizer_tokenizer_and_config(tmp_path):
    folder = tmp_path / "checkpoints" / "last"
    model, optimizer, tokenizer = _write(folder)
    checkpoint = load_checkpoint(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", MODEL_FILE, OPTIMIZER_FILE, STATE_FILE, "tokenizer.json"]
    for key, value in model.state_dict().items():
        assert torch.equal(checkpoint.model[key], value)
    restored = torch.optim.Adam(nn.Linear(3, 2).parameters())
    restored.load_state_dict(checkpoint.optimizer["optimizer"])
    assert torch.equal(restored.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert checkpoint.tokenizer == tokenizer
    assert checkpoint.config == {"name": "simple", "config": {"lr": 1}}
    assert (checkpoint.step, checkpoint.epoch, checkpoint.state["position"]) == (3, 1, 2)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temporary folders left


def test_tied_weights_are_saved(tmp_path):
    model = nn.Sequential(nn.Embedding(5, 4), nn.Linear(4, 5, bias=False))
    model[1].weight = model[0].weight
    save_checkpoint(tmp_path / "c", model.state_dict(), {"step": 0, "epoch": 0}, {})
    state = load_checkpoint(tmp_path / "c").model
    assert torch.equal(state["0.weight"], state["1.weight"])


def test_replacing_a_checkpoint_keeps_exactly_one_complete_folder(tmp_path):
    folder = tmp_path / "last"
    _write(folder, step=1)
    _write(folder, step=2)
    assert read_state(folder)["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last"]


def test_a_kill_between_the_two_renames_leaves_the_previous_checkpoint_findable(tmp_path):
    folder = tmp_path / "last"
    _write(folder, step=5)
    os.replace(folder, tmp_path / ".old-last-123-abcd")  # the state right after "old away", before "new in"
    found = find_checkpoint(folder)
    assert found == tmp_path / ".old-last-123-abcd"
    assert load_checkpoint(found).step == 5
    _write(folder, step=6)  # the next save cleans the leftover
    assert find_checkpoint(folder) == folder and [p.name for p in tmp_path.iterdir()] == ["last"]
    assert find_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize("name", [MODEL_FILE, OPTIMIZER_FILE, "tokenizer.json", "config.json"])
def test_a_truncated_file_is_detected_and_named(tmp_path, name):
    folder = tmp_path / "last"
    _write(folder)
    path = folder / name
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=rf"{name}: \d+ bytes, expected \d+ \(truncated"):
        load_checkpoint(folder)


def test_a_truncated_or_foreign_state_json_is_detected(tmp_path):
    folder = tmp_path / "last"
    _write(folder)
    state = folder / STATE_FILE
    text = state.read_text()
    state.write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"state.json: not valid JSON, truncated or foreign"):
        load_checkpoint(folder)
    state.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(CheckpointError, match=r"state.json: not a remvae checkpoint"):
        load_checkpoint(folder)
    state.write_text(json.dumps({"format": "remvae-checkpoint", "version": 1, "step": 1}))
    with pytest.raises(CheckpointError, match=r"state.json: missing required keys \['epoch', 'files'\]"):
        load_checkpoint(folder)
    state.unlink()
    with pytest.raises(CheckpointError, match=r"state.json: not found"):
        load_checkpoint(folder)


def test_truncated_safetensors_is_caught_by_its_own_header_check(tmp_path):
    folder = tmp_path / "last"
    _write(folder)
    path = folder / MODEL_FILE
    path.write_bytes(path.read_bytes()[:-7])
    _restamp(folder, MODEL_FILE)
    with pytest.raises(CheckpointError, match=r"model.safetensors: \d+ bytes, header describes \d+ \(truncated\)"):
        load_checkpoint(folder)
    path.write_bytes(b"\x00\x01")
    _restamp(folder, MODEL_FILE)
    with pytest.raises(CheckpointError, match=r"model.safetensors: 2 bytes, too short"):
        load_checkpoint(folder)
    path.write_bytes(b"PK\x03\x04 this is a zip file, not safetensors, padded to some length")
    _restamp(folder, MODEL_FILE)
    with pytest.raises(CheckpointError, match=r"model.safetensors: header runs past the end"):
        load_checkpoint(folder)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_loading_never_unpickles_a_foreign_optimizer_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "last"
    _write(folder)
    (folder / OPTIMIZER_FILE).write_bytes(pickle.dumps({"optimizer": _Exploit()}, protocol=2))
    _restamp(folder, OPTIMIZER_FILE)
    with pytest.raises(CheckpointError, match=r"optimizer.pt: cannot be loaded with weights_only=True"):
        load_checkpoint(folder)
    assert not (tmp_path / "pwned").exists()
    # weights alone still load
    assert load_checkpoint(folder, optimizer=False).optimizer is None
