"""Paired tests between two runs (or seed parents) evaluated on the same test items, from their per-item scores.

``metrics/eval_items.safetensors`` keeps what each evaluator scored per item. Two subjects are compared
on an evaluator's items only when both have them and the evaluations agree on split, N and evaluation
seed (so item i is the same test item in both):

* per-item correctness (a boolean per item, e.g. ``cross_modal/text_to_image_top1``): exact McNemar test;
* FID (``<key>/real_features`` with ``<key>/<set>_features``): paired bootstrap of the Fréchet distance;
* perplexity (``<key>/log_px`` with ``<key>/tokens``; ``<key>/<set>_nll`` with ``<key>/<set>_tokens`` for the
  generated caption sets, not the test captions themselves): paired bootstrap of exp(summed NLL / summed tokens);
* another per-item score named like its metric (CelebA's attribute agreement): paired bootstrap of the mean;
  per-item TP/FP/FN counts (``image_to_text_counts``): paired bootstrap of the micro-F1.

Seed parents are paired seed by seed: the runs of the seeds both have (or the one run of a plain run and the
seed run with its seed) contribute their items, pooled as (item, seed) pairs. Holm's method then judges
all the differences of one comparison together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from remvae.core.frechet import frechet_from_moments, gaussian_moments
from remvae.report.runfolder import RunFiles
from remvae.report.statistics import (
    PairedTest,
    holm,
    mcnemar,
    paired_bootstrap,
    paired_frechet_bootstrap,
)
from remvae.report.subject import Subject

NOT_TEST_ITEMS = ("joint_coherence",)
"""Per-item scores of prior draws rather than of test items: draw i of one model is not draw i of another."""
Items = Mapping[str, np.ndarray]
Statistic = Callable[[np.ndarray, np.ndarray], float]
"""A statistic of stacked per-item rows ``[N, ...]`` and how many times each counts ``[N]`` (bootstrap draws)."""


@dataclass(frozen=True)
class Candidate:
    """A metric that per-item scores can test: how to stack one run's items and the statistic over them."""

    metric: str  # "<key>.<metric>" as in the metrics table
    kind: str  # "item": a per-item score named like its metric (McNemar when boolean); "bootstrap": a statistic;
    # "fid": rows of [real features | generated features], bootstrapped with the other FIDs on the same real features
    stack: Callable[[Items], np.ndarray]
    statistic: Statistic | None = None


@dataclass(frozen=True)
class PairedRow:
    """One tested metric of a comparison, or one that could not be tested and why."""

    metric: str
    result: PairedTest | None
    note: str
    significant: bool = False


def candidates(key: str, names: Sequence[str], metrics: Sequence[str]) -> list[Candidate]:
    """The testable metrics of evaluator entry ``key`` from its per-item names and its metric names."""
    found: list[Candidate] = []
    present = set(names)
    for name in names:
        if name in metrics and name not in NOT_TEST_ITEMS and not name.endswith("tokens"):
            found.append(Candidate(f"{key}.{name}", "item", _column(f"{key}/{name}")))
        if name.endswith("_features") and name != "real_features" and "real_features" in present:
            fid = name.removesuffix("_features") + "_fid"
            if fid in metrics:
                found.append(Candidate(f"{key}.{fid}", "fid", _pair(f"{key}/real_features", f"{key}/{name}"),
                                       _frechet))
        if name.endswith("_nll") and name != "original_nll" and name.removesuffix("_nll") + "_tokens" in present:
            caption_set = name.removesuffix("_nll")
            found.append(Candidate(f"{key}.{caption_set}_perplexity", "bootstrap",
                                   _pair(f"{key}/{name}", f"{key}/{caption_set}_tokens"), _perplexity))
        if name == "image_to_text_counts" and "image_to_text_f1_micro" in metrics:
            found.append(Candidate(f"{key}.image_to_text_f1_micro", "bootstrap", _column(f"{key}/{name}"), _micro_f1))
    if {"log_px", "tokens"} <= present and "perplexity" in metrics:
        found.append(Candidate(f"{key}.perplexity", "bootstrap", _negated_pair(f"{key}/log_px", f"{key}/tokens"),
                               _perplexity))
    return found


def _column(name: str) -> Callable[[Items], np.ndarray]:
    return lambda items: np.asarray(items[name])


def _pair(first: str, second: str) -> Callable[[Items], np.ndarray]:
    """Per item, the values of two item arrays side by side (features next to features, NLL next to tokens)."""
    return lambda items: np.concatenate([_rows(items[first]), _rows(items[second])], axis=1)


def _negated_pair(first: str, second: str) -> Callable[[Items], np.ndarray]:
    return lambda items: np.concatenate([-_rows(items[first]), _rows(items[second])], axis=1)


def _rows(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[:, None] if values.ndim == 1 else values


def _frechet(stacked: np.ndarray, counts: np.ndarray) -> float:
    """FID between the first and second halves of each row (real features, generated features)."""
    width = stacked.shape[1] // 2
    return frechet_from_moments(*gaussian_moments(stacked[:, :width], counts),
                                *gaussian_moments(stacked[:, width:], counts))


def _perplexity(stacked: np.ndarray, counts: np.ndarray) -> float:
    """exp(summed NLL / summed tokens) of rows (NLL, tokens)."""
    nll, tokens = counts @ stacked.astype(np.float64)
    return float(np.exp(nll / tokens))


def _micro_f1(item_counts: np.ndarray, counts: np.ndarray) -> float:
    """2 TP / (2 TP + FP + FN) of per-item (TP, FP, FN) counts."""
    tp, fp, fn = counts @ item_counts.astype(np.float64)
    return float(2 * tp / (2 * tp + fp + fn)) if 2 * tp + fp + fn else 0.0


def _mean(values: np.ndarray, counts: np.ndarray) -> float:
    """The mean of every value, item i's counted ``counts[i]`` times."""
    per_column = counts @ values.reshape(len(values), -1).astype(np.float64) / counts.sum()
    return float(per_column.mean())


def seed_pairs(run: Subject, first: Subject) -> tuple[list[tuple[RunFiles, RunFiles]], str]:
    """The (run, first) pairs of runs to pool, and how they were matched (for the table's note)."""
    if not run.seeded and not first.seeded:
        return [(run.primary, first.primary)], ""
    by_seed = {seed: r for seed, r in zip(first.seeds, first.runs)}
    pairs = [(r, by_seed[seed]) for seed, r in zip(run.seeds, run.runs) if seed in by_seed]
    seeds = [seed for seed in run.seeds if seed in by_seed]
    if not pairs:
        return [], "no seed in common"
    return pairs, f"(item, seed) pairs pooled over seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"


def same_items(a: RunFiles, b: RunFiles, key: str) -> str:
    """Why ``key``'s items of two runs cannot be paired (empty when they can)."""
    entries = [((run.evaluation or {}).get("evaluators") or {}).get(key) or {} for run in (a, b)]
    for field in ("split", "n", "seed"):
        if entries[0].get(field) != entries[1].get(field):
            return f"different evaluation {field} ({entries[0].get(field)} vs {entries[1].get(field)})"
    return ""


def paired_tests(run: Subject, first: Subject, n_resamples: int = 1000,
                 alpha: float = 0.05) -> tuple[list[PairedRow], str]:
    """``run`` against ``first`` on every metric both can test item by item (difference = run − first), with
    Holm's correction over the tested metrics, and how seeds were paired; untestable metrics get a row saying
    why."""
    pairs, pooled = seed_pairs(run, first)
    if not pairs:
        return [PairedRow("every metric", None, pooled)], ""
    rows: list[PairedRow] = []
    fids: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    keys = [key for key in run.metric_names() if key in first.metric_names()]
    for key in keys:
        names = sorted({name.split("/", 1)[1] for a, _ in pairs for name in a.items() if name.startswith(f"{key}/")})
        found = candidates(key, names, run.metric_names()[key])
        if not found:
            continue
        why = next((reason for a, b in pairs if (reason := same_items(a, b, key))), "")
        missing = next((f"no per-item scores in {r.root}" for a, b in pairs for r in (a, b)
                        if not any(name.startswith(f"{key}/") for name in r.items())), "")
        for candidate in found:
            if why or missing:
                rows.append(PairedRow(candidate.metric, None, why or missing))
                continue
            a = np.concatenate([candidate.stack(x.items()) for x, _ in pairs])
            b = np.concatenate([candidate.stack(y.items()) for _, y in pairs])
            if candidate.kind == "fid":
                fids[candidate.metric] = (a, b)
                rows.append(PairedRow(candidate.metric, None, ""))  # tested below, with the others on its real features
            else:
                rows.append(PairedRow(candidate.metric, run_test(candidate, a, b, n_resamples), ""))
    fid_tests = frechet_tests(fids, n_resamples)
    rows = [PairedRow(row.metric, fid_tests[row.metric], "") if row.metric in fid_tests else row for row in rows]
    tested = {row.metric: row.result.p_value for row in rows if row.result is not None}
    verdict = holm(tested, alpha) if tested else {}
    return [PairedRow(row.metric, row.result, row.note, verdict.get(row.metric, False)) for row in rows], pooled


def frechet_tests(stacked: Mapping[str, tuple[np.ndarray, np.ndarray]], n_resamples: int) -> dict[str, PairedTest]:
    """Paired bootstraps of FID metrics from ``[real | generated]`` rows of both runs. Metrics whose real half is
    the same in both runs and in each other (the same test images under the same judge) are bootstrapped
    together, sharing each resample's real moments; any other falls back to its own bootstrap."""
    groups: list[tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray]]]] = []
    results: dict[str, PairedTest] = {}
    for metric, (a, b) in stacked.items():
        width = a.shape[1] // 2
        real, fake_a, fake_b = a[:, :width], a[:, width:], b[:, width:]
        if a.shape != b.shape or not np.array_equal(real, b[:, :width]):
            with threadpool_limits(1):
                results[metric] = paired_bootstrap(_frechet, a, b, n_resamples=n_resamples, weighted=True)
            continue
        group = next((sets for shared, sets in groups if shared.shape == real.shape and np.array_equal(shared, real)),
                     None)
        if group is None:
            groups.append((real, group := {}))
        group[metric] = (fake_a, fake_b)
    with threadpool_limits(1):  # small matrices: one BLAS thread is several times faster on a busy machine
        for real, sets in groups:
            results.update(paired_frechet_bootstrap(real, sets, n_resamples=n_resamples))
    return results


def run_test(candidate: Candidate, a: np.ndarray, b: np.ndarray, n_resamples: int) -> PairedTest:
    """McNemar for per-item correctness, else a paired bootstrap of the candidate's statistic (the mean when it
    has none)."""
    if candidate.kind == "item" and a.dtype == bool:
        return mcnemar(a, b)
    with threadpool_limits(1):  # small matrices: one BLAS thread is several times faster on a busy machine
        return paired_bootstrap(candidate.statistic or _mean, a, b, n_resamples=n_resamples, weighted=True)
