"""Fault injection: kills at random steps, two writers, a full disk, a read-only folder, non-finite losses,
damaged checkpoints and hostile JSON. Each asserts that nothing already written is lost and that the user
gets one line saying what happened, and that the same args.json and seed give the same model on one thread."""

from __future__ import annotations

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_args
from safetensors.torch import load_file

from remvae.cli import main
from remvae.core.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    read_state,
)
from remvae.core.registry import TRAINERS
from remvae.core.runfolder import RunFolder, StorageError, write_json
from remvae.core.trainer import NonFiniteLossError
from remvae.scripts import run_script

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
from tinyvae import synthetic_pairs, tiny_multimodal, tokenizer_for  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
TRAINER = {"epochs": 4, "batch_size": 32, "quiet": True, "num_threads": 1, "log_every": 1,
           "checkpoint": {"every_steps": 2}, "optimizer": {"name": "adam", "lr": 0.002}}
DATA = {"train_length": 256, "validation_length": 64, "test_length": 64}


def write_args(folder: Path, trainer: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    args = tiny_args(trainer={"name": "simple", "config": trainer or TRAINER}, data=DATA, evaluators=[])
    path = folder / "args.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    return path


def remvae(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "remvae.cli", *arguments], env=ENV, capture_output=True, text=True)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "checkpoints" / "last" / "model.safetensors"))


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def kill_everything_writing(run: Path, process: subprocess.Popen) -> None:
    """SIGKILL the command and every stage process writing under its lock, as a power cut would."""
    held = json.loads((run / ".remvae.lock").read_text())
    for pid in {process.pid, held["pid"], *held.get("sharing", [])}:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def test_one_thread_runs_repeat_and_runs_killed_at_random_steps_resume_to_the_same_model(tmp_path):
    """Two uninterrupted trainings give the same weights; runs killed with SIGKILL (command and stage alike) at
    three random points of training end, after `remvae train` again, with exactly those weights. (Only the
    train stage runs: the later stages read the weights and do not change them.)"""
    first, second = write_args(tmp_path / "first"), write_args(tmp_path / "second")
    for path in (first, second):
        assert remvae("generate", str(path)).returncode == 0
        assert remvae("train", str(path.parent), "--quiet").returncode == 0
    reference = weights(first.parent)
    assert_same(weights(second.parent), reference)
    total = read_state(first.parent / "checkpoints" / "last")["step"]

    for kill_after in random.Random(7).sample(range(2, total - 1, 2), 3):
        path = write_args(tmp_path / f"killed-{kill_after}")
        process = subprocess.Popen([sys.executable, "-m", "remvae.cli", "run", str(path), "--quiet"], env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        last = path.parent / "checkpoints" / "last"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if read_state(last)["step"] >= kill_after:
                    break
            except CheckpointError:
                pass
            time.sleep(0.01)
        kill_everything_writing(path.parent, process)
        resumed = remvae("train", str(path.parent), "--quiet")
        assert resumed.returncode == 0, resumed.stderr
        assert "taking over the lock" in resumed.stdout
        assert_same(weights(path.parent), reference)
        steps = [json.loads(line)["step"] for line in (path.parent / "metrics" / "train.jsonl").open()]
        assert steps == list(range(1, total + 1))  # every step logged once, none twice


def test_a_second_writer_stops_naming_the_first_and_leaves_its_run_alone(tmp_path):
    path = write_args(tmp_path / "run", {**TRAINER, "epochs": 200})
    first = subprocess.Popen([sys.executable, "-m", "remvae.cli", "run", str(path), "--quiet"], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        log = path.parent / "metrics" / "train.jsonl"
        deadline = time.monotonic() + 120
        while not (log.is_file() and log.stat().st_size) and time.monotonic() < deadline:
            time.sleep(0.05)
        second = remvae("run", str(path), "--quiet")
        assert second.returncode == 2
        assert f"in use by remvae run (pid {first.pid}" in one_line(second.stderr)
        third = remvae("train", str(path.parent))  # a stage command on the folder too
        assert third.returncode == 2 and "in use by remvae run" in one_line(third.stderr)
        assert first.poll() is None  # the first writer trains on
    finally:
        kill_everything_writing(path.parent, first)
    lines = (path.parent / "metrics" / "train.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines if line.strip().endswith("}")]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no interleaved or repeated records


def trainer(run_dir: Path, **changes):
    train = synthetic_pairs(128)
    tokenizer = tokenizer_for(train)
    config = {"epochs": 2, "batch_size": 32, "quiet": True, "device": "cpu", "num_threads": 1, **changes}
    return TRAINERS.build("simple", config, model=tiny_multimodal(tokenizer), run_dir=run_dir,
                          tokenizer=tokenizer), train, synthetic_pairs(32, seed=1)


def test_a_full_disk_while_checkpointing_is_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    fit, train, val = trainer(tmp_path, checkpoint={"every_steps": 1})
    fit.fit(train, val)
    before = load_checkpoint(tmp_path / "checkpoints" / "last")
    calls = {"n": 0}
    real_fsync = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] > 3:  # the disk fills up in the middle of the next checkpoint
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    again, _, _ = trainer(tmp_path, epochs=3, checkpoint={"every_steps": 1}, resume=True)
    with pytest.raises(StorageError) as raised:
        again.fit(train, val)
    message = str(raised.value.strerror)
    assert "\n" not in message and "checkpoints/last: cannot write the checkpoint" in message
    assert "no space left on the device (disk full)" in message
    monkeypatch.setattr(os, "fsync", real_fsync)
    after = load_checkpoint(tmp_path / "checkpoints" / "last")  # complete and verified: nothing lost
    assert after.step >= before.step
    assert not [p.name for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".tmp-")]


def test_a_stage_script_reports_a_storage_failure_in_one_line(tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")

    def write_under_a_file():
        write_json(blocked / "metrics" / "eval.json", {})

    assert run_script(write_under_a_file) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"remvae: error: {blocked}/metrics/eval.json: cannot write (")


def test_non_finite_losses_say_truthfully_which_checkpoint_exists(tmp_path):
    run = tmp_path / "fresh"
    fit, train, val = trainer(run, optimizer={"name": "sgd", "lr": 1e30})
    with pytest.raises(NonFiniteLossError, match=r"no checkpoint was written yet\. Change the config"):
        fit.fit(train, val)
    assert find_checkpoint(run / "checkpoints" / "last") is None
    run = tmp_path / "later"
    fit, train, val = trainer(run, checkpoint={"every_steps": 1})
    fit.fit(train, val)
    steps = read_state(run / "checkpoints" / "last")["step"]
    fit, _, _ = trainer(run, epochs=3, checkpoint={"every_steps": 1}, resume=True)
    fit.model.image.decoder.register_forward_hook(lambda module, inputs, output: output * float("nan"))
    with pytest.raises(NonFiniteLossError) as raised:
        fit.fit(train, val)
    assert f"the last good state is {run / 'checkpoints' / 'last'} (step {steps}" in str(raised.value)
    assert "start over with `remvae run ARGS --fresh`" in str(raised.value) and "\n" not in str(raised.value)


def test_a_diverging_run_is_one_line_then_a_fixed_config_asks_for_fresh(tmp_path):
    path = write_args(tmp_path / "run", {**TRAINER, "optimizer": {"name": "sgd", "lr": 1e30}})
    failed = remvae("run", str(path), "--quiet")
    assert failed.returncode == 1
    line = one_line(failed.stderr)
    assert re.search(r"train failed \(exit status 1\): step \d+: \w+ is (nan|inf|-inf) \(non-finite\)", line), line
    assert "no checkpoint was written yet" in line and "logs/train.log" in line
    path.write_text(path.read_text().replace("1e+30", "0.002"), encoding="utf-8")
    stale = remvae("run", str(path), "--quiet")  # the failed run's logs are there: its config is not this one
    assert stale.returncode == 2 and "trainer.config.optimizer.lr 1e+30 -> 0.002" in one_line(stale.stderr)
    assert remvae("run", str(path), "--quiet", "--fresh", "--until", "train").returncode == 0


def test_a_damaged_last_checkpoint_falls_back_to_best_and_says_so(tmp_path, capsys):
    fit, train, val = trainer(tmp_path)
    fit.fit(train, val)
    best_step = read_state(tmp_path / "checkpoints" / "best")["step"]
    with (tmp_path / "checkpoints" / "last" / "model.safetensors").open("r+b") as handle:
        handle.truncate(100)
    again, _, _ = trainer(tmp_path, epochs=3, resume=True)
    capsys.readouterr()
    assert again.fit(train, val).steps == 12
    said = capsys.readouterr().out
    assert "model.safetensors: 100 bytes, expected" in said and f"resuming from {tmp_path / 'checkpoints' / 'best'}" \
        in said and f"(step {best_step}) instead" in said
    for name in ("last", "best"):
        with (tmp_path / "checkpoints" / name / "model.safetensors").open("r+b") as handle:
            handle.truncate(10)
    third, _, _ = trainer(tmp_path, epochs=4, resume=True)
    with pytest.raises(CheckpointError, match=r"no other checkpoint to resume from: start over with .*--fresh"):
        third.fit(train, val)


def test_hostile_json_is_refused_in_one_line(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    nested = tmp_path / "nested.json"
    nested.write_text(json.dumps({**tiny_args(), "description": "x", "data": {"train_length": 1}}).replace(
        '"x"', "[" * 40 + "]" * 40), encoding="utf-8")
    huge = tmp_path / "huge.json"
    huge.write_text('{"name": "' + "x" * (5 * 2**20) + '"}', encoding="utf-8")
    for path, message in ((deep, "nested too deeply"), (nested, "nested too deeply"), (huge, "bytes; an args.json")):
        for command in ("validate", "generate"):
            assert main([command, str(path)]) == 2
            assert message in one_line(capsys.readouterr().err)


def test_stale_temporaries_of_killed_writers_are_removed_by_the_next_writer(tmp_path):
    run = RunFolder(tmp_path)
    (tmp_path / "metrics").mkdir()
    leftovers = [tmp_path / ".report.pdf.abc123.tmp", tmp_path / "metrics" / ".eval.json.x1.tmp"]
    for path in leftovers:
        path.write_bytes(b"half")
    (tmp_path / "checkpoints" / ".tmp-last-999-deadbeef").mkdir(parents=True)
    with run.lock("test"):
        pass
    assert not any(path.exists() for path in leftovers)
    assert not (tmp_path / "checkpoints" / ".tmp-last-999-deadbeef").exists()


def test_a_completed_run_in_a_read_only_folder_needs_no_write_and_a_stage_says_why_it_cannot(tmp_path):
    path = write_args(tmp_path / "run")
    assert remvae("run", str(path), "--quiet").returncode == 0
    locked = tmp_path / "read-only"
    locked.mkdir()
    if subprocess.run(["mount", "--bind", str(path.parent), str(locked)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here (needs CAP_SYS_ADMIN); the in-process storage tests cover the messages")
    try:
        assert subprocess.run(["mount", "-o", "remount,ro,bind", str(locked)], capture_output=True).returncode == 0
        before = {p: p.stat().st_mtime_ns for p in path.parent.rglob("*") if p.is_file()}
        again = remvae("run", str(locked / "args.json"), "--quiet")
        assert again.returncode == 0, again.stderr
        assert "report: complete" in again.stdout and again.stderr == ""
        report = remvae("report", str(locked))
        assert report.returncode == 1
        assert "read-only file system" in one_line(report.stderr)
        assert {p: p.stat().st_mtime_ns for p in path.parent.rglob("*") if p.is_file()} == before
    finally:
        subprocess.run(["umount", str(locked)], capture_output=True)
