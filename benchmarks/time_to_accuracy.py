"""Wall time until the MNIST default reaches text->image >= 97% (sampled z) and image->text >= 97%.

Trains the experiment of an args.json (default: ``experiments/mnist_gru/args.json``) with its own
trainer, keeping a checkpoint at every epoch end, then judges each epoch's checkpoint on a fixed,
seeded 1,000-pair subset of the test split (MNIST or Fashion-MNIST) with the ``cross_modal`` evaluator (``sample=True``):

* text->image: share of images decoded from z ~ q(z|caption) that the judge labels as the caption's digit;
* image->text: share of greedy captions decoded from z ~ q(z|image) naming the judge's label of the image.

The time of epoch k is the trainer's own training time up to that epoch (``state.json`` ``elapsed``)
plus k epoch-end evaluations, i.e. what training with an evaluation after every epoch costs. The
target is 3 minutes; the reference needs about 21 minutes for its 30 epochs on 2 threads and never
gets there (issue 7). Data come from ``$REMVAE_DATA``, else ``../shared/data`` beside the checkout; without the dataset the
script says so and exits with status 0.

    python benchmarks/time_to_accuracy.py [--args PATH] [--threads 2] [--run-dir DIR] [--full-test]

``--full-test`` also judges the last epoch on all 10,000 test pairs (z = mean and z sampled, text
reconstruction exact match, joint coherence, per-class judge-feature FID of sampled text->image; for
an experiment that lists a ``cross_modal`` evaluator drawing from the conditional prior, the same
text->image figures for those draws) and, with ``--run-dir``, draws the report's figures of the last
epoch into ``<run-dir>/figures/``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from data_root import READERS, data_root, experiment_data

if TYPE_CHECKING:
    from remvae.core.data import ImageTextDataset
    from remvae.core.multimodal import MultimodalVAE
    from remvae.model import LoadedModel
    from remvae.text.tokenizer import Tokenizer

TARGET_SECONDS = 180.0
REFERENCE_SECONDS = 21 * 60.0
THRESHOLD = 0.97
SUBSET = 1000
DEFAULT_ARGS = Path(__file__).resolve().parent.parent / "experiments" / "mnist_gru" / "args.json"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args", type=Path, default=DEFAULT_ARGS, help="experiment args.json (mnist or fashion_mnist reader)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--run-dir", type=Path, default=None, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--full-test", action="store_true",
                        help="also judge the last epoch on all 10,000 test pairs (both z modes, text exact match)")
    options = parser.parse_args()

    if not options.args.is_file():
        print(f"time_to_accuracy: {options.args}: args.json not found; pass --args PATH")
        return 1
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    import torch
    from safetensors.torch import load_file

    import remvae.playground  # noqa: F401  (fills the registries)
    from remvae.core.evaluator import EvaluationContext
    from remvae.core.registry import EVALUATORS, TRAINERS
    from remvae.generator.schema import load_experiment
    from remvae.model import LoadedModel

    torch.set_num_threads(options.threads)
    experiment = load_experiment(options.args)
    spec = experiment.spec
    reader, _ = experiment.component("reader")
    if reader not in READERS:
        print(f"time_to_accuracy: {options.args}: reader is {reader!r}; this benchmark needs one of {sorted(READERS)}")
        return 1
    root = data_root(reader)
    if root is None:
        print(f"time_to_accuracy: no {READERS[reader]} data (set REMVAE_DATA to a folder holding "
              f"{READERS[reader]}/raw); skipped")
        return 0
    data = experiment_data(experiment, root)
    train, test, tokenizer, seed = data.train, data.test, data.tokenizer, spec.seed or 0
    model_spec = experiment.model_spec()
    prior_scale = experiment.prior_scale()
    torch.manual_seed(seed)
    model = model_spec.build(tokenizer)

    trainer_name, trainer_config = experiment.component("trainer")
    trainer_config.update(
        quiet=True, resume=False, device="cpu", num_threads=options.threads,
        checkpoint={"keep_last": trainer_config["epochs"], "keep_best": False},
    )
    with tempfile.TemporaryDirectory(prefix="remvae-tta-") as scratch:
        run_dir = options.run_dir or Path(scratch)
        print(f"training {spec.name}: {len(train)} pairs, {trainer_config['epochs']} epochs, "
              f"{options.threads} threads, run folder {run_dir}", flush=True)
        result = TRAINERS.build(trainer_name, trainer_config, model=model, run_dir=run_dir, tokenizer=tokenizer).fit(train)
        print(f"trained in {result.train_seconds:.1f} s ({result.samples_per_s:.0f} samples/s); judging each epoch",
              flush=True)
        rows = []
        checkpoints = sorted((run_dir / "checkpoints").glob("step-*"))
        last = checkpoints[-1]
        for checkpoint in checkpoints:
            state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
            model.load_state_dict(load_file(str(checkpoint / "model.safetensors")))
            model.eval()
            started = time.perf_counter()
            context = EvaluationContext(model=model, tokenizer=tokenizer, test_set=test, dataset=reader,
                                        judge=spec.evaluation.judge, limit=SUBSET, seed=0)
            metrics = EVALUATORS.build("cross_modal", {"sample": True, "class_fid": False, "top_k": [1]}).evaluate(context)
            rows.append((state["epoch"], state["elapsed"], time.perf_counter() - started,
                         metrics["text_to_image_top1"], metrics["image_to_text_vs_judge"]))
            if options.full_test and checkpoint == last:
                full = full_test(model, tokenizer, test, reader, spec.evaluation.judge, prior_scale)
                if options.run_dir is not None:
                    loaded = LoadedModel(model, tokenizer, model_spec, run_dir, checkpoint)
                    draw_figures(run_dir, loaded, test, prior_scale)
    print_table(rows)
    if options.full_test:
        print(f"\nall {len(test)} test pairs, last epoch (judge accuracy {100 * full['judge_accuracy']:.2f}%):")
        for key, value in full.items():
            is_fid = key.startswith("text_to_image_class_fid")
            print(f"  {key:<48}{value:>8.2f}" if is_fid else f"  {key:<48}{100 * value:>7.2f}%")
    return 0


def full_test(
    model: MultimodalVAE, tokenizer: Tokenizer, test: ImageTextDataset, reader: str, judge: Any,
    prior_scale: float | None = None,
) -> dict[str, float]:
    """Cross-modal accuracies with z = posterior mean and z sampled, text reconstruction exact match, the
    share of well-formed image->text captions, joint coherence and the per-class judge-feature FID of
    sampled text->image, on every pair of ``test``; with ``prior_scale``, also text->image accuracy and
    class FID of draws from the conditional prior at that spread."""
    from remvae.core.evaluator import EvaluationContext
    from remvae.core.registry import EVALUATORS

    # one context: the judge's view of the real images, the prior samples and the sampled image->text
    # captions are computed once and shared (draws are seeded per use, so sharing changes no figure)
    context = EvaluationContext(model=model, tokenizer=tokenizer, test_set=test, dataset=reader, judge=judge, seed=0)
    out: dict[str, float] = {}
    for sample in (False, True):
        tag = "sampled" if sample else "mean"
        metrics = EVALUATORS.build("cross_modal", {"sample": sample, "top_k": [1]}).evaluate(context)
        out["judge_accuracy"] = metrics["judge_accuracy"]
        out[f"text_to_image ({tag})"] = metrics["text_to_image_top1"]
        out[f"image_to_text vs judge ({tag})"] = metrics["image_to_text_vs_judge"]
        out[f"image_to_text named one class ({tag})"] = metrics["image_to_text_named"]
        if not sample:
            out["joint_coherence"] = metrics["joint_coherence"]
            out["text_exact_match"] = EVALUATORS.build("reconstruction", {}).evaluate(context)["text_exact_match"]
            validity = EVALUATORS.build("caption_validity", {}).evaluate(context)
            out["image_to_text well-formed (mean)"] = validity["image_to_text_valid"]
        else:
            out["text_to_image_class_fid"] = metrics["text_to_image_class_fid"]
    if prior_scale is not None:
        config = {"sample": True, "conditional_prior": True, "prior_scale": prior_scale, "top_k": [1]}
        metrics = EVALUATORS.build("cross_modal", config).evaluate(context)
        tag = f"conditional prior x{prior_scale:g}"
        out[f"text_to_image ({tag})"] = metrics["text_to_image_top1"]
        out[f"text_to_image_class_fid ({tag})"] = metrics["text_to_image_class_fid"]
    return out


def draw_figures(run_dir: Path, model: LoadedModel, test: ImageTextDataset, prior_scale: float | None) -> None:
    """The report's figures of the last epoch (text->image grid, image->text captions, latent plot, ...)."""
    from remvae.report import VisualOptions, visualize

    for path in visualize(run_dir, model, test, VisualOptions(seed=0, prior_scale=prior_scale)):
        print(f"figure: {path}", flush=True)


def print_table(rows: list[tuple[int, float, float, float, float]]) -> None:
    """One line per epoch, then the time to reach both thresholds against the target and the reference."""
    print(f"\n{'epoch':>5} {'train s':>8} {'+eval s':>8} {'t2i sampled':>12} {'i2t sampled':>12}")
    evaluation = 0.0
    reached = None
    for epoch, train_seconds, eval_seconds, t2i, i2t in rows:
        evaluation += eval_seconds
        wall = train_seconds + evaluation
        hit = t2i >= THRESHOLD and i2t >= THRESHOLD
        print(f"{epoch:>5} {train_seconds:>8.1f} {wall:>8.1f} {100 * t2i:>11.1f}% {100 * i2t:>11.1f}%"
              f"{'  <- both >= 97%' if hit and reached is None else ''}")
        if hit and reached is None:
            reached = wall
    print(f"\n{'':<34}{'wall time':>12}{'target':>10}")
    shown = f"{reached:.0f} s" if reached is not None else "not reached"
    verdict = "met" if reached is not None and reached <= TARGET_SECONDS else "missed"
    print(f"{'this run (train + epoch-end evals)':<34}{shown:>12}{TARGET_SECONDS:>9.0f}s  ({verdict})")
    print(f"{'reference (issue 7, 2 threads)':<34}{'never':>12}{'':>10}  (its 30 epochs take ~{REFERENCE_SECONDS / 60:.0f} min)")


if __name__ == "__main__":
    sys.exit(main())
