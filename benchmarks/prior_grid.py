"""How large must the GMM prior be for its draws to look like reconstructions? Mixture size against judge FID.

For a trained run, the GMM prior is fitted (remvae's EM with the run's GMM settings, the prior stage's seed) to
the same latents the prior stage fits, the aggregate posterior of the training items, once per candidate number
of components. Each row reports, on the reader's **validation** split: the mean log-likelihood of the validation
latents (what the prior stage chooses the size by), the judge-feature FID of images decoded from prior draws and
of reconstructions, and their ratio against issue 16's target (prior ÷ recon ≤ 1.3). Nothing opens the test
split, so a candidate grid chosen from this table is chosen on validation.

    python benchmarks/prior_grid.py --args experiments/mnist_gru/args.json --run-dir DIR \
        [--components 10 20 40 80] [--checkpoint best] [--threads 1]
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
import time
from pathlib import Path

import torch

import remvae
from common import EXIT_BAD_INPUT, Table, load_args, refuse
from data_root import reader_of
from remvae.core.checkpoint import CheckpointError
from remvae.core.data import DataNotFoundError
from remvae.core.evaluator import EvaluationContext
from remvae.core.runfolder import RunFolder, RunFolderError
from remvae.experiment import prior_latents, training_data
from remvae.playground.evaluators.common import judged_generated, judged_real
from remvae.playground.evaluators.fid import frechet_distance
from remvae.playground.priors.common import mean_log_prob
from remvae.playground.priors.gmm import GMMPriorConfig, fit_gaussian_mixture

SCRIPT = "prior_grid"
TARGET_RATIO = 1.3  # issue 16: generation FID / reconstruction FID on judge features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args", type=Path, required=True, help="the experiment's args.json")
    parser.add_argument("--run-dir", type=Path, required=True, help="its trained run folder")
    parser.add_argument("--components", type=int, nargs="+", default=[10, 20, 40, 80],
                        help="candidate numbers of mixture components (default: 10 20 40 80)")
    parser.add_argument("--checkpoint", default="best", help="which checkpoint: best (default), last, or a name")
    parser.add_argument("--threads", type=int, default=1)
    options = parser.parse_args()
    if any(k < 1 for k in options.components):
        return refuse(SCRIPT, f"--components must be positive, got {options.components}")
    torch.set_num_threads(options.threads)
    experiment = load_args(SCRIPT, options.args)
    if experiment is None:
        return EXIT_BAD_INPUT
    try:
        loaded = remvae.load(options.run_dir, checkpoint=options.checkpoint, prior=False)
    except (RunFolderError, CheckpointError) as error:
        return refuse(SCRIPT, str(error))
    reader, config = reader_of(experiment)
    data = experiment.spec.data
    try:
        train, validation = training_data(reader, config, data.train_length, data.validation_length)
    except DataNotFoundError as error:
        print(f"{SCRIPT}: {error}; skipped (set REMVAE_DATA to a folder holding the data set)")
        return 0
    if validation is None:
        return refuse(SCRIPT, f"{options.args}: data.validation_length is 0; the benchmark measures on validation")
    name, prior_config = experiment.component("prior")
    settings = GMMPriorConfig.model_validate(prior_config if name == "gmm" else {})
    recorded = RunFolder(options.run_dir).recorded_config()  # a seed run's own trainer seed, as its prior stage used
    seed = (recorded or experiment.resolved())["trainer"]["config"]["seed"]
    model, judge = loaded.model, experiment.spec.evaluation.judge

    def context() -> EvaluationContext:
        return EvaluationContext(model=model, tokenizer=loaded.tokenizer, test_set=validation, split="validation",
                                 dataset=reader, judge=judge, seed=0)

    with torch.no_grad():
        train_latents, val_latents = prior_latents(model, loaded.tokenizer, train, validation, seed)
        first = context()
        _, real = judged_real(first)
        _, reconstructed = judged_generated(first, "reconstruction")
        recon_fid = frechet_distance(real, reconstructed)
        rows = []
        for k in sorted(set(options.components)):
            start = time.perf_counter()
            prior, _ = fit_gaussian_mixture(train_latents, k, seed, settings.reg_covar, settings.tol,
                                            settings.max_iter, settings.restarts)
            seconds = time.perf_counter() - start
            model.use_prior(prior)
            ctx = context()
            _, drawn = judged_generated(ctx, "prior")
            rows.append((k, mean_log_prob(prior, val_latents), seconds, frechet_distance(real, drawn)))
    chosen = max(rows, key=lambda row: row[1])[0]
    print(f"{experiment.name}, checkpoint {loaded.checkpoint.name} (step {loaded.identity['step']}): GMM fitted to "
          f"{len(train_latents)} training latents ({settings.restarts} k-means starts), judged on {first.n} "
          f"validation pairs by {judge}; reconstruction FID {recon_fid:.3f}")
    table = Table([("components", 10), ("val log-lik", 11), ("fit s", 7), ("prior FID", 9), ("recon FID", 9),
                   ("prior / recon", 13), ("target", 6), ("verdict", 7)])
    table.print_header()
    for k, log_likelihood, seconds, prior_fid in rows:
        ratio = prior_fid / recon_fid if recon_fid > 0 else float("inf")
        label = f"{k} (chosen)" if k == chosen else str(k)
        table.print_row(label, f"{log_likelihood:.2f}", f"{seconds:.0f}", f"{prior_fid:.3f}", f"{recon_fid:.3f}",
                        f"{ratio:.2f}", f"{TARGET_RATIO}", "met" if ratio <= TARGET_RATIO else "missed")
    print("\n(chosen): the size the prior stage would pick from these candidates, by validation log-likelihood")
    return 0


if __name__ == "__main__":
    sys.exit(main())
