"""Training throughput of remvae's trainer on CPU beside a plain-PyTorch baseline, and where the time goes.

    python benchmarks/train_throughput.py [--experiments NAME ...] [--threads 2] [--steps 100] [--warmup 10]
                                          [--blocks 3] [--data DIR] [--profile FILE]

Each configuration is a shipped experiment, read from ``experiments/<NAME>/args.json`` and trained by its
own trainer (trainer, batch size, loss weights, optimizer, LR schedule) on a seeded 3,600-item subset of its
training split: ``reference_mnist_gru`` (the reference's configuration: MNIST 56x56, conv 32-64-128, latent
30, GRU 64, context 10, batch 32, ``adaptive_annealing``), the defaults ``mnist_gru``, ``fashion_mnist_gru``,
``mnist_lstm``, ``mnist_xlstm``, ``celeba_gru``, ``celeba_lstm``, ``celeba_xlstm`` and ``quickstart``.
``--experiments`` picks some (default: the reference and the defaults, not quickstart). The trainer configs
change only for benchmarking: quiet, no resume, CPU, ``--threads`` threads, ``--warmup + --steps`` steps,
no best checkpoint, ``time_phases`` on.

The baseline (``reference_step.py``) is a minimal plain-PyTorch training step of the reference architecture
at batch 32 on the reference configuration's data. Each row runs ``--blocks`` rounds of one remvae block (a
fresh ``fit``: ``--warmup`` untimed steps, then ``--steps`` timed) and one baseline block (the same counts),
one after the other, so that load from other processes hits both; ``x base`` is the median over rounds of
remvae's samples/s divided by the baseline's in the same round (``range``: the lowest and highest).

Printed: the CPU's matmul throughput (best fp32 2048x2048 product at ``--threads`` threads), then per
configuration: samples/s of remvae (its ``fit``'s own logged intervals after the warm-up) and of the
baseline, their ratio, the goal (``reference_mnist_gru``: >= 940 samples/s, 4x the reference's 235 on 2
threads; the others: the reference's 235) and remvae / 235; ms per step in data, forward, backward and
optimizer (``ms_*`` in train.jsonl); the FLOPs of one step's forward + backward (``torch.utils.flop_counter``:
matmuls and convolutions), the GFLOP/s they run at over the data-free step time, and the share of the
matmul peak. Then, for ``mnist_gru`` (else the first row), where one epoch goes: each phase's ms x
steps per epoch, the trainer's epoch-end validation-loss pass and checkpoint writes (measured), and one
judging of 1,000 validation pairs as ``time_to_accuracy.py`` does it (measured). Nothing is asserted.

``--profile FILE`` first profiles ``--warmup + --steps`` steps of the reference configuration's ``fit`` (its
setup included, on just the items those steps read) and of the baseline with ``torch.profiler``, writes their
operator tables, sorted by self CPU time, to FILE, each also grouped by input shapes (which layer a convolution
is), and prints the top operators.

Data come from ``--data`` (default ``$REMVAE_DATA``, else ``../shared/data`` beside the checkout); without
MNIST the bundled digits are used, resized alike; without Fashion-MNIST or CelebA their rows are skipped.
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import math
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from common import Table, build_trainer, judge_validation, logged_after_warmup, shipped, short_trainer
from data_root import SUBSET_ITEMS, ExperimentData, default_data_root, training_subset
from reference_step import BATCH as BASELINE_BATCH
from reference_step import ReferenceStep
from remvae.args import Experiment, load_experiment
from remvae.core.data import DataNotFoundError, ImageTextDataset
from remvae.core.model import MultimodalModel
from remvae.core.runfolder import RunFolder
from remvae.experiment import read_split
from remvae.playground.trainers.phases import PHASES

REFERENCE_SAMPLES_PER_S = 235.0
TARGET = 4 * REFERENCE_SAMPLES_PER_S
REFERENCE = "reference_mnist_gru"
DEFAULTS = ("mnist_gru", "fashion_mnist_gru", "mnist_lstm", "mnist_xlstm", "celeba_gru", "celeba_lstm", "celeba_xlstm")
CHOICES = (REFERENCE, *DEFAULTS, "quickstart")
EPOCH_ROW = "mnist_gru"
MATMUL_SIDE = 2048
FLOP_STEPS = 10  # averaged over several: a one-cycle LR schedule cannot be built for very few
EPOCH_END_STEPS = 10  # the steps of the one-epoch fit that times the trainer's epoch end
PROFILE_ROWS = 15


@dataclass
class Bench:
    """One experiment with its training subset, ready to benchmark."""

    name: str
    experiment: Experiment
    data: ExperimentData
    note: str


def load_bench(name: str, root: Path | None) -> Bench | None:
    """The experiment ``name`` with a seeded training subset; ``None`` (and a printed line) without its data."""
    experiment = load_experiment(shipped(name))
    try:
        data, note = training_subset(experiment, SUBSET_ITEMS, root)
    except DataNotFoundError as error:
        print(f"{name}: skipped ({error})", flush=True)
        return None
    return Bench(name, experiment, data, note)


@dataclass
class Block:
    """What one remvae ``fit`` logged after its warm-up (``time_phases`` on)."""

    samples_per_s: float
    ms: dict[str, float]  # per step, in each of PHASES
    batch_size: int
    model: MultimodalModel  # as trained by the block


def remvae_block(bench: Bench, threads: int, warmup: int, steps: int) -> Block:
    """Samples/s and ms per phase of a fresh ``fit`` over the steps after the warm-up, from its train.jsonl."""
    with tempfile.TemporaryDirectory(prefix="remvae-throughput-") as folder:
        run = RunFolder(folder)
        trainer = short_trainer(bench.experiment, bench.data, run, warmup + steps, log_every=warmup,
                                time_phases=True, device="cpu", num_threads=threads)
        trainer.fit(bench.data.train)
        logged = logged_after_warmup(run, trainer.config.batch_size)
    return Block(logged.samples_per_s, logged.ms, trainer.config.batch_size, trainer.model)


@dataclass
class Row:
    """One configuration over all rounds: remvae's blocks and the baseline's samples/s beside each."""

    name: str
    blocks: list[Block]
    baseline: list[float]

    @property
    def samples_per_s(self) -> float:
        """remvae's samples/s over every timed step of every block."""
        return len(self.blocks) / sum(1 / block.samples_per_s for block in self.blocks)

    @property
    def baseline_samples_per_s(self) -> float:
        return len(self.baseline) / sum(1 / rate for rate in self.baseline)

    @property
    def ratios(self) -> list[float]:
        return [block.samples_per_s / rate for block, rate in zip(self.blocks, self.baseline)]

    @property
    def ms(self) -> dict[str, float]:
        return {phase: statistics.fmean(block.ms[phase] for block in self.blocks) for phase in PHASES}


def measure(bench: Bench, baseline: ReferenceStep, options: argparse.Namespace) -> Row:
    """``--blocks`` rounds of a remvae block then a baseline block, each ``--warmup`` + ``--steps`` steps."""
    row = Row(bench.name, [], [])
    for _ in range(options.blocks):
        row.blocks.append(remvae_block(bench, options.threads, options.warmup, options.steps))
        row.baseline.append(baseline.samples_per_s(options.steps, options.warmup))
    return row


def step_flops(bench: Bench, threads: int) -> int:
    """FLOPs (matmuls and convolutions) of one training step of ``fit``: forward and backward."""
    with tempfile.TemporaryDirectory(prefix="remvae-flops-") as folder:
        trainer = short_trainer(bench.experiment, bench.data, RunFolder(folder), FLOP_STEPS, log_every=FLOP_STEPS,
                                device="cpu", num_threads=threads)
        with FlopCounterMode(display=False) as counter:
            trainer.fit(bench.data.train)
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


def make_baseline(reference: Bench) -> ReferenceStep:
    """The baseline on the reference configuration's training subset (its images and tokenized captions)."""
    text = reference.experiment.component("text")[1]
    assert text is not None
    data = reference.data
    tokens = data.tokenizer.encode_batch(data.train.captions, text["max_length"]).tokens
    return ReferenceStep(data.train.images, tokens, data.tokenizer.vocab_size, data.tokenizer.pad_id)


def profile(bench: Bench, baseline: ReferenceStep, options: argparse.Namespace, path: Path) -> None:
    """Profile the reference configuration's ``fit`` (on just the items its steps read, so that its setup stays
    small) and the baseline's steps; write both tables to ``path``."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    config = bench.experiment.component("trainer")[1]
    assert config is not None
    items = min(len(bench.data.train), (options.warmup + options.steps) * config["batch_size"])
    just_enough = replace(bench, data=replace(bench.data, train=bench.data.train.subset(range(items))))
    tables = []
    with profiler(activities=[ProfilerActivity.CPU], record_shapes=True) as remvae_profile:
        remvae_block(just_enough, options.threads, options.warmup, options.steps)
    with profiler(activities=[ProfilerActivity.CPU], record_shapes=True) as baseline_profile:
        baseline.samples_per_s(options.steps, options.warmup)
    for title, result in (("remvae fit", remvae_profile), ("baseline", baseline_profile)):
        averages = result.key_averages()
        by_shape = result.key_averages(group_by_input_shape=True)
        tables.append(f"{title}: {options.warmup} + {options.steps} steps\n"
                      + averages.table(sort_by="self_cpu_time_total", row_limit=40)
                      + f"\n{title}, by input shapes\n"
                      + by_shape.table(sort_by="self_cpu_time_total", row_limit=40))
        print(f"\nprofile of {title} ({options.warmup} + {options.steps} steps of {bench.name}), top {PROFILE_ROWS} "
              "operators by self CPU time")
        print(averages.table(sort_by="self_cpu_time_total", row_limit=PROFILE_ROWS), flush=True)
    path.write_text("\n\n".join(tables), encoding="utf-8")
    print(f"full tables written to {path}\n", flush=True)


TABLE = Table([
    ("experiment", 18), ("batch", 5), ("samples/s", 9), ("baseline/s", 10), ("x base", 6), ("range", 11),
    ("goal", 12), ("x ref", 5), ("ms data", 7), ("ms fwd", 7), ("ms bwd", 7), ("ms opt", 7), ("GFLOP", 6),
    ("GFLOP/s", 7), ("of peak", 7),
])


def print_row(row: Row, flops: int, peak: float) -> None:
    """One configuration: samples/s beside the baseline and the goal, ms per phase, FLOPs against the matmul peak."""
    ms = row.ms
    achieved = flops / ((ms["forward"] + ms["backward"] + ms["optimizer"]) / 1000) / 1e9
    goal = f">= {TARGET:.0f}" if row.name == REFERENCE else f">= {REFERENCE_SAMPLES_PER_S:.0f}"
    ratios = row.ratios
    TABLE.print_row(
        row.name, row.blocks[0].batch_size, f"{row.samples_per_s:.0f}", f"{row.baseline_samples_per_s:.0f}",
        f"{statistics.median(ratios):.2f}", f"{min(ratios):.2f}-{max(ratios):.2f}", goal,
        f"{row.samples_per_s / REFERENCE_SAMPLES_PER_S:.2f}", *(f"{ms[p]:.2f}" for p in PHASES),
        f"{flops / 1e9:.3f}", f"{achieved:.1f}", f"{100 * achieved / peak:.1f}%",
    )


def epoch_end_seconds(bench: Bench, validation: ImageTextDataset, threads: int) -> float:
    """Seconds of the trainer's epoch end (validation-loss pass over ``validation``, checkpoint writes): a one-epoch
    ``fit`` over ``EPOCH_END_STEPS`` batches, less the time its steps took."""
    config = bench.experiment.component("trainer")[1]
    assert config is not None
    batches = bench.data.train.subset(range(EPOCH_END_STEPS * config["batch_size"]))
    with tempfile.TemporaryDirectory(prefix="remvae-epoch-end-") as folder:
        trainer = build_trainer(bench.experiment, bench.data.tokenizer, RunFolder(folder), epochs=1,
                                device="cpu", num_threads=threads)
        result = trainer.fit(batches, validation)
    return result.train_seconds - len(batches) / result.samples_per_s


def print_epoch(bench: Bench, row: Row, threads: int) -> None:
    """Seconds and share of each phase in one epoch of the experiment's real length, its epoch end, and one judging
    of the model the row's last block trained."""
    experiment = bench.experiment
    config = experiment.component("trainer")[1]
    assert config is not None
    validation = read_split(bench.data.reader, bench.data.config, "validation")
    items = experiment.spec.data.train_length or len(read_split(bench.data.reader, bench.data.config, "train"))
    steps = items // config["batch_size"] if config["drop_last"] else math.ceil(items / config["batch_size"])
    seconds = {phase: value * steps / 1000 for phase, value in row.ms.items()}
    seconds["epoch end"] = epoch_end_seconds(bench, validation, threads)
    judging = judge_validation(row.blocks[-1].model, bench.data.tokenizer, validation, bench.data.reader,
                               experiment.spec.evaluation.judge)
    seconds["judging"] = judging["seconds"]
    total = sum(seconds.values())
    print(f"\nwhere one epoch of {bench.name} goes: {steps} steps of {config['batch_size']} ({items} items; ms/step "
          f"above x steps), the trainer's epoch end (validation loss over {len(validation)} pairs, checkpoints), "
          f"and one judging of {judging['n']} validation pairs (time_to_accuracy.py, cross_modal, sampled z; "
          "not part of training)")
    table = Table([("phase", 10), ("seconds", 8), ("share", 7)])
    table.print_header()
    for phase, value in seconds.items():
        table.print_row(phase, f"{value:.1f}", f"{100 * value / total:.1f}%")
    table.print_row("total", f"{total:.1f}", "100.0%")


def print_header(options: argparse.Namespace, peak: float, reference: Bench) -> None:
    """The run's conditions and the column names."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY="
          f"{os.environ['OMP_WAIT_POLICY']}), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{options.blocks} rounds of {options.steps} timed steps after {options.warmup} warm-up, remvae then "
          f"baseline; data {options.data}")
    print(f"baseline: plain PyTorch step of the reference architecture, batch {BASELINE_BATCH}, on {reference.note}")
    print(f"matmul throughput: {peak:.1f} GFLOP/s (best fp32 {MATMUL_SIDE}x{MATMUL_SIDE} a @ b)\n")
    TABLE.print_header()


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", choices=CHOICES, default=[REFERENCE, *DEFAULTS],
                        metavar="NAME", help=f"which experiments, of {' '.join(CHOICES)} (default: all but quickstart)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--steps", type=int, default=100, help="timed steps per block (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first in each block (default 10)")
    parser.add_argument("--blocks", type=int, default=3, help="rounds of remvae + baseline blocks (default 3)")
    parser.add_argument("--data", type=Path, default=default_data_root(), help="data root holding MNIST/ and celeba/")
    parser.add_argument("--profile", type=Path, default=None, metavar="FILE",
                        help=f"first profile {REFERENCE} and the baseline; write the operator tables to FILE")
    options = parser.parse_args()
    if min(options.warmup, options.steps, options.threads, options.blocks) < 1:
        parser.error("--threads, --steps, --warmup and --blocks must be at least 1")
    return options


def main() -> None:
    options = parse_arguments()
    torch.set_num_threads(options.threads)
    reference = load_bench(REFERENCE, options.data)
    assert reference is not None  # MNIST, or the bundled digits standing in
    baseline = make_baseline(reference)
    if options.profile is not None:
        profile(reference, baseline, options, options.profile)
    peak = matmul_gflops()
    print_header(options, peak, reference)
    epoch_row = EPOCH_ROW if EPOCH_ROW in options.experiments else options.experiments[0]
    epoch_report: tuple[Bench, Row] | None = None
    notes = []
    for name in options.experiments:
        bench = reference if name == REFERENCE else load_bench(name, options.data)
        if bench is None:
            continue
        row = measure(bench, baseline, options)
        print_row(row, step_flops(bench, options.threads), peak)
        notes.append(f"{name}: {bench.note}")
        if name == epoch_row:
            epoch_report = (bench, row)
    print(f"\nsamples/s: remvae's fit and the baseline over all rounds; x base: median of the per-round ratios; goal: "
          f"{REFERENCE} >= {TARGET:.0f} (4x the reference's {REFERENCE_SAMPLES_PER_S:.0f} on 2 threads), others "
          f">= {REFERENCE_SAMPLES_PER_S:.0f}; x ref: samples/s / {REFERENCE_SAMPLES_PER_S:.0f}; load average at the "
          f"end {os.getloadavg()[0]:.1f}")
    print("data: " + "; ".join(notes))
    if epoch_report is not None:
        print_epoch(*epoch_report, options.threads)


if __name__ == "__main__":
    main()
