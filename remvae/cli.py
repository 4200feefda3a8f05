"""The ``remvae`` command.

Exit status: 0 on success, 2 on bad input (one line per problem, no traceback), 1 when a stage
fails (which stage, and where its log is), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Callable, Sequence

from remvae.core.data import DataNotFoundError
from remvae.core.registry import ALL_REGISTRIES, UnknownComponentError
from remvae.core.runfolder import RunFolder, StorageError
from remvae.exitcodes import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STAGE_FAILED,
)
from remvae.generator.stages import STAGES
from remvae.serve.cli import configure_parser as configure_serve
from remvae.serve.cli import serve_command


def say(message: str) -> None:
    print(f"remvae: {message}", flush=True)


def cmd_list(args: argparse.Namespace) -> int:
    for registry in ALL_REGISTRIES:
        entries = list(registry)
        print(f"{registry.kind}s ({registry.description}):")
        width = max((len(e.name) for e in entries), default=0)
        for entry in entries:
            print(f"  {entry.name:<{width}}  {entry.description}")
        if not entries:
            print("  (none registered)")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from remvae.args import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        say(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from remvae.args import ArgsError, load_experiment

    status = EXIT_OK
    for path in args.args:
        try:
            experiment = load_experiment(path)
        except ArgsError as error:
            _print_error(error)
            status = EXIT_BAD_INPUT
        else:
            say(f"{path}: valid (experiment {experiment.name!r}, run folder {experiment.run_dir})")
    return status


def _generate(experiment, force: bool) -> None:
    from remvae.generator.render import generate

    for result in generate(experiment, force=force):
        if result.status == "kept":
            say(f"kept {result.path}: edited since it was generated (--force overwrites it)")
        elif result.status == "overwritten":
            say(f"overwrote {result.path} (it had been edited; --force)")
        elif result.status == "written" and result.path.suffix != ".json":
            say(f"wrote {result.path}")


def _completed(experiment, force: bool, stages: tuple[str, ...]) -> list[str] | None:
    """Why each of ``stages`` is complete, when the run needs nothing at all (no script, config or stage to redo),
    else None: a completed run is then reported without writing anything (not even its lock), so it works
    read-only."""
    from remvae.generator.preparation import StaleRunError, prepare_run
    from remvae.generator.render import generate
    from remvae.generator.stages import completion

    try:
        prepare_run(experiment, force=force, say=lambda message: None)
    except StaleRunError:
        return None
    if any(result.status in ("written", "overwritten") for result in generate(experiment, force, dry_run=True)):
        return None
    reasons = [completion(stage, experiment) for stage in stages]
    if any(reason is None for reason in reasons):
        return None
    return [f"{stage}: complete ({reason}), skipped" for stage, reason in zip(stages, reasons)]


def _runs(args: argparse.Namespace):
    """The experiment of ``args.args``, once per seed when ``--seeds`` or its ``seeds`` field asks for several."""
    from remvae.args import experiment_for_seed, load_experiment

    experiment = load_experiment(args.args)
    seeds = experiment.seeds(args.seeds)
    return [experiment_for_seed(experiment, seed) for seed in seeds] if seeds else [experiment]


def cmd_generate(args: argparse.Namespace) -> int:
    from remvae.generator.preparation import prepare_run

    for experiment in _runs(args):
        with experiment.run.lock("remvae generate", on_takeover=say):
            prepare_run(experiment, fresh=args.fresh, force=args.force, say=say)
            _generate(experiment, args.force)
        say(f"scripts of {experiment.name!r} are in {experiment.run_dir}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from remvae.generator.preparation import prepare_run
    from remvae.generator.stages import completion, run_stage

    runs = _runs(args)
    stages = STAGES[: STAGES.index(args.until) + 1]
    stopped = "" if stages == STAGES else f" (stopped after {args.until})"
    for experiment in runs:
        run = experiment.run
        done = None if args.fresh else _completed(experiment, args.force, stages)
        if done is not None:
            for line in done:
                say(line)
            say(f"done: {experiment.run_dir}{stopped}")
            continue
        with run.lock("remvae run", on_takeover=say):
            prepare_run(experiment, fresh=args.fresh, force=args.force, say=say)
            _generate(experiment, args.force)
            for stage in stages:
                done = completion(stage, experiment)
                if done is not None:
                    say(f"{stage}: complete ({done}), skipped")
                    continue
                say(f"{stage}: running (log: {run.log(stage)})")
                run_stage(stage, run, echo=not args.quiet)
        say(f"done: {experiment.run_dir}{stopped}")
    if len(runs) > 1 and stages == STAGES:
        from remvae.report import write_report

        parent = runs[0].run_dir.parent.parent
        say(f"wrote {write_report(parent)} (mean ± 95% interval over the {len(runs)} seeds); compare it with other "
            f"runs by `remvae compare {parent} OTHER`")
    return EXIT_OK


def cmd_upgrade(args: argparse.Namespace) -> int:
    from remvae.args.document import read_document
    from remvae.args.legacy import is_legacy, upgrade
    from remvae.core.runfolder import write_bytes

    path = Path(args.args)
    data = read_document(path, str(path))
    if not is_legacy(data):
        say(f"{path}: already in the current form; nothing to do")
        return EXIT_OK
    backup = path.with_name(f"{path.stem}.v0.1{path.suffix}")
    write_bytes(backup, path.read_bytes())
    write_bytes(path, (json.dumps(upgrade(data), indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    say(f"rewrote {path} in the current form (the original is kept as {backup})")
    return EXIT_OK


def _stage_command(stage: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        from remvae.args import load_experiment
        from remvae.generator.stages import run_stage

        run = RunFolder(args.run)
        if not run.config.is_file():
            raise FileNotFoundError(f"{run.config}: not found; is {args.run} a run folder?")
        load_experiment(run.config)  # a damaged config.json is bad input, not a stage failure
        with run.lock(f"remvae {stage}", on_takeover=say):
            say(f"{stage}: running (log: {run.log(stage)})")
            run_stage(stage, run, echo=not args.quiet)
        return EXIT_OK

    return command


def cmd_compare(args: argparse.Namespace) -> int:
    from remvae.report import compare, default_output

    for run in args.runs:
        if not Path(run).is_dir():
            raise FileNotFoundError(f"{run}: not a run folder")
    out = Path(args.out) if args.out else default_output(args.runs)
    for path in compare([Path(run) for run in args.runs], out, n_resamples=args.resamples):
        say(f"wrote {path}")
    return EXIT_OK


def cmd_transfer(args: argparse.Namespace) -> int:
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    import remvae

    model = remvae.load(args.run, checkpoint=args.checkpoint)
    try:
        with Image.open(args.image) as image:
            pixels = np.asarray(image.convert("RGB" if model.channels == 3 else "L"))
    except (OSError, UnidentifiedImageError) as error:
        raise ValueError(f"{args.image}: not a readable image ({error})") from None
    tensor = torch.from_numpy(pixels.copy()).reshape(pixels.shape[0], pixels.shape[1], -1).permute(2, 0, 1)
    result = model.transfer(tensor, args.caption, strength=args.strength)[0]
    out = Path(args.output)
    Image.fromarray((result.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).squeeze(-1).cpu().numpy()).save(out)
    say(f"wrote {out}: {args.image} redrawn as {args.caption!r}")
    return EXIT_OK


def cmd_judge_train(args: argparse.Namespace) -> int:
    from remvae.playground.evaluators.judges.caption_lm_training import train_caption_lm
    from remvae.playground.evaluators.judges.training import train_judge

    if args.kind == "lm":
        lm = train_caption_lm(args.dataset, root=args.root, out_dir=args.output, epochs=args.epochs, seed=args.seed,
                              log=say)
        say(f"saved caption LM {lm.path} (validation perplexity {lm.validation_perplexity:.4f} on {lm.validation_n} "
            "held-out training captions)")
        return EXIT_OK
    judge = train_judge(args.dataset, root=args.root, out_dir=args.output, epochs=args.epochs, seed=args.seed)
    say(f"saved judge {judge.path} (test accuracy {judge.test_accuracy:.4f})")
    return EXIT_OK


def _count(text: str) -> int:
    """A positive whole number (argparse type)."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="remvae",
        description="Aligned multimodal image-text VAEs. Start with: remvae run experiments/quickstart/args.json",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(func=func)
        return sub

    add("list", cmd_list, "print every registered component by kind")
    sub = add("schema", cmd_schema, "print the JSON Schema of args.json")
    sub.add_argument("--output", "-o", help="write it to this file instead")
    sub = add("validate", cmd_validate, "check args.json files; print every problem of each")
    sub.add_argument("args", metavar="ARGS", nargs="+")
    fresh_help = "move an earlier run of another config aside (into previous/) and start over"
    force_help = "overwrite scripts edited since they were generated, or another experiment's"
    sub = add("generate", cmd_generate, "write train.py, visualize.py, eval.py, report.py and execute.sh")
    sub.add_argument("args", metavar="ARGS")
    sub.add_argument("--force", action="store_true", help=force_help)
    sub.add_argument("--fresh", action="store_true", help=fresh_help)
    sub.add_argument("--seeds", type=_count, metavar="N", help="one run per trainer seed 0..N-1, in <output>/seeds/")
    sub = add("run", cmd_run, "validate, generate, train, fit the prior, eval, visualize, report (skipping completed stages)")
    sub.add_argument("args", metavar="ARGS")
    sub.add_argument("--force", action="store_true", help=force_help)
    sub.add_argument("--fresh", action="store_true", help=fresh_help)
    sub.add_argument("--quiet", "-q", action="store_true", help="only write the stages' output to their logs")
    sub.add_argument("--seeds", type=_count, metavar="N", help="one run per trainer seed 0..N-1, in <output>/seeds/")
    sub.add_argument("--until", choices=STAGES, default=STAGES[-1],
                     help="stop after this stage (default: %(default)s); a later `remvae run` goes on from there")
    sub = add("upgrade", cmd_upgrade, "rewrite an args.json of remvae 0.1 in the current form (keeping the original)")
    sub.add_argument("args", metavar="ARGS")
    for stage, help in (
        ("train", "train (or resume training) the run's model"),
        ("prior", "fit the run's learned prior (if it declares one) to the trained model"),
        ("visualize", "draw the run's figures into figures/"),
        ("eval", "run the evaluators into metrics/eval.json"),
        ("report", "assemble report.pdf"),
    ):
        sub = add(stage, _stage_command(stage), help)
        sub.add_argument("run", metavar="RUN", help="run folder (holding config.json and the generated scripts)")
        sub.add_argument("--quiet", "-q", action="store_true", help="only write the output to the log")
    sub = add("transfer", cmd_transfer, "redraw an image with a caption's content in the image's own style")
    sub.add_argument("run", metavar="RUN", help="trained run folder")
    sub.add_argument("image", metavar="IMAGE", help="a PNG or JPEG file")
    sub.add_argument("caption", metavar="CAPTION", help="the new content, e.g. 'a photo of a three'")
    sub.add_argument("--output", "-o", default="transfer.png", help="PNG to write (default: %(default)s)")
    sub.add_argument("--strength", type=float, help="style kept (default: the one chosen on validation, else 0.5)")
    sub.add_argument("--checkpoint", default="best", help="best (default), last, or a checkpoint's name or path")
    configure_serve(add("serve", serve_command, "serve a trained run on a local web page (needs remvae[serve])"))
    sub = add("compare", cmd_compare, "compare runs or seed parents: settings, metrics, paired tests, samples, curves")
    sub.add_argument("runs", metavar="RUN", nargs="+",
                     help="run folders; a folder of runs repeated over seeds (seeds/seed-<k>/) counts as one, its "
                          "seeds aggregated")
    sub.add_argument("--out", "-o", metavar="DIR",
                     help="folder for comparison.pdf, comparison.md and the PNGs (default: a new comparison-<time> "
                          "folder beside the first RUN)")
    sub.add_argument("--resamples", type=_count, default=1000, metavar="B",
                     help="paired-bootstrap resamples per FID or perplexity test (default 1000)")
    judge = commands.add_parser("judge", help="judge classifiers for the evaluators")
    judge_commands = judge.add_subparsers(dest="judge_command", metavar="COMMAND", required=True)
    sub = judge_commands.add_parser("train", help="train a data set's judge (image classifier or caption LM) and save it")
    sub.set_defaults(func=cmd_judge_train)
    sub.add_argument("--kind", choices=("classifier", "lm"), default="classifier",
                     help="the image classifier (default) or the caption language model of the perplexity rows")
    sub.add_argument(
        "--dataset", required=True, help="mnist, fashion_mnist or celeba (bundled_digits for a quick check)"
    )
    sub.add_argument("--root", help="data root (default: $REMVAE_DATA, else the per-user cache)")
    sub.add_argument("--output", help="folder to save it in (default: the first $REMVAE_JUDGES folder or the cache)")
    sub.add_argument("--epochs", type=int, help="training epochs (default: the data set's preset)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the augmentation")
    return parser


def _print_error(error: BaseException) -> None:
    """One ``remvae: error:`` line per problem of a bad-input error."""
    for line in str(error).splitlines() or [type(error).__name__]:
        print(f"remvae: error: {line}", file=sys.stderr)


BAD_INPUT = (ValueError, UnknownComponentError, DataNotFoundError, FileNotFoundError)
"""Errors that are the input's fault: exit 2 with one line per problem (a RunLockedError too: the folder is busy)."""


def main(argv: Sequence[str] | None = None) -> int:
    from remvae.generator.stages import StageError

    # torch logs a CUDA_HOME warning when a plugin imports torch.utils.cpp_extension on a CPU-only
    # machine; the command's stderr is kept for remvae's own one-line messages.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except StageError as error:
        if error.interrupted:
            saved = "the trainer saved checkpoints/last; " if error.stage == "train" else ""
            print(f"remvae: {error}; {saved}run the same command again to resume", file=sys.stderr)
            return EXIT_INTERRUPTED
        print(f"remvae: error: {error}", file=sys.stderr)
        return EXIT_STAGE_FAILED
    except StorageError as error:
        print(f"remvae: error: {error.strerror or error}", file=sys.stderr)
        return EXIT_STAGE_FAILED
    except BAD_INPUT as error:
        _print_error(error)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("remvae: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
