"""The ``remvae`` command end to end, through real subprocesses: exit statuses, one-line errors, every
generated script on a tiny config, resuming after Ctrl-C without redoing finished stages."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BAD_ARGS = Path(__file__).parent / "bad_args"
EXPECTED = json.loads((BAD_ARGS / "expected.json").read_text(encoding="utf-8"))
OUTPUTS = ("report.pdf", "metrics/eval.json", "figures/figures.json", "checkpoints/last/state.json")


def remvae(*args: str, cwd: Path | None = None, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "remvae.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs
    )


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("remvae: error: ")]


def tiny_args(train_length: int = 300) -> dict:
    return {
        "name": "tiny cli run",
        "seed": 0,
        "latent_dim": 8,
        "image_size": 28,
        "data": {"train_length": train_length, "validation_length": 50, "test_length": 60},
        "reader": {"name": "bundled_digits"},
        "image": {"name": "conv", "config": {"widths": [8, 16]}},
        "text": {"name": "gru", "config": {"embedding_dim": 16, "hidden_dim": 32, "max_length": 10}},
        "trainer": {
            "name": "adaptive_annealing",
            "config": {"epochs": 2, "batch_size": 16, "log_every": 1, "num_threads": 1, "device": "cpu"},
        },
        "evaluation": {"batch_size": 60},
        "evaluators": [
            {"name": "reconstruction"},
            {"name": "caption_validity"},
            {"name": "reconstruction", "key": "reconstruction_again"},  # one evaluator twice, stored apart
        ],
    }


def write_args(folder: Path, args: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "args.json"
    path.write_text(json.dumps(args, indent=2), encoding="utf-8")
    return path


def test_help_lists_every_verb():
    out = remvae("--help").stdout
    for verb in ("list", "schema", "validate", "generate", "run", "train", "visualize", "eval", "report", "compare",
                 "judge"):
        assert f"    {verb}" in out


def test_the_bad_args_corpus_through_the_real_command(tmp_path):
    files = sorted(EXPECTED)
    result = remvae("validate", *files, cwd=BAD_ARGS)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = errors(result.stderr)
    assert len(lines) == len(result.stderr.strip().splitlines())  # nothing but one line per problem
    for name in files:
        own = [line for line in lines if line.startswith(f"remvae: error: {name}: ")]
        for expected in EXPECTED[name]:
            assert any(expected in line for line in own), (name, expected, own)


def test_bad_input_to_every_command_exits_2_without_touching_anything(tmp_path):
    args = write_args(tmp_path, {**tiny_args(), "trainer": {"name": "simple", "config": {"epochs": "two"}}})
    (tmp_path / "train.py").write_text("# mine\n")
    for command in (["generate", str(args)], ["run", str(args)]):
        result = remvae(*command)
        assert result.returncode == 2, result.stderr
        assert errors(result.stderr) == [
            f"remvae: error: {args}: trainer.config.epochs: Input should be a valid integer (given: 'two')"
        ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["args.json", "train.py"]
    for command in (["train", str(tmp_path)], ["eval", str(tmp_path / "nowhere")], ["run", str(tmp_path / "no.json")]):
        result = remvae(*command)
        assert result.returncode == 2 and len(errors(result.stderr)) == 1 and "Traceback" not in result.stderr


def _interrupt_during_training(args: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    # A shell's background job inherits SIGINT ignored, and Python then installs no Ctrl-C handler: restore it,
    # as a terminal user's process has it.
    process = subprocess.Popen(
        [sys.executable, "-m", "remvae.cli", "run", str(args), "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    records = run_dir / "metrics" / "train.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if records.is_file() and len(records.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A tiny run interrupted by Ctrl-C during training, then completed by running the command again."""
    folder = tmp_path_factory.mktemp("experiment")
    args = write_args(folder, tiny_args(train_length=3000))
    interrupted = _interrupt_during_training(args, folder)
    saved = json.loads((folder / "checkpoints" / "last" / "state.json").read_text())
    finished = remvae("run", str(args))
    return folder, args, interrupted, saved, finished


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(resumed_run):
    folder, _, interrupted, saved, _ = resumed_run
    assert interrupted.returncode == 130, interrupted.stderr
    assert "train interrupted" in interrupted.stderr and "run the same command again to resume" in interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    assert 0 < saved["step"] < saved["total_steps"]
    assert (folder / "logs" / "train.log").is_file()


def test_rerun_resumes_training_and_runs_every_generated_script(resumed_run):
    folder, _, _, saved, finished = resumed_run
    assert finished.returncode == 0, finished.stderr
    summary = json.loads((folder / "metrics" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == saved["step"] and summary["epochs"] == 2
    for stage in ("train", "visualize", "eval", "report"):
        assert f"remvae: {stage}: running" in finished.stdout
        assert (folder / "logs" / f"{stage}.log").is_file()
    for output in OUTPUTS:
        assert (folder / output).is_file(), output
    evaluation = json.loads((folder / "metrics" / "eval.json").read_text())
    assert set(evaluation["evaluators"]) == {"reconstruction", "caption_validity", "reconstruction_again"}
    assert evaluation["evaluators"]["reconstruction"]["n"] == 60
    again = evaluation["evaluators"]["reconstruction_again"]["metrics"]
    assert again == evaluation["evaluators"]["reconstruction"]["metrics"]  # seeded per evaluator
    assert list((folder / "figures").glob("*.png"))
    assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
    log = (folder / "logs" / "train.log").read_bytes()
    assert b"trained 2 epochs" in log and b"\r" not in log  # progress bars are for terminals, not logs


def test_completed_stages_are_skipped_and_only_missing_ones_rerun(resumed_run):
    folder, args, _, _, _ = resumed_run
    stamps = {output: (folder / output).stat().st_mtime_ns for output in OUTPUTS}
    again = remvae("run", str(args), "--quiet")
    assert again.returncode == 0, again.stderr
    for stage in ("train", "visualize", "eval", "report"):
        assert f"remvae: {stage}: complete" in again.stdout and f"{stage}: running" not in again.stdout
    assert {output: (folder / output).stat().st_mtime_ns for output in OUTPUTS} == stamps
    (folder / "report.pdf").unlink()
    again = remvae("run", str(args), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "remvae: report: running" in again.stdout and "remvae: eval: complete" in again.stdout
    assert (folder / "report.pdf").is_file()


def test_a_failing_stage_names_itself_and_its_log(resumed_run):
    folder, args, _, _, _ = resumed_run
    eval_script = folder / "eval.py"
    original = eval_script.read_text()
    failing = original.replace("def main() -> None:\n", "def main() -> None:\n    raise RuntimeError('boom')\n")
    eval_script.write_text(failing)
    try:
        result = remvae("eval", str(folder), "--quiet")
        assert result.returncode == 1
        assert errors(result.stderr) == [
            f"remvae: error: eval failed (exit status 1): RuntimeError: boom; log: {folder / 'logs' / 'eval.log'}"
        ]
        generated = remvae("generate", str(args))
        assert f"remvae: kept {eval_script}: edited since it was generated" in generated.stdout
    finally:
        eval_script.write_text(original)


def test_stages_run_with_passive_openmp_waits_unless_the_caller_chose(resumed_run):
    folder = resumed_run[0]
    eval_script = folder / "eval.py"
    original = eval_script.read_text()
    reporting = original.replace(
        "def main() -> None:\n", "def main() -> None:\n    raise RuntimeError(os.environ.get('OMP_WAIT_POLICY'))\n"
    ).replace("\nimport ", "\nimport os\nimport ", 1)
    eval_script.write_text(reporting)
    try:
        environment = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
        chosen = {**environment, "OMP_WAIT_POLICY": "ACTIVE"}
        for env, expected in ((environment, "PASSIVE"), (chosen, "ACTIVE")):
            result = remvae("eval", str(folder), "--quiet", env=env)
            assert f"RuntimeError: {expected};" in errors(result.stderr)[0]
    finally:
        eval_script.write_text(original)


def test_execute_sh_runs_the_stage_scripts_in_order_from_anywhere(resumed_run, tmp_path):
    folder = resumed_run[0]
    recorder = tmp_path / "python"
    recorder.write_text(f'#!/bin/sh\necho "$(pwd) $1" >> {tmp_path / "calls"}\n')
    recorder.chmod(0o755)
    subprocess.run([str(folder / "execute.sh")], cwd=tmp_path, env={**os.environ, "PYTHON": str(recorder)}, check=True)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"{folder} {name}" for name in ("train.py", "prior.py", "eval.py", "visualize.py", "report.py")]


def test_stage_commands_work_on_the_run_folder_from_elsewhere(resumed_run, tmp_path):
    folder = resumed_run[0]
    result = remvae("report", str(folder), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "remvae: report: running" in result.stdout


def test_compare_writes_a_pdf_and_a_markdown_table(resumed_run, tmp_path):
    folder = resumed_run[0]
    result = remvae("compare", str(folder), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cmp" / "comparison.pdf").read_bytes().startswith(b"%PDF")
    assert "comparison.md" in result.stdout and (tmp_path / "cmp" / "comparison.md").is_file()


def test_judge_train_refuses_an_unknown_data_set():
    result = remvae("judge", "train", "--dataset", "svhn")
    assert result.returncode == 2
    assert errors(result.stderr) == [
        "remvae: error: dataset: no judge preset for 'svhn'; one of bundled_digits, celeba, fashion_mnist, mnist"
    ]
