"""Experiment tracking sinks: the run's parameters and logged scalars also in TensorBoard and MLflow.

``metrics/train.jsonl`` and ``metrics/validation.jsonl`` stay the record of a run; the trackers
enabled in :class:`TrackingConfig` receive the same scalars. The training loop opens them once, on
the main process only, and fans every logged record out to them::

    with open_trackers(config, run_dir, experiment_name, resumed, after_step=resumed_from) as trackers:
        trackers.log_params(flat_or_nested_config)
        trackers.log_metrics(record["step"], record, prefix="train")        # each train.jsonl record
        trackers.log_metrics(record["step"], record, prefix="validation")   # each validation.jsonl record

Leaving the ``with`` block closes them; an exception marks the MLflow run FAILED (KILLED for Ctrl-C).

Re-logged steps: neither backend replaces a value logged twice at one step. MLflow appends a second
point to the metric's history; TensorBoard keeps both events, and its dashboards may draw both. So
a resumed run never sends a step at or before ``after_step`` (the step of the checkpoint it resumes
from, whose steps the earlier run logged). Steps after that checkpoint which a killed run had
already logged are handled per backend: TensorBoard's writer is opened with
``purge_step=after_step + 1``, which tells readers that honour it (the Python event reader does) to
drop the earlier events from that step on; MLflow cannot delete points, so each metric skips the
steps up to the last one its history holds (a resume continues the same random streams, so on a
deterministic device these are the values the resumed run logs again).

Trackers are registered in :data:`TRACKERS`; a tracker is enabled by the ``bool`` field of
:class:`TrackingConfig` named like it. A third one (e.g. Weights & Biases offline) is one such field
and one ``@TRACKERS.register(name, config=TrackingConfig)`` builder taking the keyword arguments
``run_dir``, ``experiment_name``, ``resumed`` and ``after_step``.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from numbers import Real
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

from pydantic import Field

from remvae.core.config import ComponentConfig, validate_config
from remvae.core.registry import Registry
from remvae.core.runfolder import RunFolder, write_json

CONFIG_SECTION = "trainer.config.logging"
INSTALL_HINT = "pip install 'remvae[tracking]'"

Status = Literal["FINISHED", "FAILED", "KILLED"]
T = TypeVar("T")


class TrackingConfig(ComponentConfig):
    """Which experiment trackers receive the run's parameters and scalars, besides ``metrics/*.jsonl``."""

    tensorboard: bool = Field(False, description="write TensorBoard event files to <run>/logs/tensorboard")
    mlflow: bool = Field(False, description="log to an MLflow tracking store")
    mlflow_tracking_uri: str | None = Field(None, description="MLflow store URI; default: file store <run>/mlruns")
    mlflow_experiment: str | None = Field(None, description="MLflow experiment; default: the experiment's name")
    run_name: str | None = Field(None, description="the tracked run's name; default: the run folder's name")


class TrackingDependencyError(ValueError):
    """An enabled tracker whose optional package is not installed."""


class Tracker(Protocol):
    """One sink for a run's parameters and scalars."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record the run's configuration (nested mappings become dotted keys)."""

    def log_metrics(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
        """Record the finite numbers of ``metrics`` at ``step`` as ``prefix/key``."""

    def close(self, status: Status = "FINISHED") -> None:
        """Flush and release the sink; ``status`` is how the run ended."""


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str | int | float | bool]:
    """Nested mappings as dotted keys; strings, numbers and booleans kept, any other value as its ``str``."""
    flat: dict[str, str | int | float | bool] = {}
    for key, value in params.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            flat.update(flatten_params(value, name))
        else:
            flat[name] = value if isinstance(value, (str, int, float, bool)) else str(value)
    return flat


def scalars(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite real numbers of ``metrics`` keyed ``prefix/key``; the ``step`` axis and booleans are left out."""
    return {
        f"{prefix}/{key}" if prefix else key: float(value)
        for key, value in metrics.items()
        if key != "step" and isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    }


def _require(tracker: str, package: str) -> None:
    """Import ``package`` or raise the one-line error naming the tracker's config key and the install extra."""
    try:
        importlib.import_module(package)
    except ImportError:
        raise TrackingDependencyError(
            f"{CONFIG_SECTION}.{tracker}: needs the {package} package ({INSTALL_HINT})"
        ) from None


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """``items`` in consecutive slices of at most ``size``."""
    return (items[start : start + size] for start in range(0, len(items), size))


class TensorBoardTracker:
    """Scalars as TensorBoard events in ``log_dir`` (tags ``train/loss``, ``validation/loss``, ...).

    Parameters go to the TEXT dashboard as one table, at ``purge_step`` (0 for a new run), so a
    resumed run's table sits beside the first one instead of repeating its step.
    """

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        _require("tensorboard", "tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)
        self._params_step = purge_step or 0

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Write the flattened parameters as a Markdown table under the tag ``params``."""
        rows = "".join(
            f"| {key} | {str(value).replace('|', '&#124;')} |\n" for key, value in flatten_params(params).items()
        )
        self._writer.add_text("params", "| parameter | value |\n| --- | --- |\n" + rows, self._params_step)

    def log_metrics(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
        """Add one scalar event per finite number of ``metrics``."""
        for tag, value in scalars(metrics, prefix).items():
            self._writer.add_scalar(tag, value, step)

    def close(self, status: Status = "FINISHED") -> None:
        """Flush the event file and close it (TensorBoard has no notion of a run's status)."""
        self._writer.close()


class MLflowTracker:
    """Parameters and scalars in one MLflow run (metric keys ``train/loss``, ...), through ``MlflowClient``.

    ``run_id``: a run to continue, when the store still holds it; otherwise a new run is started in
    ``experiment`` (created if needed). A ``file:`` store needs ``MLFLOW_ALLOW_FILE_STORE=true`` on
    MLflow >= 3.13, which keeps that backend in maintenance mode; it is set unless already set.
    """

    def __init__(
        self, tracking_uri: str, experiment: str, run_name: str | None = None, run_id: str | None = None
    ) -> None:
        _require("mlflow", "mlflow")
        from mlflow.tracking import MlflowClient

        if tracking_uri.startswith("file:"):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri)
        self.run_id = self._continued(run_id) or self._create_run(experiment, run_name)
        self._logged_through = self._last_steps()

    def _continued(self, run_id: str | None) -> str | None:
        """``run_id``, marked RUNNING again, when the store holds it undeleted; otherwise None (with a warning)."""
        if run_id is None:
            return None
        from mlflow.exceptions import MlflowException

        try:
            active = self._client.get_run(run_id).info.lifecycle_stage == "active"
        except MlflowException:
            active = False
        if not active:
            warnings.warn(f"MLflow run {run_id} is not in {self.tracking_uri}: starting a new run", stacklevel=3)
            return None
        self._client.update_run(run_id, status="RUNNING")
        return run_id

    def _create_run(self, experiment: str, run_name: str | None) -> str:
        found = self._client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found is not None else self._client.create_experiment(experiment)
        return self._client.create_run(experiment_id, run_name=run_name).info.run_id

    def _last_steps(self) -> dict[str, int]:
        """Each metric's last logged step in this run (none for a new run)."""
        keys = self._client.get_run(self.run_id).data.metrics
        return {key: max(point.step for point in self._client.get_metric_history(self.run_id, key)) for key in keys}

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log the flattened parameters the run does not hold yet (MLflow params cannot change).

        A continued run whose parameter changed keeps the first value; a warning names those keys.
        """
        from mlflow.entities import Param
        from mlflow.utils.validation import (
            MAX_PARAM_VAL_LENGTH,
            MAX_PARAMS_TAGS_PER_BATCH,
        )

        logged = self._client.get_run(self.run_id).data.params
        values = {key: str(value)[:MAX_PARAM_VAL_LENGTH] for key, value in flatten_params(params).items()}
        changed = sorted(key for key, value in values.items() if key in logged and logged[key] != value)
        if changed:
            warnings.warn(f"MLflow run {self.run_id} keeps the first values of {', '.join(changed)}", stacklevel=2)
        new = [Param(key, value) for key, value in values.items() if key not in logged]
        for chunk in _chunks(new, MAX_PARAMS_TAGS_PER_BATCH):
            self._client.log_batch(self.run_id, params=list(chunk))

    def log_metrics(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
        """Log the finite numbers of ``metrics`` at ``step``, except those whose history already reaches ``step``."""
        from mlflow.entities import Metric
        from mlflow.utils.validation import MAX_METRICS_PER_BATCH

        now = int(time.time() * 1000)
        points = [
            Metric(key, value, now, step)
            for key, value in scalars(metrics, prefix).items()
            if step > self._logged_through.get(key, -1)
        ]
        for chunk in _chunks(points, MAX_METRICS_PER_BATCH):
            self._client.log_batch(self.run_id, metrics=list(chunk))

    def close(self, status: Status = "FINISHED") -> None:
        """Mark the run ended with ``status``."""
        self._client.set_terminated(self.run_id, status)


class Trackers:
    """The open trackers as one: each call goes to all of them.

    ``skip_through``: steps at or before it are not logged (a resumed run's earlier steps); None logs all.
    """

    def __init__(self, trackers: Iterable[Tracker] = (), skip_through: int | None = None) -> None:
        self.trackers = list(trackers)
        self.skip_through = skip_through

    def __bool__(self) -> bool:
        return bool(self.trackers)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Send the run's configuration to every tracker."""
        for tracker in self.trackers:
            tracker.log_params(params)

    def log_metrics(self, step: int, metrics: Mapping[str, Any], prefix: str = "") -> None:
        """Send one record's finite numbers to every tracker, unless ``step`` was logged before a resume."""
        if self.skip_through is not None and step <= self.skip_through:
            return
        for tracker in self.trackers:
            tracker.log_metrics(step, metrics, prefix)

    def close(self, status: Status = "FINISHED") -> None:
        """Close every tracker once; later calls do nothing."""
        trackers, self.trackers = self.trackers, []
        for tracker in trackers:
            tracker.close(status)

    def __enter__(self) -> Trackers:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if kind is None:
            self.close("FINISHED")
        else:
            self.close("KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED")


TRACKERS: Registry[Tracker] = Registry("tracker", "experiment tracking sinks")


@TRACKERS.register("tensorboard", config=TrackingConfig)
def open_tensorboard(
    config: TrackingConfig, *, run: RunFolder, experiment_name: str, resumed: bool, after_step: int
) -> TensorBoardTracker:
    """TensorBoard event files in <run>/logs/tensorboard; a resumed run purges earlier events after its checkpoint."""
    return TensorBoardTracker(run.tensorboard, purge_step=after_step + 1 if resumed else None)


@TRACKERS.register("mlflow", config=TrackingConfig)
def open_mlflow(
    config: TrackingConfig, *, run: RunFolder, experiment_name: str, resumed: bool, after_step: int
) -> MLflowTracker:
    """An MLflow run (default store: the file store <run>/mlruns), its id kept in <run>/logs/mlflow_run.json.

    A resumed run continues the recorded MLflow run; a new one starts a new MLflow run.
    """
    record = run.mlflow_run_record
    tracker = MLflowTracker(
        config.mlflow_tracking_uri or run.mlflow_store.as_uri(),
        config.mlflow_experiment or experiment_name,
        config.run_name or run.root.name,
        run_id=_recorded_run_id(record) if resumed else None,
    )
    write_json(record, {"run_id": tracker.run_id, "tracking_uri": tracker.tracking_uri})
    return tracker


def _recorded_run_id(record: Path) -> str | None:
    """The MLflow run id an earlier session of this run recorded, if any."""
    return json.loads(record.read_text(encoding="utf-8"))["run_id"] if record.is_file() else None


def open_trackers(
    config: TrackingConfig | dict[str, Any] | None,
    run_dir: str | Path | RunFolder,
    experiment_name: str,
    resumed: bool,
    after_step: int = 0,
) -> Trackers:
    """Open every tracker ``config`` enables, as one :class:`Trackers` (with none enabled, one that does nothing).

    ``resumed``: the run continues from its checkpoint at step ``after_step``; steps up to it are
    not logged again. Call it on the main process only. A missing optional package raises
    :class:`TrackingDependencyError`, after closing the trackers already opened.
    """
    resolved = validate_config(TrackingConfig, config, where=CONFIG_SECTION)
    run = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    opened: list[Tracker] = []
    with ExitStack() as cleanup:
        for entry in TRACKERS:
            if getattr(resolved, entry.name, False):
                tracker = entry.build(
                    resolved, run=run, experiment_name=experiment_name, resumed=resumed,
                    after_step=after_step,
                )
                cleanup.callback(tracker.close, "FAILED")
                opened.append(tracker)
        cleanup.pop_all()
    return Trackers(opened, skip_through=after_step if resumed else None)


__all__ = [
    "MLflowTracker",
    "TRACKERS",
    "TensorBoardTracker",
    "Tracker",
    "Trackers",
    "TrackingConfig",
    "TrackingDependencyError",
    "flatten_params",
    "open_trackers",
    "scalars",
]
