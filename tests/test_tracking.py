"""Experiment tracking sinks: records written through open_trackers, read back with each backend's reader."""

from __future__ import annotations

import io
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from conftest import needs_module

from remvae.core.config import ConfigError
from remvae.core.progress import progress
from remvae.core.runfolder import RunFolder
from remvae.playground.trainers.tracking import (
    TrackingConfig,
    TrackingDependencyError,
    open_trackers,
)

TRAIN = [
    {"step": 1, "epoch": 0, "loss": 2.5, "text_kl": 0.125, "lr": 1e-3, "note": "warmup", "grad_norm": math.nan},
    {"step": 2, "epoch": 0, "loss": 2.25, "text_kl": 0.25, "lr": 1e-3, "note": "", "grad_norm": 3.0},
    {"step": 3, "epoch": 1, "loss": 2.0, "text_kl": 0.375, "lr": 5e-4, "note": "", "grad_norm": 1.5},
    {"step": 4, "epoch": 1, "loss": 1.75, "text_kl": 0.5, "lr": 5e-4, "note": "", "grad_norm": math.inf},
]
VALIDATION = [{"step": 2, "epoch": 0, "loss": 2.4}, {"step": 4, "epoch": 1, "loss": 1.9}]
PARAMS = {"model": {"latent_dim": 16, "text": {"cell": "gru", "sizes": [64, 32]}}, "seed": 0, "notes": None}
BOTH = TrackingConfig(tensorboard=True, mlflow=True)


def expected(records: list[dict], key: str) -> list[tuple[int, float]]:
    """The (step, value) points of ``key`` that a tracker should hold: finite numbers only."""
    return [(r["step"], float(r[key])) for r in records if isinstance(r[key], (int, float)) and math.isfinite(r[key])]


def log(run_dir: Path, records: Sequence[dict], validation: Sequence[dict] = (), resumed: bool = False,
        after_step: int = 0) -> None:
    """One session of a run: params, then train and validation records, through open_trackers."""
    with open_trackers(BOTH, run_dir, "tiny", resumed, after_step) as trackers:
        trackers.log_params(PARAMS)
        for record in records:
            trackers.log_metrics(record["step"], record, prefix="train")
        for record in validation:
            trackers.log_metrics(record["step"], record, prefix="validation")


def tensorboard_points(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    accumulator = needs_module("tensorboard.backend.event_processing.event_accumulator")
    events = accumulator.EventAccumulator(str(RunFolder(run_dir).tensorboard), size_guidance={"scalars": 0})
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def mlflow_run(run_dir: Path) -> tuple[object, str]:
    """The MLflow client on the run folder's store and the run id it recorded."""
    tracking = needs_module("mlflow.tracking")
    record = json.loads(RunFolder(run_dir).mlflow_run_record.read_text())
    return tracking.MlflowClient(record["tracking_uri"]), record["run_id"]


def mlflow_points(run_dir: Path, key: str) -> list[tuple[int, float]]:
    client, run_id = mlflow_run(run_dir)
    return sorted((point.step, point.value) for point in client.get_metric_history(run_id, key))


def assert_points(actual: list[tuple[int, float]], wanted: list[tuple[int, float]]) -> None:
    assert [step for step, _ in actual] == [step for step, _ in wanted]
    assert [value for _, value in actual] == pytest.approx([value for _, value in wanted], rel=1e-6)


@pytest.fixture
def backends(monkeypatch) -> None:
    """Skip unless both optional packages are installed (the test extra installs them).

    MLFLOW_ALLOW_FILE_STORE starts unset (the tracker must set it itself) and is restored afterwards.
    """
    needs_module("tensorboard")
    needs_module("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")  # records the variable's value to restore
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")


def test_scalars_read_back_from_tensorboard_and_mlflow(tmp_path: Path, backends: None) -> None:
    log(tmp_path, TRAIN, VALIDATION)
    for points in (tensorboard_points, mlflow_points):
        for key in ("loss", "text_kl", "lr", "grad_norm", "epoch"):
            assert_points(points(tmp_path, f"train/{key}"), expected(TRAIN, key))
        assert_points(points(tmp_path, "validation/loss"), expected(VALIDATION, "loss"))
    client, run_id = mlflow_run(tmp_path)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == tmp_path.name
    assert not any(key.endswith(("/note", "/step")) for key in run.data.metrics)
    assert run.data.params == {
        "model.latent_dim": "16", "model.text.cell": "gru", "model.text.sizes": "[64, 32]",
        "seed": "0", "notes": "None",
    }


def test_resume_continues_the_mlflow_run_without_duplicate_steps(tmp_path: Path, backends: None) -> None:
    log(tmp_path, TRAIN[:3])  # killed after step 3; its checkpoint is at step 2
    first_run = mlflow_run(tmp_path)[1]
    # Event files sort by their whole-second timestamp, then a per-process counter compared as text:
    # a later second keeps the resumed session's file after the first one's, as in a real resume.
    time.sleep(1 - time.time() % 1)
    resumed = [dict(record, loss=record["loss"] - 1.0) for record in TRAIN[1:]]  # steps 2..4, new values
    log(tmp_path, resumed, VALIDATION, resumed=True, after_step=2)

    assert mlflow_run(tmp_path)[1] == first_run
    # MLflow cannot drop step 3 of the killed session: it keeps that point and adds only step 4.
    assert_points(mlflow_points(tmp_path, "train/loss"), [(1, 2.5), (2, 2.25), (3, 2.0), (4, 0.75)])
    # TensorBoard's purge_step hides the killed session's events after the checkpoint.
    assert_points(tensorboard_points(tmp_path, "train/loss"), [(1, 2.5), (2, 2.25), (3, 1.0), (4, 0.75)])
    assert_points(mlflow_points(tmp_path, "validation/loss"), [(4, 1.9)])


def test_a_new_run_in_the_same_folder_starts_a_new_mlflow_run(tmp_path: Path, backends: None) -> None:
    log(tmp_path, TRAIN[:1])
    first_run = mlflow_run(tmp_path)[1]
    log(tmp_path, TRAIN[:1])
    assert mlflow_run(tmp_path)[1] != first_run


def test_a_resumed_run_keeps_its_first_params(tmp_path: Path, backends: None) -> None:
    log(tmp_path, TRAIN[:1])
    with open_trackers(BOTH, tmp_path, "tiny", resumed=True, after_step=1) as trackers:
        with pytest.warns(UserWarning, match="keeps the first values of seed"):
            trackers.log_params({**PARAMS, "seed": 1, "epochs": 20})
    client, run_id = mlflow_run(tmp_path)
    params = client.get_run(run_id).data.params
    assert params["seed"] == "0" and params["epochs"] == "20"


def test_disabled_trackers_write_nothing(tmp_path: Path) -> None:
    with open_trackers(TrackingConfig(), tmp_path, "tiny", resumed=False) as trackers:
        trackers.log_params(PARAMS)
        trackers.log_metrics(1, TRAIN[0], prefix="train")
    assert not trackers and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tracker, module", [("tensorboard", "tensorboard"), ("mlflow", "mlflow")])
def test_a_missing_package_is_one_line(tmp_path: Path, monkeypatch, tracker: str, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(TrackingDependencyError) as raised:
        open_trackers({tracker: True}, tmp_path, "tiny", resumed=False)
    assert isinstance(raised.value, ValueError)
    assert str(raised.value) == f"trainer.config.logging.{tracker}: needs the {module} package (pip install 'remvae[tracking]')"


def test_config_forbids_unknown_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="logging.tensorbord: unknown key"):
        open_trackers({"tensorbord": True}, tmp_path, "tiny", resumed=False)


def test_progress_is_silent_off_a_terminal_and_when_quiet(monkeypatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress(3, "off a terminal").disable
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert progress(3, "quiet", quiet=True).disable
    bar = progress(range(3), "shown")
    assert not bar.disable and list(bar) == [0, 1, 2] and "shown" in sys.stderr.getvalue()


def test_a_training_run_logs_the_same_scalars_to_every_tracker(tmp_path, backends) -> None:
    """A real (tiny) training run with trainer.config.logging on: TensorBoard's and MLflow's copies of every
    logged training and validation scalar equal metrics/train.jsonl and validation.jsonl."""
    sys.path.insert(0, str(Path(__file__).parent / "scripts"))
    from tinyvae import synthetic_pairs, tiny_multimodal, tokenizer_for

    from remvae.core.registry import TRAINERS

    train, val = synthetic_pairs(96, seed=0), synthetic_pairs(32, seed=1)
    tokenizer = tokenizer_for(train)
    config = {"epochs": 2, "batch_size": 32, "quiet": True, "device": "cpu", "log_every": 1,
              "logging": {"tensorboard": True, "mlflow": True}}
    TRAINERS.build("annealing", config, model=tiny_multimodal(tokenizer), run_dir=tmp_path,
                   tokenizer=tokenizer).fit(train, val)
    records = [json.loads(line) for line in (tmp_path / "metrics" / "train.jsonl").read_text().splitlines()]
    checked = [(r["step"], r["loss"]) for r in records]
    assert len(checked) == 6
    assert_points(tensorboard_points(tmp_path, "train/loss"), checked)
    assert_points(mlflow_points(tmp_path, "train/loss"), checked)
    assert_points(mlflow_points(tmp_path, "train/alignment"), [(r["step"], r["alignment"]) for r in records])
    validated = [json.loads(line) for line in (tmp_path / "metrics" / "validation.jsonl").read_text().splitlines()]
    assert_points(tensorboard_points(tmp_path, "validation/loss"), [(r["step"], r["loss"]) for r in validated])
