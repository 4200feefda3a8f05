"""How varied can text->image draws be with this text posterior's form? Per-class FID of four latent sources.

Class FID is the judge-feature FID between the images decoded for one class and that class's real test
images, averaged over classes (what ``cross_modal`` reports as ``text_to_image_class_fid``). For a model
trained by ``time_to_accuracy.py --run-dir DIR`` (its last checkpoint), it is computed for images decoded from

* ``text posterior draws``: z ~ q(z|caption) of every test caption (the metric issue 7 asks about);
* ``diagonal cover``: z ~ N(m_c, diag(v_c)), the diagonal Gaussian with the mean and per-dimension variance
  of class c's image posteriors (their mixture); the best a diagonal text posterior could do;
* ``full-covariance cover``: the same with the mixture's full covariance;
* ``image posterior draws``: z ~ q(z|x') for another test image x' of the same class (the aggregate
  posterior itself: reconstructions of real images, the floor of the decoder);
* ``conditional prior draws``, for a model with a conditional prior: z ~ p(z|caption) of every test
  caption (what ``cross_modal`` with ``conditional_prior`` generates from).

beside the judge's accuracy on each set and the reference configuration's class FID. If the diagonal cover
is above the target, no diagonal text posterior on these latents can meet it. ``--scales`` adds covers with
their spread multiplied by s < 1 (narrower draws: more accurate, less varied), showing the trade-off, and
conditional prior draws at ``prior_scale`` s. ``--split train`` measures all of it on the first 10,000
training pairs instead of the test pairs, so that a ``prior_scale`` can be chosen without the test set.

    python benchmarks/diversity_ceiling.py --args experiments/fashion_mnist_gru/args.json --run-dir DIR \
        [--threads 2] [--scales 0.7 0.85] [--split train]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from data_root import READERS, data_root, experiment_data

# class FID of the reference configuration run in remvae (RESULTS.md, `reference_*_gru`)
REFERENCE_CLASS_FID = {"mnist": 16.44, "fashion_mnist": 17.83}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args", type=Path, required=True, help="the experiment's args.json")
    parser.add_argument("--run-dir", type=Path, required=True, help="a run folder of time_to_accuracy.py --run-dir")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scales", type=float, nargs="*", default=[],
                        help="also covers with their spread times s (and conditional prior draws at prior_scale s)")
    parser.add_argument("--split", choices=("test", "train"), default="test",
                        help="pairs measured on: the test split, or the first 10,000 training pairs")
    options = parser.parse_args()
    checkpoints = sorted((options.run_dir / "checkpoints").glob("step-*"))
    if not options.args.is_file() or not checkpoints:
        print(f"diversity_ceiling: need an args.json ({options.args}) and step checkpoints in {options.run_dir}/checkpoints")
        return 1
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch
    from safetensors.torch import load_file

    import remvae.playground  # noqa: F401  (fills the registries)
    from remvae.core.evaluator import EvaluationContext
    from remvae.generator.schema import load_experiment
    from remvae.playground.evaluators import common
    from remvae.playground.evaluators.fid import frechet_distance

    torch.set_num_threads(options.threads)
    experiment = load_experiment(options.args)
    spec = experiment.spec
    reader, _ = experiment.component("reader")
    root = data_root(reader) if reader in READERS else None
    if root is None:
        print("diversity_ceiling: needs MNIST or Fashion-MNIST data under $REMVAE_DATA or ../shared/data; skipped")
        return 0
    data = experiment_data(experiment, root)
    test, tokenizer = data.test, data.tokenizer
    if options.split == "train":
        test = data.train.subset(range(min(len(data.train), len(data.test))))
    model = experiment.model_spec().build(tokenizer)
    model.load_state_dict(load_file(str(checkpoints[-1] / "model.safetensors")))
    model.eval()
    ctx = EvaluationContext(model=model, tokenizer=tokenizer, test_set=test, dataset=reader,
                            judge=spec.evaluation.judge, seed=0)
    labels = ctx.items.labels.long()
    classes = labels.unique().tolist()

    with torch.no_grad():
        _, real = common.judged_real(ctx)
        images = common.image_posterior(ctx)
        generator = torch.Generator().manual_seed(0)
        scales = [1.0, *options.scales]
        covers = {(kind, scale): torch.empty_like(images.mean) for kind in ("diagonal", "full-covariance") for scale in scales}
        aggregate = torch.empty_like(images.mean)
        draws = images.rsample(generator)
        for c in classes:
            members = labels == c
            means, n = images.mean[members], int(members.sum())
            centre = means.mean(0)
            covariance = torch.cov(means.T) + torch.diag(images.variance[members].mean(0))
            noise = torch.randn(n, means.shape[1], generator=generator)
            for scale in scales:
                covers["diagonal", scale][members] = centre + scale * noise * covariance.diagonal().sqrt()
                covers["full-covariance", scale][members] = centre + scale * noise @ torch.linalg.cholesky(covariance).T
            aggregate[members] = draws[members][torch.randperm(n, generator=generator)]

        def judge(name: str, decoded: torch.Tensor) -> tuple[float, float]:
            logits, features = common.judged(ctx, f"ceiling:{name}", lambda: decoded)
            fid = sum(frechet_distance(real[labels == c], features[labels == c]) for c in classes) / len(classes)
            return fid, float((logits.argmax(1) == labels).double().mean())

        sources = {f"{kind} cover" + (f" x{scale:g}" if scale != 1.0 else ""): z for (kind, scale), z in covers.items()}
        sources["image posterior draws"] = aggregate
        rows = [("text posterior draws", judge("text", common.text_to_image(ctx, sample=True)))]
        rows += [(name, judge(name, common.decode_images(ctx, z))) for name, z in sources.items()]
        if model.conditional_prior is not None:
            rows += [
                (f"conditional prior draws x{scale:g}",
                 judge(f"prior{scale}", common.text_to_image(ctx, sample=True, prior_scale=scale)))
                for scale in scales
            ]

    target = REFERENCE_CLASS_FID[reader]
    print(f"{spec.name}, last checkpoint {checkpoints[-1].name}, {len(test)} {options.split} pairs; target class FID < {target} "
          f"(the reference configuration)")
    print(f"{'latents decoded':<30}{'class FID':>10}{'judge accuracy':>16}{'vs target':>11}")
    for name, (fid, accuracy) in rows:
        print(f"{name:<30}{fid:>10.2f}{100 * accuracy:>15.2f}%{'met' if fid < target else 'missed':>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
