"""The MultiVae side by side over several seeds: mean ± 95% CI per model from ``peer_multivae.py --out`` files.

    python benchmarks/peer_seeds.py FILE.json [FILE.json ...] [--markdown]

Each file is one ``peer_multivae.py --seed K --out FILE.json`` run (one or both data sets; run the seeds in parallel,
on different machines if need be). The files of one data set must be distinct seeds of the same budget (epochs,
``--limit``) and the same test items; a model's interval is over the seeds whose files contain it (the ``seeds``
column). Intervals are Student-t over seeds (:func:`remvae.report.statistics.seed_interval`); one seed gives a mean
without an interval.

After the table, each data set's remvae row (the ``--args`` experiment, the first row of its files) is set against
MultiVae's best family on every quality column, as issue 16's "≥ MultiVae's best family on every row" reads: the
best by mean (highest accuracy or coherence, lowest prior ÷ recon FID), whether remvae's mean is at least as good,
and whether the two 95% intervals are apart. ``--markdown`` prints the table as a Markdown table (for RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common import Table, refuse

if TYPE_CHECKING:
    from remvae.report.statistics import Interval

SCRIPT = "peer_seeds"
PEER_PREFIX = "MultiVae "
"""Row labels of MultiVae's families (``peer_multivae.py`` labels a row ``f"{library} {family}"``)."""
BUDGET_KEYS = ("epochs", "limit")
"""What must agree between the files of one data set, beside their test items."""


@dataclass(frozen=True)
class Column:
    """A measured column: its row key in the JSON, its printed name, and how to read and compare it."""

    key: str
    name: str
    percent: bool = False
    higher_is_better: bool | None = None
    """``None``: not a quality column (no comparison against the peers)."""


COLUMNS = (
    Column("text_to_image", "t2i acc", percent=True, higher_is_better=True),
    Column("image_to_text", "i2t acc", percent=True, higher_is_better=True),
    Column("joint_coherence", "joint coh.", percent=True, higher_is_better=True),
    Column("prior_fid", "gen FID"),
    Column("reconstruction_fid", "recon FID"),
    Column("fid_ratio", "gen/recon", higher_is_better=False),
    Column("wall_seconds", "wall s"),
)
TABLE = Table([("data set", 13), ("model", 16), ("seeds", 7), *[(c.name, 14) for c in COLUMNS]])
VERDICTS = Table([("data set", 13), ("column", 10), ("remvae", 14), ("best peer", 16), ("its value", 14),
                  ("remvae ≥ best", 13), ("intervals", 9)])


@dataclass
class DataSet:
    """One data set's rows gathered over the files: per model, per column, one value per seed."""

    name: str
    budget: dict[str, Any]
    test_items: tuple[int, int, str | None]
    """``(test pairs, N scored, judge name)``: the same for every seed."""
    judge_accuracy: list[float] = field(default_factory=list)
    seeds: dict[int, Path] = field(default_factory=dict)
    models: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, path: Path, seed: int, document: dict[str, Any], entry: dict[str, Any]) -> str | None:
        """The seed's rows added, or why ``path`` cannot join the others of this data set."""
        if seed in self.seeds:
            return f"{path}: seed {seed} of {self.name} was already read from {self.seeds[seed]}; give each seed once"
        budget = budget_of(document)
        if budget != self.budget:
            return f"{path}: {self.name} measured with {budget}, the other files with {self.budget}; same budget needed"
        items = test_items(entry)
        if items != self.test_items:
            return (f"{path}: {self.name} scored on (test pairs, N, judge) {items}, the other files on "
                    f"{self.test_items}; same test items needed")
        self.seeds[seed] = path
        self.judge_accuracy.append(float((entry.get("judge") or {}).get("accuracy", float("nan"))))
        for row in entry["rows"]:
            values = self.models.setdefault(row["model"], defaultdict(list))
            for column in COLUMNS:
                values[column.key].append(float(row[column.key]))
        return None


def budget_of(document: dict[str, Any]) -> dict[str, Any]:
    return {key: document.get(key) for key in BUDGET_KEYS}


def test_items(entry: dict[str, Any]) -> tuple[int, int, str | None]:
    return int(entry["test_items"]), int(entry["n"]), (entry.get("judge") or {}).get("name")


def main() -> int:
    options = parse_arguments()
    datasets: dict[str, DataSet] = {}
    for path in options.files:
        document = read_output(path)
        if isinstance(document, str):
            return refuse(SCRIPT, document)
        seed = int(document["seed"])
        for entry in document["datasets"]:
            name = entry["dataset"]
            if name not in datasets:
                datasets[name] = DataSet(name, budget_of(document), test_items(entry))
            problem = datasets[name].add(path, seed, document, entry)
            if problem is not None:
                return refuse(SCRIPT, problem)
    if not datasets:
        return refuse(SCRIPT, "the files hold no data set (peer_multivae.py skipped every one: no data?)")
    print_summary(list(datasets.values()), options.markdown)
    return 0


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=SCRIPT, description=__doc__.splitlines()[0])
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE.json",
                        help="peer_multivae.py --out files, one per seed")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    return parser.parse_args()


def read_output(path: Path) -> dict[str, Any] | str:
    """The ``peer_multivae.py --out`` document of ``path``, or a one-line reason it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path}: not found; give the files peer_multivae.py --out wrote"
    except (OSError, UnicodeDecodeError) as error:
        return f"{path}: cannot be read ({error})"
    except json.JSONDecodeError as error:
        return f"{path}: not JSON (line {error.lineno}: {error.msg})"
    rows_ok = isinstance(document, dict) and isinstance(document.get("datasets"), list) and all(
        isinstance(entry, dict) and isinstance(entry.get("rows"), list) and {"dataset", "test_items", "n"} <= set(entry)
        and all(isinstance(row, dict) and {"model", *(c.key for c in COLUMNS)} <= set(row) for row in entry["rows"])
        for entry in document["datasets"]
    )
    if not rows_ok or not isinstance(document.get("seed"), int):
        return f"{path}: not a peer_multivae.py --out file (needs 'seed' and 'datasets' with their rows)"
    return document


def cell(values: list[float], column: Column) -> str:
    # remvae (and torch with it) is imported only once the files are read: bad input is refused at once
    from remvae.report.statistics import seed_interval
    from remvae.report.values import format_interval

    found = seed_interval(values)
    if found.half_width is None:
        scale = 100.0 if column.percent else 1.0
        return f"{found.mean * scale:.2f}{'%' if column.percent else ''} (1 seed)"
    return format_interval(found.mean, found.half_width, column.percent)


def print_summary(datasets: list[DataSet], markdown: bool) -> None:
    for data in datasets:
        seeds = ", ".join(str(s) for s in sorted(data.seeds))
        pairs, n, judge = data.test_items
        accuracy = ", ".join(f"{100 * a:.1f}%" for a in data.judge_accuracy)
        print(f"{data.name}: seeds {seeds}; budget {data.budget}; split test, N = {n} of {pairs} test pairs, judge "
              f"{judge} (accuracy on these items, per seed: {accuracy})")
    print("mean ± 95% CI over seeds (Student t); t2i / i2t from posterior means, joint coh. and gen FID from prior "
          "draws, FIDs in the judge's features\n")
    lines = [[data.name, model, str(len(values[COLUMNS[0].key])), *[cell(values[c.key], c) for c in COLUMNS]]
             for data in datasets for model, values in data.models.items()]
    if markdown:
        header = ["data set", "model", "seeds", *[c.name for c in COLUMNS]]
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |")
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        TABLE.print_header()
        for line in lines:
            TABLE.print_row(*line)
    print("\nremvae (the --args experiment) against MultiVae's best family, per quality column:\n")
    VERDICTS.print_header()
    for data in datasets:
        for line in verdicts(data):
            VERDICTS.print_row(*line)


def verdicts(data: DataSet) -> list[list[str]]:
    """One line per quality column: remvae's interval, the best peer by mean, and whether remvae is at least as good
    (by mean) and whether the intervals are apart."""
    from remvae.report.statistics import seed_interval

    base_name = next(iter(data.models))
    peers = {name: values for name, values in data.models.items() if name.startswith(PEER_PREFIX)}
    lines = []
    for column in COLUMNS:
        if column.higher_is_better is None or not peers:
            continue
        sign = 1.0 if column.higher_is_better else -1.0
        best = max(peers, key=lambda name: sign * seed_interval(peers[name][column.key]).mean)
        ours, theirs = seed_interval(data.models[base_name][column.key]), seed_interval(peers[best][column.key])
        at_least = sign * ours.mean >= sign * theirs.mean
        lines.append([data.name, column.name, cell(data.models[base_name][column.key], column), best,
                      cell(peers[best][column.key], column), "yes" if at_least else "no", apart(ours, theirs)])
    return lines


def apart(a: Interval, b: Interval) -> str:
    """``"apart"`` when the two 95% intervals do not overlap, ``"overlap"`` when they do, ``"n/a"`` without both."""
    if a.half_width is None or b.half_width is None:
        return "n/a"
    separated = a.mean - a.half_width > b.mean + b.half_width or b.mean - b.half_width > a.mean + a.half_width
    return "apart" if separated else "overlap"


if __name__ == "__main__":
    sys.exit(main())
