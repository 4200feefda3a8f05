"""How long every offline evaluator takes on as many pairs as MNIST's test split (10,000), on a small CPU budget.

    python benchmarks/eval_speed.py [--experiment mnist_gru] [--limit 10000] [--threads 2] [--batch-size 500]

The model is the experiment's (default ``mnist_gru``: a ``conv`` image VAE and a ``gru`` text VAE),
untrained, so its captions run to ``max_length`` (the slowest case for decoding). The pairs evaluated are
``--limit`` pairs of the experiment's TRAINING split, as many as the test split that ``remvae eval`` reads
(a benchmark never reads the test split; evaluation cost depends on the number of pairs, not on which);
the linear probe of ``latent`` is fitted on the same pairs. Data come from ``$REMVAE_DATA``, else
``../shared/data`` beside the checkout; without the data set the script says so and exits with status 0.
Prints one row per evaluator (each includes the shared work it was first to need: posteriors,
generations, the judge's view of the real images) and the two targets: cross-modal accuracy +
reconstruction + latent space within 2 minutes, everything offline (all but the Inception FID and the
Hugging Face LM perplexity, which need weights from the network) within 5 minutes.
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
import time

import torch

from common import EXIT_BAD_INPUT, Table, load_args, shipped
from remvae.core.data import DataNotFoundError
from remvae.core.evaluator import EvaluationContext, run_evaluators
from remvae.core.registry import EVALUATORS
from remvae.experiment import fit_tokenizer, read_split
from data_root import reader_of

SCRIPT = "eval_speed"
CORE = ("cross_modal", "reconstruction", "latent")
OTHERS = ("perplexity", "caption_validity", "judge_fid", "caption_perplexity")
TARGETS = {"cross_modal + reconstruction + latent": 120.0, "all offline evaluators": 300.0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="mnist_gru", help="shipped experiment giving the model and data")
    parser.add_argument("--limit", type=int, default=10000, help="training pairs evaluated (default 10,000)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    options = parser.parse_args()
    if options.limit < 2:
        parser.error("--limit must be at least 2")
    torch.set_num_threads(options.threads)
    experiment = load_args(SCRIPT, shipped(options.experiment))
    if experiment is None:
        return EXIT_BAD_INPUT

    start = time.perf_counter()
    reader, config = reader_of(experiment)
    try:
        pairs = read_split(reader, config, "train", options.limit)
    except DataNotFoundError as error:
        print(f"{SCRIPT}: {error}; skipped (set REMVAE_DATA to a folder holding the data set)")
        return 0
    tokenizer = fit_tokenizer(pairs)
    model = experiment.model_spec().build(tokenizer, seed=0)
    context = EvaluationContext(model, tokenizer, pairs, train_set=pairs, split="train", dataset=reader,
                                judge=experiment.spec.evaluation.judge, batch_size=options.batch_size)
    print(f"data and model: {time.perf_counter() - start:.1f} s ({context.n} {reader} training pairs, "
          f"{options.threads} threads, {experiment.name}'s model untrained)\n")
    seconds: dict[str, float] = {}
    for name in (*CORE, *OTHERS):
        began = time.perf_counter()
        run_evaluators(context, {name: EVALUATORS.build(name)}, None)
        seconds[name] = time.perf_counter() - began

    table = Table([("evaluator", 40), ("seconds", 8)])
    table.print_header()
    for name, value in seconds.items():
        table.print_row(name, f"{value:.1f}")
    totals = {"cross_modal + reconstruction + latent": sum(seconds[n] for n in CORE),
              "all offline evaluators": sum(seconds.values())}
    print()
    table = Table([(f"total (n = {context.n})", 40), ("seconds", 8), ("target", 7), ("met", 4)])
    table.print_header()
    for name, value in totals.items():
        table.print_row(name, f"{value:.1f}", f"{TARGETS[name]:.0f}", "yes" if value <= TARGETS[name] else "no")
    return 0


if __name__ == "__main__":
    sys.exit(main())
