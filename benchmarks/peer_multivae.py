"""MultiVae's JMVAE, MoPoE and MMVAE+ beside remvae: same caption pairs, splits, budget and judges, side by side.

    python benchmarks/peer_multivae.py [--args PATH ...] [--remvae-experiments NAME ...] [--epochs N]
                                       [--peers jmvae mopoe mmvae_plus] [--mmvae-k K] [--seed 0] [--threads 1]
                                       [--limit N] [--out FILE.json]

For each experiment (``--args``; default ``experiments/mnist_gru`` and ``experiments/fashion_mnist_gru``, both of the
``aligned`` family) this trains, on the experiment's data (its reader's train split, its fixed validation split):

* remvae's experiment as ``remvae run`` trains it (its model, trainer, recipe and seed) for ``--epochs`` epochs, its
  checkpoint chosen on the validation loss, then its learned prior (the experiment's ``prior``, a GMM whose size is
  chosen on validation latents) fitted as ``remvae run``'s prior stage does; ``--remvae-experiments NAME`` adds more
  shipped remvae experiments of the same reader (e.g. ``mnist_mopoe``), trained the same way on the same pairs;
* MultiVae's (``pip install 'remvae[peers]'``; the ``multivae`` package) JMVAE, MoPoE and MMVAE+ with MultiVae's own
  models, objectives and ``BaseTrainer`` (Adam, its per-epoch validation loss choosing the model it saves), for the
  same ``--epochs`` and the remvae experiment's batch size. Their networks and text form are in
  :mod:`peer_adapter`: the experiment's image network (remvae's conv encoder / decoder, same widths) wrapped as
  MultiVae encoder / decoder classes; and because MultiVae has no recurrent text model, **each caption is given to
  MultiVae as a fixed-length one-hot array** (the tokenizer's ids without ``<bos>``, to ``<eos>``, padded to
  ``max_length - 1`` positions) read by MultiVae's MLP text encoder and decoded by its MLP text decoder (independent
  categorical logits per position). Settings that are not MultiVae's defaults: learning rate 1e-3 (MultiVae's 1e-4
  is meant for 100+ epochs), the text log-likelihood weighted x30 (MultiVae's ``rescale_factors``; remvae's recipes
  weight text reconstruction x30), JMVAE's KL warm-up over the first 30% of the epochs (its default, 10 epochs,
  would outlast a short budget; remvae's recipes anneal over the first 30%), MMVAE+'s private latents as large as
  the shared one (its PolyMNIST set-up). Everything else is MultiVae's default (JMVAE alpha 0.1, MoPoE over all
  subsets, MMVAE+ Laplace posteriors and priors, K = 10 importance samples, DReG loss).

Every model is then scored by the same code: remvae's evaluators through one :class:`EvaluationContext` per model on
the same test items (``--limit`` of them, a permutation seeded with ``--seed``; default all), the MultiVae models read
through remvae's model protocol (:class:`peer_adapter.PeerModel`):

* t2i acc: share of images decoded from the posterior mean of q(z | caption) that the judge labels as the caption's
  class (``cross_modal`` ``text_to_image_top1``);
* i2t acc: share of captions decoded (greedy) from the posterior mean of q(z | image) naming the class the judge sees
  in the image (``cross_modal`` ``image_to_text_vs_judge``);
* joint coh.: z drawn from the model's prior (remvae: its fitted GMM; JMVAE, MoPoE: N(0, I); MMVAE+: its Laplace
  prior, one private draw decoded by both decoders), decoded to both; share whose caption names the judge's label of
  the image (``cross_modal`` ``joint_coherence``);
* gen FID, recon FID: judge-feature FIDs against the real test images of the prior draws and of the reconstructions
  (``judge_fid``); gen/recon is their ratio (1 would mean prior samples as close to the data as reconstructions).

Honest numbers: every choice (checkpoint, prior size) is made on the validation split; each data set's test split is
read once, after every model on it has trained, and the output names the split, N, the judge and the judge's
accuracy on those items. ``wall s`` is wall time on ``--threads`` torch threads: remvae's ``fit`` (with its per-epoch
validation passes and checkpoint writes) plus its prior fit; MultiVae's trainer from construction (its sanity check)
to its saved final model (with its per-epoch validation passes). The second table divides each row by the remvae
``--args`` row of the same data set.

Default budget: 2 epochs. Measured: the MNIST half (``--args experiments/mnist_gru/args.json``, all 10,000 test
pairs) took 56 minutes on 1 thread of a 2-core machine shared with another training job, MMVAE+'s 907 s of
training and remvae's 603 s GMM fit the largest parts (RESULTS.md gives the tables).
Data come from ``$REMVAE_DATA``, else ``../shared/data`` beside the checkout; without the data set, or without
MultiVae, the script says so in one line and exits with status 0.
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # MultiVae's trainer draws progress bars; read when tqdm loads

import argparse
import json
import logging
import math
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import EXIT_BAD_INPUT, EXPERIMENTS, Table, load_args, percent, refuse, shipped

if TYPE_CHECKING:
    from data_root import ExperimentData

    from remvae.args import Experiment
    from remvae.core.data import ImageTextDataset
    from remvae.text.tokenizer import Tokenizer

SCRIPT = "peer_multivae"
DEFAULT_EPOCHS = 2
DEFAULT_ARGS = ("mnist_gru", "fashion_mnist_gru")
EVALUATORS = {
    "cross_modal": ("cross_modal", {"top_k": [1], "class_fid": False}),
    "judge_fid": ("judge_fid", {"sets": ["reconstruction", "prior"]}),
}
"""Evaluator key -> (registered name, config): posterior means (the evaluators' default), top-1."""


@dataclass
class Trained:
    """One trained model, ready to be scored."""

    library: str
    family: str
    model: Any
    tokenizer: Tokenizer
    text_input: str
    epochs: int
    batch_size: int
    train_seconds: float
    prior_seconds: float
    prior: str
    selected: str
    """Which weights are scored and how they were chosen (on validation)."""

    @property
    def label(self) -> str:
        return f"{self.library} {self.family}"

    @property
    def wall_seconds(self) -> float:
        return self.train_seconds + self.prior_seconds


@dataclass
class Row:
    """One model's line of the table (and of ``--out``)."""

    dataset: str
    model: str
    text_input: str
    epochs: int
    batch_size: int
    wall_seconds: float
    train_seconds: float
    prior_seconds: float
    prior: str
    selected: str
    text_to_image: float
    image_to_text: float
    joint_coherence: float
    prior_fid: float
    reconstruction_fid: float
    eval_seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def fid_ratio(self) -> float:
        return self.prior_fid / self.reconstruction_fid if self.reconstruction_fid > 0 else float("inf")


def main() -> int:
    options = parse_arguments()
    for path in options.args:
        if not path.is_file():
            return refuse(SCRIPT, f"{path}: args.json not found; pass --args PATH")
    extra = [shipped(name) for name in options.remvae_experiments]
    for name, path in zip(options.remvae_experiments, extra):
        if not path.is_file():
            return refuse(SCRIPT, f"--remvae-experiments {name}: no {path}; one of the folders in {EXPERIMENTS}")

    from peer_adapter import multivae_version

    version = multivae_version()
    if version is None:
        print(f"{SCRIPT}: skipped: MultiVae is not installed (pip install -e '.[peers]')")
        return 0

    import torch

    torch.set_num_threads(options.threads)
    # MultiVae's Bernoulli likelihood is torch's Bernoulli(logits).log_prob: on grey levels in [0, 1] that is minus the
    # binary cross-entropy remvae trains with, but torch's support check refuses targets that are not exactly 0 or 1
    torch.distributions.Distribution.set_default_validate_args(False)
    quiet_multivae()
    experiments = [load_args(SCRIPT, path) for path in [*options.args, *extra]]
    if any(e is None for e in experiments):
        return EXIT_BAD_INPUT
    main_experiments, extra_experiments = experiments[: len(options.args)], experiments[len(options.args):]
    print(f"{SCRIPT}: remvae {remvae_version()} beside MultiVae {version} (torch {torch.__version__}), "
          f"{options.epochs} epochs, seed {options.seed}, {options.threads} thread(s)", flush=True)
    document: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "epochs": options.epochs,
        "seed": options.seed, "threads": options.threads, "limit": options.limit,
        "versions": {"remvae": remvae_version(), "multivae": version, "torch": torch.__version__},
        "datasets": [],
    }
    tables: list[tuple[list[Row], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory(prefix="remvae-peers-") as scratch:
        for experiment in main_experiments:
            assert experiment is not None
            same_reader = [e for e in extra_experiments if e is not None and reader_name(e) == reader_name(experiment)]
            outcome = benchmark(experiment, same_reader, options, Path(scratch))
            if isinstance(outcome, int):
                return outcome
            if outcome is None:
                continue
            tables.append(outcome)
            document["datasets"].append({**outcome[1], "rows": [row_json(r) for r in outcome[0]]})
    unused = [e.name for e in extra_experiments if e is not None
              and all(reader_name(e) != reader_name(m) for m in main_experiments if m is not None)]
    if unused:
        print(f"(--remvae-experiments {', '.join(unused)}: no --args experiment reads the same data; not trained)")
    print_tables(tables)
    if options.out is not None:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {options.out}")
    return 0


def parse_arguments() -> argparse.Namespace:
    from peer_adapter import FAMILIES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--args", type=Path, nargs="+", default=[shipped(n) for n in DEFAULT_ARGS],
                        help="remvae experiments whose data, batch size and recipe set each comparison (default: "
                             f"{', '.join(f'experiments/{n}/args.json' for n in DEFAULT_ARGS)})")
    parser.add_argument("--remvae-experiments", nargs="*", default=[], metavar="NAME",
                        help="more shipped remvae experiments to train beside those of the same reader (mnist_mopoe)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS,
                        help=f"epochs of every model, remvae's and MultiVae's (default {DEFAULT_EPOCHS})")
    parser.add_argument("--peers", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                        help="MultiVae models to train (default: all)")
    parser.add_argument("--mmvae-k", type=int, default=10, help="MMVAE+'s importance samples K (MultiVae: 10)")
    parser.add_argument("--seed", type=int, default=0, help="first weights, data order, evaluation draws (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="test items scored per model (a seeded subset; default: the whole test split)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE.json", help="also write the tables as JSON")
    options = parser.parse_args()
    if min(options.epochs, options.threads, options.mmvae_k) < 1:
        parser.error("--epochs, --threads and --mmvae-k must be at least 1")
    if options.seed < 0:
        parser.error("--seed must be >= 0")
    if options.limit is not None and options.limit < 2:
        parser.error("--limit must be at least 2")
    return options


def quiet_multivae() -> None:
    """MultiVae logs every epoch at INFO on its own console handlers; keep warnings only."""
    import multivae.trainers  # noqa: F401  (importing MultiVae creates its loggers)

    for name in list(logging.root.manager.loggerDict):
        if name.split(".")[0] in ("multivae", "pythae"):
            logging.getLogger(name).setLevel(logging.WARNING)


def remvae_version() -> str:
    from remvae.version import __version__

    return __version__


def reader_name(experiment: Experiment) -> str:
    name = experiment.component("reader")[0]
    assert name is not None
    return name


def benchmark(
    experiment: Experiment, extras: list[Experiment], options: argparse.Namespace, scratch: Path
) -> tuple[list[Row], dict[str, Any]] | int | None:
    """Train every model on ``experiment``'s data, then read its test split once and score them all: the rows and
    what they were measured on; ``None`` when the data are missing (said in one line); an exit status on bad input."""
    from data_root import experiment_data

    from remvae.core.data import DataNotFoundError
    from remvae.experiment import test_data

    try:
        data = experiment_data(experiment)
    except DataNotFoundError as error:
        print(f"{SCRIPT}: {error}; skipped (set REMVAE_DATA to a folder holding the data set)")
        return None
    if data.validation is None or data.train.multilabel:
        return refuse(SCRIPT, f"{experiment.name}: needs single-label data (MNIST, Fashion-MNIST) with a validation "
                              "split (data.validation_length must not be 0)")
    batch = int(experiment.component("trainer")[1]["batch_size"])
    print(f"\n{experiment.name} ({data.reader}): {len(data.train)} training pairs, {len(data.validation)} validation "
          f"pairs (every choice is made on these); {options.epochs} epochs, batch {batch}", flush=True)
    trained = [train_remvae(experiment, data, options, scratch)]
    for extra in extras:  # on the same pairs and splits as the --args experiment (their readers are the same)
        trained.append(train_remvae(extra, data, options, scratch))
    for family in options.peers:
        trained.append(train_peer(family, experiment, data, batch, options, scratch))

    test = test_data(data.reader, data.config, experiment.spec.data.test_length)  # read once, after all training
    judge = experiment.spec.evaluation.judge
    rows, judged = [], None
    for model in trained:
        row, judged = evaluate(model, test, data.reader, judge, options)
        rows.append(row)
        print(f"  scored {model.label}: {row.eval_seconds:.0f} s", flush=True)
    assert judged is not None
    info = {"dataset": data.reader, "experiment": experiment.name, "train_items": len(data.train),
            "validation_items": len(data.validation), "test_items": len(test), "split": "test", "n": judged["n"],
            "judge": judged["judge"]}
    return rows, info


def train_remvae(experiment: Experiment, data: ExperimentData, options: argparse.Namespace, scratch: Path) -> Trained:
    """``experiment`` trained as ``remvae run`` trains it (``--epochs``, ``--seed``), its best checkpoint on the
    validation loss loaded, and its learned prior fitted as the prior stage fits it."""
    from common import build_trainer

    import remvae
    from remvae.core.runfolder import RunFolder
    from remvae.experiment import fit_learned_prior

    run = RunFolder(scratch / f"remvae-{experiment.name}")
    run.root.mkdir(parents=True)
    trainer = build_trainer(experiment, data.tokenizer, run, device="cpu", num_threads=options.threads,
                            epochs=options.epochs, seed=options.seed)
    print(f"  training remvae {experiment.name} ...", flush=True)
    started = time.perf_counter()
    with run.lock(SCRIPT):
        result = trainer.fit(data.train, data.validation)
    train_seconds = time.perf_counter() - started
    loaded = remvae.load(run.root, prior=False)
    summary = json.loads(run.train_summary.read_text(encoding="utf-8")) if run.train_summary.is_file() else {}
    selection = summary.get("selection") or {}
    selected = f"epoch {selection.get('best_epoch', '?')} of {result.epochs} (validation loss)"
    prior_name, prior_config = experiment.component("prior")
    prior_seconds, prior = 0.0, "N(0,I)"
    if prior_name is not None:
        started = time.perf_counter()
        fitted, record = fit_learned_prior(loaded.model, loaded.tokenizer, data.train, data.validation,
                                           prior_name, prior_config or {}, options.seed)
        prior_seconds = time.perf_counter() - started
        loaded.model.use_prior(fitted)
        size = record.get("chosen_components")
        prior = f"{prior_name.upper()}" + (f" k={size}" if size is not None else "")
    text = experiment.model_spec().text or "none"
    print(f"  trained remvae {experiment.name}: {train_seconds:.0f} s (+ prior {prior_seconds:.0f} s); {selected}",
          flush=True)
    return Trained("remvae", experiment.model_spec().model, loaded.model, loaded.tokenizer, f"tokens, {text}",
                   result.epochs, trainer.config.batch_size, train_seconds, prior_seconds, prior, selected)


class _Selection:
    """Records after each epoch whether MultiVae's trainer took the epoch's weights as its model to keep."""

    def __init__(self) -> None:
        self.trainer: Any = None
        self.kept_epoch = 0
        self._kept: Any = None
        self.eval_losses: list[float] = []

    def callback(self) -> Any:
        from multivae.trainers.base.callbacks import TrainingCallback

        outer = self

        class Recorder(TrainingCallback):
            def on_log(self, training_config: Any, logs: dict[str, Any], **kwargs: Any) -> None:
                outer.eval_losses.append(float(logs.get("eval_epoch_loss", float("nan"))))
                best = getattr(outer.trainer, "_best_model", None)
                if best is not None and best is not outer._kept:
                    outer._kept, outer.kept_epoch = best, len(outer.eval_losses)

        return Recorder()


def train_peer(
    family: str, experiment: Experiment, data: ExperimentData, batch: int, options: argparse.Namespace, scratch: Path
) -> Trained:
    """MultiVae's ``family`` trained by MultiVae's trainer on the experiment's training pairs (its validation pairs
    choosing the saved model), loaded back from the folder MultiVae saved it to."""
    from multivae.models import AutoModel
    from multivae.trainers import BaseTrainer, BaseTrainerConfig
    from peer_adapter import LABELS, PeerModel, PeerSettings, build_peer, multivae_dataset, text_length

    settings = PeerSettings(epochs=options.epochs, batch_size=batch, seed=options.seed, mmvae_k=options.mmvae_k)
    max_length = int(experiment.model_spec().resolved().text_config["max_length"])
    train_set = multivae_dataset(data.train, data.tokenizer, max_length)
    validation_set = multivae_dataset(data.validation, data.tokenizer, max_length)
    model = build_peer(family, experiment, data.tokenizer, settings)
    config = BaseTrainerConfig(output_dir=str(scratch / f"multivae-{experiment.name}-{family}"),
                               per_device_train_batch_size=batch, per_device_eval_batch_size=batch,
                               num_epochs=options.epochs, learning_rate=settings.learning_rate, seed=options.seed,
                               no_cuda=True)
    selection = _Selection()
    print(f"  training MultiVae {LABELS[family]} ...", flush=True)
    started = time.perf_counter()
    trainer = BaseTrainer(model, train_set, validation_set, config, callbacks=[selection.callback()])
    selection.trainer = trainer
    trainer.train()
    train_seconds = time.perf_counter() - started
    saved = AutoModel.load_from_folder(str(Path(trainer.training_dir) / "final_model"))
    peer = PeerModel(saved, family, data.tokenizer, max_length)
    latest_until = int(getattr(model, "start_keep_best_epoch", 0))  # MultiVae keeps every epoch's model until then
    how = ("the latest: MultiVae keeps it up to epoch " f"{latest_until}" if selection.kept_epoch <= latest_until
           else "MultiVae: validation loss")
    selected = f"epoch {selection.kept_epoch} of {options.epochs} ({how})"
    prior = "Laplace (own)" if family == "mmvae_plus" else "N(0,I)"
    shape = f"one-hot {text_length(max_length)}x{data.tokenizer.vocab_size}"
    print(f"  trained MultiVae {LABELS[family]}: {train_seconds:.0f} s; {selected}", flush=True)
    return Trained("MultiVae", LABELS[family], peer, data.tokenizer, shape, options.epochs, batch, train_seconds, 0.0,
                   prior, selected)


def evaluate(
    trained: Trained, test: ImageTextDataset, reader: str, judge: Any, options: argparse.Namespace
) -> tuple[Row, dict[str, Any]]:
    """``trained`` scored by remvae's evaluators on the test items (the same for every model)."""
    from remvae.core.evaluator import EvaluationContext, run_evaluators
    from remvae.core.registry import EVALUATORS as REGISTRY

    context = EvaluationContext(model=trained.model, tokenizer=trained.tokenizer, test_set=test, split="test",
                                dataset=reader, judge=judge, limit=options.limit, seed=options.seed)
    evaluators = {key: REGISTRY.build(name, config) for key, (name, config) in EVALUATORS.items()}
    started = time.perf_counter()
    document = run_evaluators(context, evaluators, None)
    seconds = time.perf_counter() - started
    results = document["evaluators"]
    cross, fid = results["cross_modal"]["metrics"], results["judge_fid"]["metrics"]
    row = Row(reader, trained.label, trained.text_input, trained.epochs, trained.batch_size, trained.wall_seconds,
              trained.train_seconds, trained.prior_seconds, trained.prior, trained.selected,
              cross["text_to_image_top1"], cross["image_to_text_vs_judge"], cross["joint_coherence"],
              fid["prior_fid"], fid["reconstruction_fid"], seconds,
              {"cross_modal": cross, "judge_fid": fid, "prior_drawn_by": document.get("prior")})
    judged = {"n": results["cross_modal"]["n"], "judge": results["cross_modal"]["judge"]}
    return row, judged


TABLE = Table([("data set", 13), ("model", 16), ("text input", 14), ("epochs", 6), ("batch", 5), ("wall s", 7),
               ("prior", 13), ("t2i acc", 7), ("i2t acc", 7), ("joint coh.", 10), ("gen FID", 8), ("recon FID", 9),
               ("gen/recon", 9)])
RATIOS = Table([("data set", 13), ("model", 16), ("wall s x", 8), ("t2i acc x", 9), ("i2t acc x", 9),
                ("joint coh. x", 12), ("gen/recon x", 11)])


def print_tables(tables: list[tuple[list[Row], dict[str, Any]]]) -> None:
    """The scores of every model, then each row against the remvae ``--args`` row of its data set."""
    if not tables:
        return
    print()
    for rows, info in tables:
        judge = info["judge"] or {}
        own = judge.get("test_accuracy")
        print(f"{info['dataset']}: split {info['split']} (read once, after training), N = {info['n']} of "
              f"{info['test_items']} test pairs, judge {judge.get('name')} (accuracy on these items "
              f"{percent(judge.get('accuracy', float('nan')))}" + (f"; its own test accuracy {percent(own)}" if own
                                                                  is not None else "") + ")")
    print("t2i / i2t: from posterior means; joint coh. and gen FID: prior draws; FIDs in the judge's features; "
          "MultiVae reads captions as one-hot arrays (no recurrent text model), remvae as token sequences\n")
    TABLE.print_header()
    for rows, _ in tables:
        for r in rows:
            TABLE.print_row(r.dataset, r.model, r.text_input, r.epochs, r.batch_size, f"{r.wall_seconds:.1f}", r.prior,
                            percent(r.text_to_image), percent(r.image_to_text), percent(r.joint_coherence),
                            f"{r.prior_fid:.2f}", f"{r.reconstruction_fid:.2f}", f"{r.fid_ratio:.2f}")
    print("\nagainst the remvae row of the same data set (its value = 1.00; gen/recon: lower is better)\n")
    RATIOS.print_header()
    for rows, _ in tables:
        base = rows[0]
        for r in rows:
            RATIOS.print_row(r.dataset, r.model, ratio(r.wall_seconds, base.wall_seconds),
                             ratio(r.text_to_image, base.text_to_image), ratio(r.image_to_text, base.image_to_text),
                             ratio(r.joint_coherence, base.joint_coherence), ratio(r.fid_ratio, base.fid_ratio))
    print("\nweights scored (chosen on the validation split, or as the library keeps them):")
    for rows, _ in tables:
        for r in rows:
            print(f"  {r.dataset} {r.model}: {r.selected}; wall {r.train_seconds:.0f} s training"
                  + (f" + {r.prior_seconds:.0f} s prior fit" if r.prior_seconds else "") + f", {r.eval_seconds:.0f} s scoring")


def ratio(value: float, base: float) -> str:
    usable = math.isfinite(base) and base != 0.0 and not math.isnan(value)
    return f"{value / base:.2f}" if usable else "n/a"


def row_json(row: Row) -> dict[str, Any]:
    return {**asdict(row), "fid_ratio": row.fid_ratio}


if __name__ == "__main__":
    sys.exit(main())
