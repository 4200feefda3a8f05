"""What the benchmarks share: fresh run folders, the experiment's trainer, the validation judging, printed tables.

Importing this module before torch sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set): on a CPU shared with
other processes, OpenMP threads that spin while waiting for each other cut 2-thread throughput by ~10x.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import argparse
import contextlib
import itertools
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:
    from remvae.args import Experiment
    from remvae.core.data import ImageTextDataset
    from remvae.core.evaluator import EvaluationContext
    from remvae.core.model import LatentModel
    from remvae.core.runfolder import RunFolder
    from remvae.model import LoadedModel
    from remvae.playground.trainers.loop import LoopTrainer
    from remvae.text.tokenizer import Tokenizer

    from data_root import ExperimentData

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
EXIT_BAD_INPUT = 2
JUDGED_ITEMS = 1000
"""Validation pairs judged per checkpoint: a fixed subset, drawn by a permutation seeded with 0."""
CROSS_MODAL_SAMPLED = {"sample": True, "class_fid": False, "top_k": [1]}
"""The ``cross_modal`` evaluator as the time-to-accuracy figures use it: z drawn from the posterior, top-1."""


def refuse(script: str, message: str) -> int:
    """Print ``script: message`` (one line) and return the bad-input exit status."""
    print(f"{script}: {message}")
    return EXIT_BAD_INPUT


def used_folder(path: Path | None) -> str | None:
    """Why ``path`` cannot be a fresh run folder (it is a file, or a folder with something in it), else ``None``."""
    if path is None or not path.exists():
        return None
    if not path.is_dir():
        return f"--run-dir {path}: is a file; give a new or empty folder"
    if any(path.iterdir()):
        return f"--run-dir {path}: not empty; give a new or empty folder (the benchmark trains from scratch)"
    return None


@contextlib.contextmanager
def fresh_run(path: Path | None, prefix: str) -> Iterator[RunFolder]:
    """A run folder to train into: ``path`` (new or empty, see :func:`used_folder`), kept afterwards, or a
    temporary folder removed afterwards."""
    from remvae.core.runfolder import RunFolder

    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield RunFolder(path)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as scratch:
        yield RunFolder(scratch)


def load_args(script: str, path: Path) -> Experiment | None:
    """The validated experiment of ``path``, or ``None`` after printing why it cannot be read (one line each)."""
    from remvae.args import ArgsError, load_experiment

    try:
        return load_experiment(path)
    except (ArgsError, OSError) as error:
        for line in str(error).splitlines():
            print(f"{script}: {line}")
        return None


@dataclass
class TrainedRun:
    """A trained run opened for a validation-only benchmark: its experiment, the loaded model, the reader's name and
    the training and validation splits."""

    experiment: Experiment
    loaded: LoadedModel
    reader: str
    train: ImageTextDataset
    validation: ImageTextDataset

    def validation_context(self, limit: int | None = None) -> EvaluationContext:
        """A fresh evaluation context (empty cache) on the validation split: the loaded model, the experiment's
        judge, evaluation seed 0, ``limit`` items (all with ``None``), the training split for what is fitted."""
        from remvae.core.evaluator import EvaluationContext

        return EvaluationContext(model=self.loaded.model, tokenizer=self.loaded.tokenizer, test_set=self.validation,
                                 train_set=self.train, split="validation", dataset=self.reader,
                                 judge=self.experiment.spec.evaluation.judge, seed=0, limit=limit)


def add_trained_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a benchmark that measures one trained run: its args.json, run folder, checkpoint, threads."""
    parser.add_argument("--args", type=Path, required=True, help="the experiment's args.json")
    parser.add_argument("--run-dir", type=Path, required=True, help="its trained run folder")
    parser.add_argument("--checkpoint", default="best", help="which checkpoint: best (default), last, or a name")
    parser.add_argument("--threads", type=int, default=1)


def open_trained_run(script: str, options: argparse.Namespace, prior: bool = False) -> TrainedRun | int:
    """The run named by :func:`add_trained_run_arguments`' options, loaded at its checkpoint (with the prior it
    fitted only when ``prior``), with the experiment's splits, torch set to its thread count; or the exit status
    after printing why not: bad input (2), or the data set not found (0, skipped)."""
    import torch

    import remvae
    from data_root import reader_of
    from remvae.core.checkpoint import CheckpointError
    from remvae.core.data import DataNotFoundError
    from remvae.core.runfolder import RunFolderError
    from remvae.experiment import training_data

    torch.set_num_threads(options.threads)
    args, run_dir, checkpoint = options.args, options.run_dir, options.checkpoint
    experiment = load_args(script, args)
    if experiment is None:
        return EXIT_BAD_INPUT
    try:
        loaded = remvae.load(run_dir, checkpoint=checkpoint, prior=prior)
    except (RunFolderError, CheckpointError) as error:
        return refuse(script, str(error))
    reader, config = reader_of(experiment)
    data = experiment.spec.data
    try:
        train, validation = training_data(reader, config, data.train_length, data.validation_length)
    except DataNotFoundError as error:
        print(f"{script}: {error}; skipped (set REMVAE_DATA to a folder holding the data set)")
        return 0
    if validation is None:
        return refuse(script, f"{args}: data.validation_length is 0; the benchmark measures on validation")
    return TrainedRun(experiment, loaded, reader, train, validation)


def shipped(name: str) -> Path:
    """The args.json of the shipped experiment ``name``."""
    return EXPERIMENTS / name / "args.json"


def build_trainer(
    experiment: Experiment, tokenizer: Tokenizer, run: RunFolder, checkpoint: dict[str, Any] | None = None,
    **changes: Any,
) -> LoopTrainer:
    """The experiment's model (first weights drawn from the trainer's seed, as ``remvae run`` does) and its
    trainer, whose config differs only by ``changes``, the ``checkpoint`` fields given, quiet and no resume.
    Writes ``model.json`` into ``run`` so :func:`remvae.load` can open its checkpoints."""
    from remvae.core.registry import TRAINERS

    name, config = experiment.component("trainer")
    assert name is not None and config is not None
    config.update(quiet=True, resume=False, **changes)
    config["checkpoint"] = {**config["checkpoint"], **(checkpoint or {})}
    spec = experiment.model_spec()
    model = spec.build(tokenizer, seed=config["seed"])
    spec.save(run)
    return TRAINERS.build(name, config, model=model, run_dir=run, tokenizer=tokenizer)


def short_trainer(
    experiment: Experiment, data: ExperimentData, run: RunFolder, steps: int, log_every: int, **changes: Any
) -> LoopTrainer:
    """The experiment's trainer stopped after ``steps`` steps (``max_steps``: its schedules span those steps), logging
    every ``log_every`` steps, keeping no best checkpoint, its config otherwise changed only by ``changes``. It trains
    without a validation set, and does not say so."""
    config = experiment.component("trainer")[1]
    assert config is not None
    per_epoch = math.ceil(len(data.train) / config["batch_size"])
    trainer = build_trainer(experiment, data.tokenizer, run, checkpoint={"keep_best": False},
                            epochs=max(config["epochs"], steps // per_epoch + 1), max_steps=steps, log_every=log_every,
                            **changes)
    trainer.say = lambda message: None
    return trainer


@dataclass
class Logged:
    """What a ``fit`` logged after its first record (the warm-up): samples/s and, with ``time_phases``, ms per step
    in each phase (empty without)."""

    samples_per_s: float
    ms: dict[str, float]


def logged_after_warmup(run: RunFolder, batch_size: int) -> Logged:
    """Samples/s and ms per phase over the steps of ``run``'s train.jsonl after its first record."""
    lines = run.train_log.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    intervals = [(r["step"] - p["step"], r) for p, r in itertools.pairwise(records)]
    timed = sum(n for n, _ in intervals)
    seconds = sum(n * batch_size / r["samples_per_s"] for n, r in intervals)
    phases = [key for key in records[-1] if key.startswith("ms_")]
    ms = {key[3:]: sum(n * r[key] for n, r in intervals) / timed for key in phases}
    return Logged(timed * batch_size / seconds, ms)


def judge_validation(
    model: LatentModel, tokenizer: Tokenizer, items: ImageTextDataset, dataset: str, judge: Any,
    limit: int | None = JUDGED_ITEMS,
) -> dict[str, Any]:
    """The ``cross_modal`` metrics (sampled z, top-1, no class FID) of ``model`` on ``limit`` validation ``items``
    (a fixed seeded subset; all with ``None``), with ``seconds`` the wall time of the evaluation."""
    from remvae.core.evaluator import EvaluationContext, run_evaluators
    from remvae.core.registry import EVALUATORS

    context = EvaluationContext(model=model, tokenizer=tokenizer, test_set=items, split="validation",
                                dataset=dataset, judge=judge, limit=limit, seed=0)
    entry = run_evaluators(context, {"cross_modal": EVALUATORS.build("cross_modal", CROSS_MODAL_SAMPLED)}, None)
    result = entry["evaluators"]["cross_modal"]
    return {**result["metrics"], "seconds": result["seconds"], "n": result["n"]}


@dataclass(frozen=True)
class Table:
    """A printed table: a header line and rows, cells separated by at least two spaces, the first column
    left-aligned and the others right-aligned (so a reader, or a test, can split the lines back into cells)."""

    columns: Sequence[tuple[str, int]]

    def line(self, cells: Sequence[object]) -> str:
        (_, first), *rest = self.columns
        parts = [f"{cells[0]!s:<{first}}"] + [f"{cell!s:>{width}}" for cell, (_, width) in zip(cells[1:], rest)]
        return "  ".join(parts).rstrip()

    def header(self) -> str:
        return self.line([name for name, _ in self.columns])

    def rule(self) -> str:
        return "-" * len(self.header())

    def print_header(self) -> None:
        print(self.header())
        print(self.rule(), flush=True)

    def print_row(self, *cells: object) -> None:
        print(self.line(cells), flush=True)


def percent(value: float) -> str:
    return f"{100 * value:.1f}%"
