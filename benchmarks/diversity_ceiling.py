"""How varied can text->image draws be with this text posterior's form? Per-class FID of several latent sources.

Class FID is the judge-feature FID between the images decoded for one class and that class's real images,
averaged over classes (what ``cross_modal`` reports as ``text_to_image_class_fid``). All of it is measured
on the reader's VALIDATION split (so that a ``prior_scale`` or a spread chosen from it never saw the test
split), for a trained run (``time_to_accuracy.py --run-dir DIR``, or ``remvae run``) and images decoded from

* ``text posterior draws``: z ~ q(z|caption) of every validation caption (the metric issue 7 asks about);
* ``diagonal cover``: z ~ N(m_c, diag(v_c)), the diagonal Gaussian with the mean and per-dimension variance
  of class c's image posteriors (their mixture); the best a diagonal text posterior could do;
* ``full-covariance cover``: the same with the mixture's full covariance;
* ``image posterior draws``: z ~ q(z|x') for another validation image x' of the same class (the aggregate
  posterior itself: reconstructions of real images, the floor of the decoder);
* ``conditional prior draws``, for a model with a conditional prior: z ~ p(z|caption) of every validation
  caption (what ``cross_modal`` with ``conditional_prior`` generates from),

beside the judge's accuracy on each set and the reference configuration's class FID (RESULTS.md, measured on
the 10,000 test pairs; FID from fewer pairs per class reads a little higher). If the diagonal cover is above
the target, no diagonal text posterior on these latents can meet it. ``--scales`` adds covers with their
spread multiplied by s < 1 (narrower draws: more accurate, less varied), showing the trade-off, and
conditional prior draws at ``prior_scale`` s.

    python benchmarks/diversity_ceiling.py --args experiments/fashion_mnist_gru/args.json --run-dir DIR \
        [--checkpoint last] [--threads 2] [--scales 0.7 0.85]
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

import remvae
from common import EXIT_BAD_INPUT, Table, load_args, percent, refuse
from data_root import reader_of
from remvae.core.checkpoint import CheckpointError
from remvae.core.data import DataNotFoundError
from remvae.core.evaluator import EvaluationContext
from remvae.core.runfolder import RunFolderError
from remvae.experiment import read_split
from remvae.playground.evaluators import common as shared
from remvae.playground.evaluators.fid import frechet_distance

SCRIPT = "diversity_ceiling"
REFERENCE_CLASS_FID = {"mnist": 16.44, "fashion_mnist": 17.83}
"""Class FID of the reference configuration run in remvae (RESULTS.md, ``reference_*_gru``), by judge."""


def covers(ctx: EvaluationContext, scales: list[float]) -> dict[str, Tensor]:
    """Per class, z drawn from the diagonal and the full-covariance Gaussian fitted to the mixture of the class's image
    posteriors (spread times each scale), and z drawn from another same-class image's posterior."""
    labels = ctx.items.labels.long()
    images = shared.image_posterior(ctx)
    generator = torch.Generator().manual_seed(0)
    kinds = ("diagonal", "full-covariance")
    drawn = {(kind, scale): torch.empty_like(images.mean) for kind in kinds for scale in scales}
    aggregate = torch.empty_like(images.mean)
    draws = images.rsample(generator)
    for c in labels.unique().tolist():
        members = labels == c
        means, n = images.mean[members], int(members.sum())
        centre = means.mean(0)
        covariance = torch.cov(means.T) + torch.diag(images.variance[members].mean(0))
        noise = torch.randn(n, means.shape[1], generator=generator)
        for scale in scales:
            drawn["diagonal", scale][members] = centre + scale * noise * covariance.diagonal().sqrt()
            drawn["full-covariance", scale][members] = centre + scale * noise @ torch.linalg.cholesky(covariance).T
        aggregate[members] = draws[members][torch.randperm(n, generator=generator)]
    named = {f"{kind} cover" + (f" x{scale:g}" if scale != 1.0 else ""): z for (kind, scale), z in drawn.items()}
    return {**named, "image posterior draws": aggregate}


def class_fid(ctx: EvaluationContext, name: str, decoded: Callable[[], Tensor]) -> tuple[float, float]:
    """Mean per-class judge-feature FID of the ``decoded`` images against the real ones, and the judge's accuracy
    on them."""
    labels = ctx.items.labels.long()
    classes = labels.unique().tolist()
    _, real = shared.judged_real(ctx)
    logits, features = shared.judged(ctx, f"ceiling:{name}", decoded)
    fid = sum(frechet_distance(real[labels == c], features[labels == c]) for c in classes) / len(classes)
    return fid, float((logits.argmax(1) == labels).double().mean())


def measure(ctx: EvaluationContext, scales: list[float], conditional_prior: bool) -> list[tuple[str, float, float]]:
    """``(latent source, class FID, judge accuracy)`` of every source."""
    rows = [("text posterior draws", *class_fid(ctx, "text", lambda: shared.text_to_image(ctx, sample=True)))]
    for name, z in covers(ctx, [1.0, *scales]).items():
        rows.append((name, *class_fid(ctx, name, lambda z=z: shared.decode_images(ctx, z))))
    if conditional_prior:
        for scale in [1.0, *scales]:
            images = lambda scale=scale: shared.text_to_image(ctx, sample=True, prior_scale=scale)  # noqa: E731
            rows.append((f"conditional prior draws x{scale:g}", *class_fid(ctx, f"prior{scale}", images)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args", type=Path, required=True, help="the experiment's args.json")
    parser.add_argument("--run-dir", type=Path, required=True, help="its trained run folder")
    parser.add_argument("--checkpoint", default="last", help="which checkpoint: last (default), best, or a name")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scales", type=float, nargs="*", default=[],
                        help="also covers with their spread times s (and conditional prior draws at prior_scale s)")
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    experiment = load_args(SCRIPT, options.args)
    if experiment is None:
        return EXIT_BAD_INPUT
    try:
        loaded = remvae.load(options.run_dir, checkpoint=options.checkpoint)
    except (RunFolderError, CheckpointError) as error:
        return refuse(SCRIPT, str(error))
    reader, config = reader_of(experiment)
    try:
        validation = read_split(reader, config, "validation")
    except DataNotFoundError as error:
        print(f"{SCRIPT}: {error}; skipped (set REMVAE_DATA to a folder holding the data set)")
        return 0
    judge = experiment.spec.evaluation.judge
    ctx = EvaluationContext(model=loaded.model, tokenizer=loaded.tokenizer, test_set=validation, split="validation",
                            dataset=reader, judge=judge, seed=0)
    with torch.no_grad():
        rows = measure(ctx, options.scales, loaded.has_conditional_prior)
    target = REFERENCE_CLASS_FID.get(judge or reader)
    shown = f"{target}" if target is not None else "none for this data set"
    print(f"{experiment.name}, checkpoint {loaded.checkpoint.name} (step {loaded.identity['step']}), {ctx.n} "
          f"validation pairs; target class FID < {shown} (the reference configuration, on the test split)")
    table = Table([("latents decoded", 30), ("class FID", 9), ("judge accuracy", 14), ("vs target", 9)])
    table.print_header()
    for name, fid, accuracy in rows:
        verdict = "-" if target is None else "met" if fid < target else "missed"
        table.print_row(name, f"{fid:.2f}", percent(accuracy), verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
