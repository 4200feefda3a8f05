"""Does taking the style off the caption-content subspace let a transfer keep more style? On validation only.

For a trained run, the ``transfer`` evaluator's measurement (remvae's judge, the same seeded source/target pairs)
is repeated on the reader's **validation** split for every candidate strength s and number k of content
directions (:func:`remvae.core.transfer.content_basis`: the k leading principal axes of the text posterior means
of the first ``--basis-items`` training captions; k = 0 is the plain residual). Each row gives the content gap
(text→image's content score minus the transfer's) and the style kept (the evaluator's definitions); for each k,
the strength the evaluator's rule chooses (the largest whose gap is at most 3 points) is marked, "all" marks the
(k, strength) it chooses overall (the k keeping the most style), and the verdict compares the style kept with
issue 17's target (≥ 0.5). Nothing opens the test split.

    python benchmarks/transfer_grid.py --args experiments/mnist_xlstm/args.json --run-dir DIR \\
        [--directions 0 4 8 16] [--strengths 0.4 0.6 0.8 1.0 1.2 1.5] [--limit 2000] [--threads 1]
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys

import torch

from common import Table, add_trained_run_arguments, open_trained_run, refuse
from remvae.core.evaluator import EvaluationError
from remvae.playground.evaluators.transfer import StyleTransfer, TransferConfig

SCRIPT = "transfer_grid"
TARGET_KEPT = 0.5  # issue 17: style kept >= 0.5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_run_arguments(parser)
    parser.add_argument("--directions", type=int, nargs="+", default=[0, 4, 8, 16],
                        help="candidate numbers of content directions k (0: the shipped transfer)")
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.4, 0.6, 0.8, 1.0, 1.2, 1.5])
    parser.add_argument("--limit", type=int, default=2000, help="validation pairs transferred (default 2000)")
    parser.add_argument("--basis-items", type=int, default=5000, help="training captions the basis is fitted to")
    options = parser.parse_args()
    if any(k < 0 for k in options.directions) or any(s <= 0 for s in options.strengths):
        return refuse(SCRIPT, "--directions must be >= 0 and --strengths > 0")
    if options.limit < 2 or options.basis_items < 2:
        return refuse(SCRIPT, "--limit and --basis-items must be at least 2")
    trained = open_trained_run(SCRIPT, options)
    if isinstance(trained, int):
        return trained
    experiment, loaded, train = trained.experiment, trained.loaded, trained.train
    judge = experiment.spec.evaluation.judge

    evaluator = StyleTransfer(TransferConfig(limit=options.limit, directions=sorted(set(options.directions)),
                                             basis_items=options.basis_items))
    ctx = trained.validation_context(options.limit)
    with torch.no_grad():
        try:
            bases = evaluator.content_bases(ctx)
        except EvaluationError as error:
            return refuse(SCRIPT, str(error))
        curve = {(k, s): evaluator.measure(ctx, s, basis) for k, basis in bases.items()
                 for s in sorted(set(options.strengths))}
    overall, max_gap = evaluator.choose(curve), evaluator.config.max_content_gap
    print(f"{experiment.name}, checkpoint {loaded.checkpoint.name} (step {loaded.identity['step']}): content basis "
          f"from {min(options.basis_items, len(train))} training captions; {ctx.n} validation items judged by "
          f"{judge}, {min(options.limit, ctx.n)} transferred")
    table = Table([("directions k", 12), ("strength", 8), ("content gap", 11), ("style kept", 10), ("chosen", 7),
                   ("target", 6), ("verdict", 7)])
    table.print_header()
    for k in bases:
        mine = {key: scores for key, scores in curve.items() if key[0] == k}
        chosen = evaluator.choose(mine)
        for key, scores in mine.items():
            gap, kept = scores["content_gap"], scores["style_kept"]
            mark = "" if key != chosen else ("yes, all" if key == overall else "yes")
            verdict = ("met" if kept >= TARGET_KEPT and gap <= max_gap + 1e-9 else "missed") if mark else ""
            table.print_row(str(k), f"{key[1]:g}", f"{100 * gap:.1f} pts", f"{kept:.3f}", mark,
                            f"{TARGET_KEPT}" if mark else "", verdict)
    print(f"\nchosen: per k, the largest strength whose validation content gap is at most {100 * max_gap:.0f} points; "
          "all: the k among those keeping the most style (the transfer evaluator's rule)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
