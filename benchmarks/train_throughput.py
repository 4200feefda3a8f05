"""Training throughput of the mixed (image + text) trainer on CPU, and where the time goes.

    python benchmarks/train_throughput.py [--experiments NAME ...] [--threads 2] [--steps 100] [--warmup 10]
                                          [--data DIR]

Each configuration is a shipped experiment, read from ``experiments/<NAME>/args.json`` and trained by its
own trainer (trainer name, batch size, loss weights, cross terms, optimizer, LR schedule) on a seeded
4,000-item subset of its training split: ``reference_mnist_gru`` (the reference's exact configuration:
MNIST 56x56, conv widths 32/64/128, latent 30, GRU 64, context 10, batch 32, ``adaptive_annealing``)
and the defaults ``mnist_gru`` (batch 64), ``fashion_mnist_gru`` (the same model at batch 128),
``mnist_lstm``, ``mnist_xlstm`` (the ``fashion_mnist_*`` LSTM and xLSTM defaults use the same models and
batch size), ``celeba_gru``, ``celeba_lstm``, ``celeba_xlstm`` (64x64 RGB).
``--experiments`` picks a subset (default: all). The only changes to the trainer configs are for benchmarking: quiet, no
resume, CPU, ``--threads`` threads, ``--warmup + --steps`` steps, no best checkpoint.

It prints the CPU's matmul throughput (best of several fp32 2048x2048 products at ``--threads``
threads), then one line per configuration:

* samples/s of the real trainer's ``fit``, from its logged intervals after ``--warmup`` steps, beside the
  goal: 470 samples/s (2x the reference's ~235) for the reference row, the reference's 235 for the
  defaults, and the ratio to 235;
* ms per step in data (index + uint8->float + text trim), forward (both VAEs and every weighted loss term
  of the experiment's objective), backward and optimizer (gradient norm, finiteness check, clipping
  when configured, optimizer and LR-scheduler step), as the same ``fit`` logs them with the trainer
  option ``time_phases`` (``ms_*`` in train.jsonl);
* the FLOPs of one step's forward + backward (``torch.utils.flop_counter``: matmuls and convolutions),
  the GFLOP/s this achieves over the measured data-free step time (forward + backward + optimizer), and
  its share of the matmul throughput: the headroom left.

Then, for ``mnist_gru`` (else the first default selected), where one epoch of its real configuration
goes: data, forward, backward and optimizer seconds (ms per step x steps per epoch) and one epoch-end
evaluation (``cross_modal``, sampled z, top-1, on a seeded 1,000-pair test subset with the
experiment's judge), each with its share. Times only; nothing is asserted.

Data come from ``--data`` (default ``$REMVAE_DATA``, else ``../shared/data`` beside the checkout when
it exists); without MNIST the bundled digits are used, without CelebA its rows are skipped.

``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` here (set ``OMP_WAIT_POLICY=ACTIVE`` to compare): on a CPU
shared with other processes, OpenMP threads that spin while waiting for each other cut 2-thread
throughput by about 10x.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import argparse
import itertools
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import remvae.playground  # noqa: F401  (fills the registries)
from data_root import default_data_root
from remvae.core.data import DataNotFoundError, ImageTextDataset
from remvae.core.distributed import DistributedContext
from remvae.core.evaluator import EvaluationContext, EvaluationError
from remvae.core.multimodal import MultimodalVAE
from remvae.core.registry import EVALUATORS, READERS, TRAINERS
from remvae.experiment import fit_tokenizer, test_data, training_data
from remvae.generator.schema import Experiment, load_experiment
from remvae.playground.evaluators.judges.judge import JudgeError
from remvae.playground.trainers.batches import batches_per_epoch
from remvae.playground.trainers.loop import LoopTrainer
from remvae.playground.trainers.phases import PHASES
from remvae.text.tokenizer import Tokenizer

REFERENCE_SAMPLES_PER_S = 235.0
TARGET = 2 * REFERENCE_SAMPLES_PER_S
REFERENCE = "reference_mnist_gru"
DEFAULTS = ("mnist_gru", "fashion_mnist_gru", "mnist_lstm", "mnist_xlstm", "celeba_gru", "celeba_lstm", "celeba_xlstm")
EPOCH_ROW = "mnist_gru"
EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
TRAIN_ITEMS = 4000  # the bundled digits' training split, so the MNIST fallback fits too
EVAL_ITEMS = 1000
EVALUATION = {"sample": True, "class_fid": False, "top_k": [1]}
MATMUL_SIDE = 2048
FLOP_STEPS = 10


@dataclass
class Bench:
    """One experiment with its training subset, ready to benchmark."""

    name: str
    experiment: Experiment
    reader: str  # the reader used: the experiment's, or ``bundled_digits`` standing in for MNIST
    reader_config: dict[str, Any]
    train: ImageTextDataset
    tokenizer: Tokenizer

    @property
    def seed(self) -> int:
        return self.experiment.spec.seed or 0

    @property
    def trainer(self) -> tuple[str, dict[str, Any]]:
        return self.experiment.component("trainer")


def load_bench(name: str, root: Path | None) -> Bench | None:
    """The experiment ``name`` with a seeded training subset; ``None`` (and a printed line) without its data."""
    experiment = load_experiment(EXPERIMENTS / name / "args.json")
    reader, config = experiment.component("reader")
    if root is not None:
        config["root"] = str(root)
    seed = experiment.spec.seed or 0
    where = root or "the default data roots"
    try:
        train, _ = training_data(reader, config, TRAIN_ITEMS, 0, seed=seed)
    except DataNotFoundError:
        if reader != "mnist":
            print(f"{name}: no {reader} data under {where}; skipped", flush=True)
            return None
        print(f"{name}: no MNIST under {where}; using the bundled digits", flush=True)
        fields = READERS.get("bundled_digits").config.model_fields
        reader, config = "bundled_digits", {k: v for k, v in config.items() if k in fields}
        train, _ = training_data(reader, config, TRAIN_ITEMS, 0, seed=seed)
    return Bench(name, experiment, reader, config, train, fit_tokenizer(train))


def build_model(bench: Bench) -> MultimodalVAE:
    torch.manual_seed(bench.seed)
    return bench.experiment.model_spec().build(bench.tokenizer)


def build_trainer(bench: Bench, run_dir: str, threads: int, max_steps: int, log_every: int) -> LoopTrainer:
    """The experiment's trainer, changed only where benchmarking needs it."""
    name, config = bench.trainer
    per_epoch = len(bench.train) // config["batch_size"]
    config.update(
        epochs=max(config["epochs"], max_steps // per_epoch + 1), max_steps=max_steps, log_every=log_every,
        time_phases=True, quiet=True, resume=False, device="cpu", num_threads=threads,
        checkpoint={**config["checkpoint"], "keep_best": False},
    )
    return TRAINERS.build(name, config, model=build_model(bench), run_dir=run_dir, tokenizer=bench.tokenizer)


@dataclass
class Measured:
    """What the trainer's own ``fit`` logged after the warm-up (``time_phases`` on)."""

    samples_per_s: float
    ms: dict[str, float]  # per step, in each of PHASES
    model: MultimodalVAE
    batch_size: int


def measure(bench: Bench, threads: int, warmup: int, steps: int) -> Measured:
    """Samples/s and ms per phase of ``fit`` over the steps after the warm-up, from its train.jsonl records."""
    with tempfile.TemporaryDirectory(prefix="remvae-throughput-") as run_dir:
        trainer = build_trainer(bench, run_dir, threads, warmup + steps, log_every=warmup)
        trainer.fit(bench.train)
        lines = (Path(run_dir) / "metrics" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    batch = trainer.config.batch_size
    intervals = [(r["step"] - p["step"], r) for p, r in itertools.pairwise(records)]  # the first closes the warm-up
    timed = sum(n for n, _ in intervals)
    seconds = sum(n * batch / r["samples_per_s"] for n, r in intervals)
    ms = {phase: sum(n * r[f"ms_{phase}"] for n, r in intervals) / timed for phase in PHASES}
    return Measured(timed * batch / seconds, ms, trainer.model, batch)


def step_flops(bench: Bench, threads: int) -> int:
    """FLOPs (matmuls and convolutions) of one training step of ``fit``: forward and backward.

    Averaged over ``FLOP_STEPS`` steps: a one-cycle LR schedule cannot be built for very few.
    """
    with tempfile.TemporaryDirectory(prefix="remvae-flops-") as run_dir:
        trainer = build_trainer(bench, run_dir, threads, max_steps=FLOP_STEPS, log_every=FLOP_STEPS)
        with FlopCounterMode(display=False) as counter:
            trainer.fit(bench.train)
    return counter.get_total_flops() // FLOP_STEPS


def matmul_gflops(repeats: int = 5) -> float:
    """Best fp32 GFLOP/s of a ``MATMUL_SIDE``-square ``a @ b`` at the current thread count."""
    a, b = torch.randn(MATMUL_SIDE, MATMUL_SIDE), torch.randn(MATMUL_SIDE, MATMUL_SIDE)
    a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * MATMUL_SIDE**3 / best / 1e9


def evaluation_seconds(bench: Bench, model: MultimodalVAE) -> float | None:
    """Wall time of one epoch-end ``cross_modal`` evaluation on the seeded test subset; ``None`` without
    test data or judge."""
    spec = bench.experiment.spec
    try:
        test = test_data(bench.reader, bench.reader_config)
        model.eval()
        start = time.perf_counter()
        context = EvaluationContext(model=model, tokenizer=bench.tokenizer, test_set=test,
                                    dataset=bench.experiment.component("reader")[0], judge=spec.evaluation.judge,
                                    limit=EVAL_ITEMS, seed=0)
        EVALUATORS.build("cross_modal", EVALUATION).evaluate(context)
        return time.perf_counter() - start
    except (DataNotFoundError, JudgeError, EvaluationError) as error:
        print(f"{bench.name}: no epoch-end evaluation timed ({error})")
        return None
    finally:
        model.train()


def epoch_items(bench: Bench) -> int:
    """Training items per epoch of the experiment (its ``train_length``, else its whole training split)."""
    data = bench.experiment.spec.data
    if data.train_length is not None:
        return data.train_length
    train, _ = training_data(bench.reader, bench.reader_config, None, data.validation_length, seed=bench.seed)
    return len(train)


def print_epoch(bench: Bench, parts: dict[str, float], evaluation: float | None) -> None:
    """Seconds and share of each phase in one epoch of the experiment, plus one epoch-end evaluation."""
    batch = bench.trainer[1]["batch_size"]
    items = epoch_items(bench)
    steps = batches_per_epoch(items, batch, DistributedContext(), drop_last=bench.trainer[1]["drop_last"])
    seconds = {phase: ms * steps / 1000 for phase, ms in parts.items()}
    if evaluation is not None:
        seconds["evaluation"] = evaluation
    total = sum(seconds.values())
    evaluated = f", + one epoch-end evaluation ({EVAL_ITEMS:,} test pairs, cross_modal, sampled z)"
    if evaluation is None:
        evaluated = ""
    print(f"\nwhere one epoch of {bench.name} goes: {steps} steps of {batch} ({items:,} items), "
          f"ms/step above x steps{evaluated}")
    print(f"{'phase':<12} {'seconds':>8} {'share':>7}")
    for phase, value in seconds.items():
        print(f"{phase:<12} {value:>8.1f} {100 * value / total:>6.1f}%")
    print(f"{'total':<12} {total:>8.1f} {100.0:>6.1f}%")


def print_header(args: argparse.Namespace, peak: float) -> None:
    """The run's conditions and the column names."""
    policy = os.environ["OMP_WAIT_POLICY"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY={policy}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {args.steps} timed steps after "
          f"{args.warmup} warm-up; {TRAIN_ITEMS:,} training items; data {args.data}")
    print(f"matmul throughput: {peak:.1f} GFLOP/s (best fp32 {MATMUL_SIDE}x{MATMUL_SIDE} a @ b)\n")
    left = f"{'experiment':<20} {'batch':>5} {'samples/s':>9} {'goal':>12} {'x ref':>6}"
    phases = " ".join(f"{label:>6}" for label in ("data", "fwd", "bwd", "opt"))
    step = f"{'GFLOP':>6} {'GFLOP/s':>7} {'of peak':>7}"
    print(f"{'':<{len(left)}} {'ms per step':^{len(phases)}} {'one step vs matmul':^{len(step)}}")
    header = f"{left} {phases} {step}"
    print(header)
    print("-" * len(header), flush=True)


def print_row(name: str, batch: int, rate: float, ms: dict[str, float], flops: int, peak: float) -> None:
    """One configuration: samples/s beside its goal, ms per phase, and the step's FLOPs against the matmul peak."""
    achieved = flops / ((ms["forward"] + ms["backward"] + ms["optimizer"]) / 1000) / 1e9
    goal = f"{TARGET:.0f} (2x ref)" if name == REFERENCE else f"{REFERENCE_SAMPLES_PER_S:.0f} (ref)"
    print(f"{name:<20} {batch:>5} {rate:>9.0f} {goal:>12} {rate / REFERENCE_SAMPLES_PER_S:>6.2f} "
          + " ".join(f"{ms[p]:>6.2f}" for p in PHASES)
          + f" {flops / 1e9:>6.3f} {achieved:>7.1f} {100 * achieved / peak:>6.1f}%", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", choices=(REFERENCE, *DEFAULTS), default=[REFERENCE, *DEFAULTS],
                        metavar="NAME", help=f"which experiments (default: all of {REFERENCE} {' '.join(DEFAULTS)})")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first, at least 1 (default 10)")
    parser.add_argument("--data", type=Path, default=default_data_root(), help="data root holding MNIST/ and celeba/")
    args = parser.parse_args()
    if args.warmup < 1 or args.steps < 1 or args.threads < 1:
        parser.error("--threads, --steps and --warmup must be at least 1")
    torch.set_num_threads(args.threads)
    peak = matmul_gflops()
    print_header(args, peak)
    defaults = [name for name in args.experiments if name in DEFAULTS]
    epoch_row = EPOCH_ROW if EPOCH_ROW in defaults else next(iter(defaults), None)
    epoch_report: tuple[Bench, dict[str, float], MultimodalVAE] | None = None
    for name in args.experiments:
        bench = load_bench(name, args.data)
        if bench is None:
            continue
        measured = measure(bench, args.threads, args.warmup, args.steps)
        print_row(name, measured.batch_size, measured.samples_per_s, measured.ms, step_flops(bench, args.threads), peak)
        if name == epoch_row:
            epoch_report = (bench, measured.ms, measured.model)
    if epoch_report is not None:
        bench, ms, model = epoch_report
        print_epoch(bench, ms, evaluation_seconds(bench, model))


if __name__ == "__main__":
    main()
