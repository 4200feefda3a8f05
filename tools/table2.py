"""Train and evaluate the reference's Table 2: CelebA at 32, 56 and 128 px with a GRU, LSTM or xLSTM text VAE.

    python tools/table2.py --device cuda                       # the full schedule (the shipped args.json)
    python tools/table2.py --epochs 3 --out runs/table2-cpu    # a shortened schedule, e.g. on a CPU

Each of the nine ``experiments/reference_celeba_<text>_<size>/args.json`` is copied into ``<out>/<name>/`` with the
device (and, with ``--epochs``, a shorter schedule, its name marked ``-<E>ep``) set, then run by ``remvae run``.
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


def derived_args(name: str, device: str, epochs: int | None) -> dict:
    args = json.loads((REPO / "experiments" / name / "args.json").read_text(encoding="utf-8"))
    trainer = args["trainer"].setdefault("config", {})
    trainer["device"] = device
    if epochs is not None:
        full = trainer.get("epochs")
        trainer["epochs"] = epochs
        args["name"] = f"{name}-{epochs}ep"
        args["description"] = f"{args.get('description', '')} Shortened to {epochs} of its {full} epochs."
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/table2"), help="folder for the nine runs")
    parser.add_argument("--device", default="auto", help="trainer device: auto, cpu, cuda, cuda:N (default auto)")
    parser.add_argument("--epochs", type=int, help="shorten every schedule to this many epochs (default: as shipped)")
    parser.add_argument("--only", nargs="+", choices=CONFIGURATIONS, metavar="NAME", help="a subset of the nine")
    options = parser.parse_args(argv)
    if options.epochs is not None and options.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {options.epochs}")
    failed = []
    for name in options.only or CONFIGURATIONS:
        args = derived_args(name, options.device, options.epochs)
        folder = options.out / args["name"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "args.json").write_text(json.dumps(args, indent=2) + "\n", encoding="utf-8")
        done = subprocess.run([sys.executable, "-m", "remvae.cli", "run", str(folder / "args.json"), "--quiet"])
        if done.returncode:
            failed.append(name)
    if failed:
        print(f"table2: failed: {', '.join(failed)} (see their logs/)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
