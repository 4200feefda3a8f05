"""Which post-hoc prior makes draws look like reconstructions? GMM sizes and the MAF against judge FID.

For a trained run, each candidate prior is fitted with the prior stage's seed to the same latents the prior
stage fits, the aggregate posterior of the training items: a GMM (remvae's EM with the run's GMM settings) once
per candidate number of components, and with ``--flow`` the masked autoregressive flow (the run's ``maf``
settings if it uses that prior, else its defaults; early-stopped on validation latents as in the prior stage).
Each row reports, on the reader's **validation** split: the mean log-likelihood of the validation latents (what
the prior stage chooses by), the judge-feature FID of images decoded from prior draws and of reconstructions,
and their ratio against issue 16's target (prior ÷ recon ≤ 1.3). ``--scales`` also judges each mixture with every
component's spread multiplied by a factor (draws z = mu_k + s L_k eps: a sampling temperature; the log-likelihood
column stays the fitted mixture's). Nothing opens the test split, so a prior chosen from this table is chosen on
validation.

    python benchmarks/prior_grid.py --args experiments/mnist_gru/args.json --run-dir DIR \
        [--components 10 20 40 80] [--scales 0.9 0.8] [--flow] [--checkpoint best] [--threads 1]
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
import time

import torch

from common import Table, add_trained_run_arguments, open_trained_run, refuse
from remvae.core.prior import LatentPrior
from remvae.core.runfolder import RunFolder
from remvae.experiment import prior_latents
from remvae.playground.evaluators.common import judged_generated, judged_real
from remvae.playground.evaluators.fid import frechet_distance
from remvae.playground.priors.common import mean_log_prob
from remvae.playground.priors.flow import FlowPriorConfig, fit_flow
from remvae.playground.priors.gmm import GaussianMixturePrior, GMMPriorConfig, fit_gaussian_mixture

SCRIPT = "prior_grid"
TARGET_RATIO = 1.3  # issue 16: generation FID / reconstruction FID on judge features


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_trained_run_arguments(parser)
    parser.add_argument("--components", type=int, nargs="*", default=[10, 20, 40, 80],
                        help="candidate numbers of mixture components (default: 10 20 40 80; none: no GMM rows)")
    parser.add_argument("--scales", type=float, nargs="+", default=[], metavar="S",
                        help="spread factors each mixture's draws are also judged at (beside 1, its fitted spreads)")
    parser.add_argument("--flow", action="store_true", help="also fit and judge the MAF prior")
    options = parser.parse_args()
    if any(k < 1 for k in options.components):
        return refuse(SCRIPT, f"--components must be positive, got {options.components}")
    if any(not 0 < s < float("inf") for s in options.scales):
        return refuse(SCRIPT, f"--scales must be finite and positive, got {options.scales}")
    factors = sorted(set(options.scales) - {1.0}, reverse=True)
    if not options.components and not options.flow:
        return refuse(SCRIPT, "nothing to fit: give --components K... or --flow")
    trained = open_trained_run(SCRIPT, options)
    if isinstance(trained, int):
        return trained
    experiment, loaded = trained.experiment, trained.loaded
    train, validation = trained.train, trained.validation
    name, prior_config = experiment.component("prior")
    settings = GMMPriorConfig.model_validate(prior_config if name == "gmm" else {})
    flow_settings = FlowPriorConfig.model_validate(prior_config if name == "maf" else {})
    recorded = RunFolder(options.run_dir).recorded_config()  # a seed run's own trainer seed, as its prior stage used
    seed = (recorded or experiment.resolved())["trainer"]["config"]["seed"]
    model, judge = loaded.model, experiment.spec.evaluation.judge

    with torch.no_grad():
        train_latents, val_latents = prior_latents(model, loaded.tokenizer, train, validation, seed)
        first = trained.validation_context()
        _, real = judged_real(first)
        _, reconstructed = judged_generated(first, "reconstruction")
        recon_fid = frechet_distance(real, reconstructed)
        candidates = [(f"gmm {k}", lambda k=k: fit_gaussian_mixture(
            train_latents, k, seed, settings.reg_covar, settings.tol, settings.max_iter, settings.restarts)[0])
            for k in sorted(set(options.components))]
        if options.flow:
            candidates.append(("maf", lambda: fit_flow(flow_settings, train_latents=train_latents,
                                                       val_latents=val_latents, seed=seed)[0]))
        rows = []
        for label, fit in candidates:
            start = time.perf_counter()
            with torch.enable_grad():  # the flow trains by gradient descent
                prior = fit()
            seconds = time.perf_counter() - start
            log_likelihood = mean_log_prob(prior, val_latents)
            for scale in [1.0, *factors] if isinstance(prior, GaussianMixturePrior) else [1.0]:
                model.use_prior(scaled(prior, scale))
                _, drawn = judged_generated(trained.validation_context(), "prior")
                rows.append((label, scale, log_likelihood, seconds, frechet_distance(real, drawn)))
    chosen = max((row for row in rows if row[1] == 1.0), key=lambda row: row[2])[0]
    print(f"{experiment.name}, checkpoint {loaded.checkpoint.name} (step {loaded.identity['step']}): priors fitted "
          f"to {len(train_latents)} training latents (GMM: {settings.restarts} k-means starts; MAF: "
          f"{flow_settings.layers} layers of {flow_settings.hidden}), judged on {first.n} validation pairs by "
          f"{judge}; reconstruction FID {recon_fid:.3f}")
    table = Table([("prior", 16), ("val log-lik", 11), ("fit s", 7), ("prior FID", 9), ("recon FID", 9),
                   ("prior / recon", 13), ("target", 6), ("verdict", 7)])
    table.print_header()
    for label, scale, log_likelihood, seconds, prior_fid in rows:
        ratio = prior_fid / recon_fid if recon_fid > 0 else float("inf")
        shown = f"{label} x{scale:g}" if scale != 1.0 else f"{label} (chosen)" if label == chosen else label
        table.print_row(shown, f"{log_likelihood:.2f}", f"{seconds:.0f}",
                        f"{prior_fid:.3f}", f"{recon_fid:.3f}", f"{ratio:.2f}", f"{TARGET_RATIO}",
                        "met" if ratio <= TARGET_RATIO else "missed")
    print("\n(chosen): the candidate with the highest validation log-likelihood, the prior stage's criterion; "
          "x S: its draws with every component's spread times S")
    return 0


def scaled(prior: LatentPrior, scale: float) -> LatentPrior:
    """``prior`` itself at scale 1, else a copy of the mixture with every Cholesky factor times ``scale``."""
    if scale == 1.0:
        return prior
    copy = GaussianMixturePrior(prior.latent_dim, prior.components).to(prior.means.device)
    copy.load_state_dict(prior.state_dict())
    copy.scale_tril.mul_(scale)
    return copy


if __name__ == "__main__":
    sys.exit(main())
