"""Train and evaluate the reference's Table 2: CelebA at 32, 56 and 128 px with a GRU, LSTM or xLSTM text VAE.

    python tools/table2.py --device cuda                       # the full schedule (the shipped args.json)
    python tools/table2.py --epochs 3 --out runs/table2-cpu    # a shortened schedule, e.g. on a CPU
    python tools/table2.py --recipe remvae --seeds 3           # remvae's CelebA recipe on the same networks

Each of the nine ``experiments/reference_celeba_<text>_<size>/args.json`` is copied into ``<out>/<name>/`` with the
device (and, with ``--epochs``, a shorter schedule, its name marked ``-<E>ep``) set, then run by ``remvae run``.
``--recipe`` names how each configuration is trained: ``reference`` (as shipped: the reference's unit weights and
adaptive annealing) or ``remvae`` (the model, prior, trainer and word dropout of ``experiments/celeba_gru``, on
the configuration's own image size, networks, latent and captions; the name marked ``-remvae``). Choose between
recipes on validation (``benchmarks/recipe_choice.py``), never on the test rows the runs also write.
Print the table with ``python tools/results_table.py <out>/* --columns table2``. The 10,000-face subset is
89×109, so 128 px faces are upsampled from it; full-size CelebA (178×218) is read the same way.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGURATIONS = [f"reference_celeba_{text}_{size}" for size in (32, 56, 128) for text in ("gru", "lstm", "xlstm")]


def read_args(name: str) -> dict:
    return json.loads((REPO / "experiments" / name / "args.json").read_text(encoding="utf-8"))


def remvae_recipe(args: dict) -> dict:
    """``args`` trained as ``celeba_gru`` is: its model, prior, trainer and text word dropout; nothing else."""
    recipe = read_args("celeba_gru")
    args = {**args, **{section: recipe[section] for section in ("model", "prior", "trainer")}}
    text = args["text"].setdefault("config", {})
    text["word_dropout"] = recipe["text"]["config"]["word_dropout"]
    args["name"] = f"{args['name']}-remvae"
    args["description"] = f"{args.get('description', '')} Trained with remvae's CelebA recipe (celeba_gru's)."
    return args


RECIPES = {"reference": lambda args: args, "remvae": remvae_recipe}


def derived_args(name: str, device: str, epochs: int | None, recipe: str = "reference") -> dict:
    args = RECIPES[recipe](read_args(name))
    trainer = args["trainer"].setdefault("config", {})
    trainer["device"] = device
    if epochs is not None:
        full = trainer.get("epochs")
        trainer["epochs"] = epochs
        args["name"] = f"{args['name']}-{epochs}ep"
        args["description"] = f"{args.get('description', '')} Shortened to {epochs} of its {full} epochs."
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/table2"), help="folder for the nine runs")
    parser.add_argument("--device", default="auto", help="trainer device: auto, cpu, cuda, cuda:N (default auto)")
    parser.add_argument("--epochs", type=int, help="shorten every schedule to this many epochs (default: as shipped)")
    parser.add_argument("--only", nargs="+", choices=CONFIGURATIONS, metavar="NAME", help="a subset of the nine")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="reference",
                        help="how to train (default reference)")
    parser.add_argument("--seeds", type=int, default=1,
                        help="seeds per configuration, in <out>/<name>/seeds/seed-<k>/ (default 1; more later reuse "
                             "those already run)")
    options = parser.parse_args(argv)
    if options.epochs is not None and options.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {options.epochs}")
    if options.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {options.seeds}")
    failed = []
    for name in options.only or CONFIGURATIONS:
        args = derived_args(name, options.device, options.epochs, options.recipe)
        folder = options.out / args["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "args.json").write_text(json.dumps(args, indent=2) + "\n", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "remvae.cli", "run", str(folder / "args.json"),
                               "--seeds", str(options.seeds), "--quiet"])
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"table2: failed: {', '.join(failed)} (see their logs/)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
