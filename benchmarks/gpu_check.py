"""GPU check: the quickstart and the reference configuration trained a few steps on CUDA, autocast and compiled.

    python benchmarks/gpu_check.py [--steps 50] [--warmup 10] [--precisions bf16 fp16] [--experiments NAME ...]

For each experiment (default: ``quickstart`` and ``reference_mnist_gru``) and precision, a fresh ``fit`` of
``--warmup + --steps`` steps of its own trainer on a seeded 3,600-pair training subset, with the trainer
config fields ``device: cuda``, ``precision`` (bf16 or fp16 autocast) and ``compile: true`` (the schedules span
those steps). Printed per run: samples/s after the warm-up (the trainer's own logged intervals; the warm-up
holds the compilation), whether every step's loss was finite (the trainer stops at the first non-finite term),
the last loss, and the peak CUDA memory allocated. Without CUDA it prints one line saying why it skipped and
exits with status 0. Data as ``train_throughput.py``: MNIST under ``$REMVAE_DATA`` or ``../shared/data``, else
the bundled digits.
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import math
import sys
import tempfile
import time
from typing import TYPE_CHECKING

import torch

from common import EXIT_BAD_INPUT, Table, load_args, logged_after_warmup, shipped, short_trainer

if TYPE_CHECKING:
    from remvae.args import Experiment
    from data_root import ExperimentData

SCRIPT = "gpu_check"
EXPERIMENTS = ("quickstart", "reference_mnist_gru")
TABLE = Table([("experiment", 20), ("precision", 9), ("compile", 7), ("batch", 5), ("samples/s", 9),
               ("loss finite", 11), ("last loss", 10), ("peak MiB", 9), ("wall s", 7)])


def skip_reason() -> str | None:
    """Why this machine cannot run the check (no CUDA build, no device), else ``None``."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is built without CUDA"
    if not torch.cuda.is_available():
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return None


def check(experiment: Experiment, data: ExperimentData, precision: str, options: argparse.Namespace) -> list[object]:
    """One fresh compiled, autocast ``fit`` on CUDA; the table cells of what it measured."""
    from remvae.core.runfolder import RunFolder
    from remvae.core.trainer import NonFiniteLossError

    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="remvae-gpu-") as folder:
        run = RunFolder(folder)
        trainer = short_trainer(experiment, data, run, options.warmup + options.steps, log_every=options.warmup,
                                device="cuda", precision=precision, compile=True)
        batch = trainer.config.batch_size
        try:
            result = trainer.fit(data.train)
            finite, loss = "yes", result.final_loss
            rate = f"{logged_after_warmup(run, batch).samples_per_s:.0f}"
        except NonFiniteLossError as error:
            finite, loss, rate = f"no (step {error.step}, {error.term})", math.nan, "-"
    peak = torch.cuda.max_memory_allocated() / 2**20
    loss_cell = f"{loss:.4g}" if loss is not None and math.isfinite(loss) else "-"
    return [experiment.name, precision, "yes", batch, rate, finite, loss_cell, f"{peak:.0f}",
            f"{time.perf_counter() - started:.1f}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50, help="timed steps per run (default 50)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first, compilation included (default 10)")
    parser.add_argument("--precisions", nargs="+", choices=("bf16", "fp16"), default=["bf16", "fp16"])
    parser.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS), metavar="NAME")
    options = parser.parse_args()
    if min(options.steps, options.warmup) < 1:
        parser.error("--steps and --warmup must be at least 1")
    reason = skip_reason()
    if reason is not None:
        print(f"{SCRIPT}: skipped: {reason}")
        return 0
    from data_root import SUBSET_ITEMS, training_subset

    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}; "
          f"{options.steps} timed steps after {options.warmup} warm-up (compilation) steps per run\n")
    TABLE.print_header()
    for name in options.experiments:
        experiment = load_args(SCRIPT, shipped(name))
        if experiment is None:
            return EXIT_BAD_INPUT
        data, _ = training_subset(experiment, SUBSET_ITEMS)
        for precision in options.precisions:
            TABLE.print_row(*check(experiment, data, precision, options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
