"""Runs never go stale: an edited args.json never reuses the old model, --fresh keeps the old run aside, a
longer run continues only where its schedules allow, evaluation changes redo only the evaluation, and one
writer at a time holds a run folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_args
from safetensors.torch import load_file

from remvae.cli import main

TRAINER = {"name": "simple", "config": {"epochs": 1, "batch_size": 64, "quiet": True, "num_threads": 1,
                                        "optimizer": {"name": "adam", "lr": 0.001}}}
SMALL = {"train_length": 256, "validation_length": 64, "test_length": 64}


def write_args(folder: Path, **changes) -> Path:
    args = tiny_args(trainer=json.loads(json.dumps(TRAINER)), data=SMALL, evaluators=[], **changes)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "args.json"
    path.write_text(json.dumps(args, indent=2), encoding="utf-8")
    return path


def edit(path: Path, change) -> None:
    args = json.loads(path.read_text(encoding="utf-8"))
    change(args)
    path.write_text(json.dumps(args, indent=2), encoding="utf-8")


def snapshot(folder: Path) -> dict[str, float]:
    """Modification times of every file of a run folder (what a refused command must leave alone)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_an_edited_config_is_refused_and_fresh_moves_the_old_run_aside(tmp_path, capsys):
    path = write_args(tmp_path / "run")
    assert main(["run", str(path), "--quiet", "--until", "eval"]) == 0
    before = snapshot(path.parent)
    old = json.loads((path.parent / "config.json").read_text())["fingerprint"]

    edit(path, lambda a: (a["trainer"]["config"]["optimizer"].update(lr=0.002), a.update(latent_dim=4)))
    capsys.readouterr()
    assert main(["run", str(path), "--quiet", "--until", "eval"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "trained under another config" in error[0], error
    assert "trainer.config.optimizer.lr 0.001 -> 0.002" in error[0] and "image.config.latent_dim 8 -> 4" in error[0]
    assert "--fresh" in error[0]
    assert snapshot(path.parent) == {**before, "args.json": snapshot(path.parent)["args.json"]}  # nothing else written

    assert main(["run", str(path), "--quiet", "--fresh", "--until", "eval"]) == 0
    (moved,) = (path.parent / "previous").iterdir()
    assert json.loads((moved / "config.json").read_text())["fingerprint"] == old
    assert (moved / "checkpoints" / "last" / "model.safetensors").is_file()
    new = json.loads((path.parent / "config.json").read_text())["fingerprint"]
    assert new != old
    evaluation = json.loads((path.parent / "metrics" / "eval.json").read_text())
    assert evaluation["checkpoint"]["fingerprint"] == new
    assert load_file(str(path.parent / "checkpoints" / "last" / "model.safetensors"))["image.encoder.head.linear.weight"] \
        .shape[0] == 8  # 2 x latent 4: the new model, not the old one


def test_a_longer_run_continues_where_its_schedules_allow(tmp_path, capsys):
    """1 epoch then 2 epochs ends bit-equal to 2 epochs at once (constant learning rate); with a one-cycle
    schedule, or shorter, the change is refused."""
    extended = write_args(tmp_path / "extended")
    assert main(["run", str(extended), "--quiet", "--until", "train"]) == 0
    edit(extended, lambda a: a["trainer"]["config"].update(epochs=2))
    assert main(["run", str(extended), "--quiet", "--until", "train"]) == 0
    direct = write_args(tmp_path / "direct")
    edit(direct, lambda a: a["trainer"]["config"].update(epochs=2))
    assert main(["run", str(direct), "--quiet", "--until", "train"]) == 0
    a = load_file(str(extended.parent / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(direct.parent / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a)

    edit(extended, lambda a: a["trainer"]["config"].update(epochs=1))
    capsys.readouterr()
    assert main(["run", str(extended), "--quiet", "--until", "train"]) == 2
    assert "more than the" in capsys.readouterr().err

    cycled = write_args(tmp_path / "cycled")
    edit(cycled, lambda a: a["trainer"]["config"].update(lr_scheduler={"name": "onecycle"}))
    assert main(["run", str(cycled), "--quiet", "--until", "train"]) == 0
    edit(cycled, lambda a: a["trainer"]["config"].update(epochs=2))
    assert main(["run", str(cycled), "--quiet", "--until", "train"]) == 2
    assert "the learning-rate schedule (onecycle) depends on the run's length" in capsys.readouterr().err


def test_a_run_stopped_after_training_goes_on_from_there_and_evaluation_changes_redo_only_what_follows_training(
        tmp_path, capsys):
    path = write_args(tmp_path / "run")
    assert main(["run", str(path), "--quiet", "--until", "train"]) == 0
    assert f"done: {path.parent} (stopped after train)" in capsys.readouterr().out
    assert not (path.parent / "metrics" / "eval.json").exists() and not (path.parent / "report.pdf").exists()
    weights = (path.parent / "checkpoints" / "last" / "model.safetensors").stat().st_mtime_ns
    assert main(["run", str(path), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "train: complete" in said and "report: running" in said
    assert (path.parent / "checkpoints" / "last" / "model.safetensors").stat().st_mtime_ns == weights
    edit(path, lambda a: a.update(evaluators=[{"name": "latent", "config": {"probe": False}}]))
    capsys.readouterr()
    assert main(["run", str(path), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert "train: complete" in said and "eval: running" in said and "report: running" in said
    assert "visualize: running" in said  # figures follow the evaluation's choices (the transfer strength)
    assert (path.parent / "checkpoints" / "last" / "model.safetensors").stat().st_mtime_ns == weights
    assert "latent" in json.loads((path.parent / "metrics" / "eval.json").read_text())["evaluators"]


def test_one_writer_at_a_time_and_a_dead_writers_lock_is_taken_over(tmp_path, capsys):
    path = write_args(tmp_path / "run")
    lock = path.parent / ".remvae.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname(), "token": "other",
                                    "command": "remvae run", "since": "2026-01-01T00:00:00+00:00"}))
        assert main(["run", str(path), "--quiet", "--until", "train"]) == 2
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and f"in use by remvae run (pid {sleeper.pid}" in error[0], error
        assert not (path.parent / "checkpoints").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main(["run", str(path), "--quiet", "--until", "train"]) == 0  # the holder is gone: its lock is taken over
    assert f"taking over the lock of pid {sleeper.pid}" in capsys.readouterr().out
    assert not lock.exists()  # released at the end


def test_another_experiments_folder_is_not_overwritten(tmp_path, capsys):
    first = write_args(tmp_path / "a")
    assert main(["generate", str(first)]) == 0
    second = tmp_path / "b.json"
    second.write_text(json.dumps({**json.loads(first.read_text()), "output": str(first.parent)}))
    script = (first.parent / "train.py").read_bytes()
    capsys.readouterr()
    assert main(["generate", str(second)]) == 2
    error = capsys.readouterr().err
    assert f"holds the scripts of {first.resolve()}, not of {second.resolve()}" in error
    assert (first.parent / "train.py").read_bytes() == script
    assert main(["generate", str(second), "--force"]) == 0


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setitem(os.environ, "OMP_WAIT_POLICY", "PASSIVE")
