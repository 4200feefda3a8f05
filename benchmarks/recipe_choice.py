"""Which recipe trains a configuration best? Candidate runs judged side by side on validation; one is chosen.

Each candidate is a trained run (its args.json and run folder), e.g. one configuration of Table 2 trained by two
recipes (``tools/table2.py --recipe reference`` and ``--recipe remvae``), loaded at its checkpoint with the prior
it fitted. Every candidate is judged on the same items of the reader's **validation** split by the experiment's
judge: ``cross_modal`` (posterior means) and ``judge_fid`` (reconstructions and prior draws; their
difference is Table 2's generation FID minus reconstruction FID). The chosen candidate has the best ``--by``
metric (default: text→image attribute accuracy on attribute data, text→image top-1 on class data; higher is
better except for FIDs). Nothing opens the test split, so a recipe chosen from this table is chosen on validation.

    python benchmarks/recipe_choice.py --candidate experiments/reference_celeba_gru_32/args.json RUN_A \\
        --candidate runs/table2/reference_celeba_gru_32-remvae/args.json RUN_B [--by METRIC] [--limit 500]
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
from pathlib import Path
import torch

from common import Table, TrainedRun, open_trained_run, refuse
from remvae.core.evaluator import EvaluationError, run_evaluators
from remvae.core.registry import EVALUATORS

SCRIPT = "recipe_choice"


def judged(trained: TrainedRun, limit: int | None) -> dict[str, float]:
    """Cross-modal scores and judge FIDs of one trained run on its validation split."""
    ctx = trained.validation_context(limit)
    evaluators = {"cross_modal": EVALUATORS.build("cross_modal", {"class_fid": False, "top_k": [1]}),
                  "judge_fid": EVALUATORS.build("judge_fid", {"sets": ["reconstruction", "prior"]})}
    results = run_evaluators(ctx, evaluators, None)["evaluators"]
    cross, fid = results["cross_modal"]["metrics"], results["judge_fid"]["metrics"]
    return {**{key: value for key, value in cross.items() if isinstance(value, float)},
            "text_to_image": cross.get("text_to_image_attribute_accuracy", cross.get("text_to_image_top1")),
            "reconstruction_fid": fid["reconstruction_fid"], "prior_fid": fid["prior_fid"],
            "difference_fid": fid["prior_fid"] - fid["reconstruction_fid"], "n": results["cross_modal"]["n"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", nargs=2, action="append", required=True, metavar=("ARGS", "RUN_DIR"),
                        type=Path, help="a trained candidate: its args.json and run folder (give two or more)")
    parser.add_argument("--by", default="text_to_image",
                        help="the metric that chooses (default text_to_image; a *_fid metric: lower is better)")
    parser.add_argument("--checkpoint", default="best", help="which checkpoint of each run (default best)")
    parser.add_argument("--limit", type=int, default=None, help="validation pairs judged (default all)")
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    if len(options.candidate) < 2:
        return refuse(SCRIPT, "give at least two --candidate ARGS RUN_DIR to choose between")
    if options.limit is not None and options.limit < 2:
        return refuse(SCRIPT, f"--limit must be at least 2, got {options.limit}")
    rows, data = [], None
    for args, run_dir in options.candidate:
        trained = open_trained_run(SCRIPT, argparse.Namespace(args=args, run_dir=run_dir, threads=options.threads,
                                                              checkpoint=options.checkpoint), prior=True)
        if isinstance(trained, int):
            return trained
        spec = trained.experiment.spec
        same = (trained.reader, trained.experiment.component("reader")[1], spec.data.model_dump(),
                spec.evaluation.judge)
        if data is not None and same != data:
            return refuse(SCRIPT, f"{args}: reads other data or another judge than {options.candidate[0][0]}; "
                                  "candidates must be judged on the same validation items")
        data = same
        with torch.no_grad():
            try:
                scores = judged(trained, options.limit)
            except EvaluationError as error:
                return refuse(SCRIPT, f"{run_dir}: {error}")
        if options.by not in scores:
            known = ", ".join(sorted(key for key in scores if key != "n"))
            return refuse(SCRIPT, f"--by {options.by}: not a metric of these runs (one of: {known})")
        rows.append((trained.experiment.name, trained.loaded, scores))
    lower = options.by.endswith("_fid")
    best = (min if lower else max)(range(len(rows)), key=lambda i: rows[i][2][options.by])
    print(f"{len(rows)} candidates judged on the same {rows[0][2]['n']} validation pairs by "
          f"{spec.evaluation.judge or trained.reader}; chosen by {options.by} ({'lower' if lower else 'higher'} is "
          "better)")
    table = Table([("candidate", max(9, *(len(name) for name, _, _ in rows))), ("checkpoint step", 15),
                   ("prior", 15), ("text->image", 11), ("joint coherence", 15), ("recon FID", 9),
                   ("generation FID", 14), ("difference", 10), ("chosen", 6)])
    table.print_header()
    for index, (name, loaded, scores) in enumerate(rows):
        table.print_row(name, loaded.identity["step"], loaded.model.prior().name,
                        f"{100 * scores['text_to_image']:.2f}%", f"{100 * scores['joint_coherence']:.2f}%",
                        f"{scores['reconstruction_fid']:.3f}",
                        f"{scores['prior_fid']:.3f}", f"{scores['difference_fid']:.3f}",
                        "yes" if index == best else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
