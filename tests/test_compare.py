"""``compare``: tiny runs and a tiny experiment repeated over two seeds, trained and evaluated in-process by their
generated scripts, compared into a folder: settings that differ, intervals over seeds, paired tests."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import tiny_args
from test_report import flat_text, one_thread, stage, tiny_run  # noqa: F401 (one_thread: autouse fixture)

from remvae.args import experiment_for_seed, load_experiment
from remvae.core.frechet import frechet_distance, frechet_from_moments, gaussian_moments
from remvae.generator.render import generate
from remvae.playground.evaluators.fid import frechet_distance as evaluator_frechet
from remvae.report import compare, default_output, write_report
from remvae.report.figures import CurveSet, curves_figure
from remvae.report.paired import paired_tests
from remvae.report.statistics import paired_bootstrap, paired_frechet_bootstrap
from remvae.report.subject import Subject

RESAMPLES = 200
ARGS = tiny_args(
    seed=0,
    data={"train_length": 256, "test_length": 64},
    trainer={"name": "simple", "config": {"epochs": 2, "batch_size": 64, "num_threads": 1, "quiet": True}},
    evaluators=[{"name": "cross_modal", "config": {"class_fid": False}}, {"name": "reconstruction"},
                {"name": "judge_fid"}, {"name": "perplexity", "config": {"k": 4}}, {"name": "caption_perplexity"}],
)
SMALLER_TEXT = {**ARGS, "text": {"name": "gru", "config": {"hidden_dim": 16}}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run ``a`` (with figures), run ``b`` (a smaller text VAE, no figures) and ``seeds``: b's experiment over seeds 0
    and 1, in ``seeds/seed-<k>/`` as ``remvae run --seeds 2`` lays it out."""
    root = tmp_path_factory.mktemp("compare")
    folders = {"a": tiny_run(root / "a", ARGS), "b": tiny_run(root / "b", SMALLER_TEXT, draw=False)}
    parent = root / "seeds"
    parent.mkdir()
    (parent / "args.json").write_text(json.dumps(SMALLER_TEXT), encoding="utf-8")
    experiment = load_experiment(parent / "args.json")
    for seed in (0, 1):
        seeded = experiment_for_seed(experiment, seed)
        generate(seeded)
        stage(seeded.run_dir / "train.py")
        stage(seeded.run_dir / "eval.py")
    folders["seeds"] = parent
    return folders


def test_two_runs_are_compared_into_the_out_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = compare([runs["a"], runs["b"]], out, n_resamples=RESAMPLES)
    assert [path.name for path in written] == ["comparison.pdf", "comparison.md", "samples.png", "curves.png"]
    assert all(path.parent == out and path.is_file() for path in written)
    markdown = (out / "comparison.md").read_text(encoding="utf-8")
    assert "| text.config.hidden_dim | 32 | 16 |" in markdown  # the one setting that differs
    assert "| trainer.config.epochs |" not in markdown  # equal settings are not listed
    mcnemar = re.search(r"\| cross_modal\.text_to_image_top1 \| McNemar \| [^|]+ pts \[[^|]+\] \| "
                        r"(< 0\.001|[01]\.\d{3}) \| (significant|—) \| 64 \|\s*\|", markdown)
    assert mcnemar, markdown
    assert re.search(r"\| judge_fid\.prior_fid \| paired bootstrap \|", markdown)
    assert re.search(r"\| perplexity\.perplexity \| paired bootstrap \|", markdown)
    assert "caption_perplexity.original_perplexity | paired" not in markdown  # the same test captions in both
    flat = flat_text(out / "comparison.pdf")
    assert "Comparison of 2 runs" in flat and "Paired tests: tiny (b) vs tiny (a)" in flat and "McNemar" in flat
    assert "no text → image figure" not in markdown and "![samples.png](samples.png)" in markdown


def test_a_seed_parent_is_compared_with_intervals_and_matching_seeds(runs: dict[str, Path], tmp_path: Path) -> None:
    written = compare([runs["a"], runs["seeds"]], tmp_path / "out", n_resamples=RESAMPLES)
    markdown = written[1].read_text(encoding="utf-8")
    assert "| seeds | seed 0 | 2 seeds (0, 1) |" in markdown
    assert "| text.config.hidden_dim | 32 | 16 |" in markdown and "| trainer.config.seed | 0 | 0 \\| 1 |" in markdown
    assert "| cross_modal: N · split | 64 test | 64 test × 2 seeds |" in markdown
    row = re.search(r"\| reconstruction\.image_mse \| ([^|]+) \| ([^|]+) \|", markdown)
    assert row and "±" not in row.group(1) and re.fullmatch(r" ?[0-9.]+ ± [0-9.]+ ?", row.group(2)), row
    assert "Seeds: (item, seed) pairs pooled over seed 0" in markdown  # run a has seed 0 only
    assert re.search(r"\| cross_modal\.image_to_text_vs_true \| McNemar \|", markdown)


def test_a_seed_parent_report_shows_means_and_intervals(runs: dict[str, Path]) -> None:
    page = flat_text(write_report(runs["seeds"]), 1, 1)
    assert "over 2 seeds (0, 1)" in page and "64 test × 2 seeds" in page
    assert re.search(r"judge FID: reconstructions [0-9.]+ ± [0-9.]+", page), page
    assert "seed 0: best = epoch 2 of 2" in page and "seed 1: best = epoch 2 of 2" in page


def test_paired_tests_need_the_same_items(runs: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(runs["b"], other, ignore=shutil.ignore_patterns("checkpoints"))
    evaluation = json.loads((other / "metrics" / "eval.json").read_text(encoding="utf-8"))
    evaluation["evaluators"]["cross_modal"]["split"] = "validation"
    (other / "metrics" / "eval.json").write_text(json.dumps(evaluation), encoding="utf-8")
    rows, pooled = paired_tests(Subject(other), Subject(runs["a"]), n_resamples=RESAMPLES)
    by_metric = {row.metric: row for row in rows}
    assert by_metric["cross_modal.text_to_image_top1"].result is None
    assert by_metric["cross_modal.text_to_image_top1"].note == "different evaluation split (validation vs test)"
    assert by_metric["reconstruction.text_exact_match"].result is not None and pooled == ""
    assert "cross_modal.joint_coherence" not in by_metric  # prior draws are not shared test items


def test_default_output_is_a_new_folder_beside_the_first_run(runs: dict[str, Path]) -> None:
    out = default_output([runs["a"], runs["b"]])
    assert out.parent == runs["a"].resolve().parent and re.fullmatch(r"comparison-\d{8}-\d{6}", out.name)
    assert not out.exists()


def test_frechet_distance_matches_the_textbook_formula_on_both_routes() -> None:
    """Against ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 sqrtm(S_r S_g)) with scipy's matrix square root, for fewer
    items than features (the n x n route) and more; the evaluators' tensor entry point gives the same."""
    generator = np.random.default_rng(0)
    for n, features in ((12, 32), (300, 16)):
        real = generator.normal(size=(n, features))
        fake = generator.normal(size=(n, features)) * 1.3 + 0.2
        cov_r, cov_g = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
        root = scipy.linalg.sqrtm(cov_r @ cov_g).real
        textbook = np.square(real.mean(0) - fake.mean(0)).sum() + np.trace(cov_r + cov_g - 2 * root)
        assert frechet_distance(real, fake) == pytest.approx(textbook, rel=1e-6)
        assert evaluator_frechet(torch.from_numpy(real), torch.from_numpy(fake)) == frechet_distance(real, fake)


def test_counted_rows_give_the_moments_and_fid_of_the_repeated_rows() -> None:
    """Counts stand for copies: the moments and FID of rows with counts equal those of the rows repeated."""
    generator = np.random.default_rng(1)
    real, fake = generator.normal(size=(40, 6)), generator.normal(size=(40, 6)) * 0.7 + 0.5
    counts = generator.integers(0, 4, size=40)
    repeated = np.repeat(np.arange(40), counts)
    mean, covariance = gaussian_moments(real, counts)
    assert mean == pytest.approx(real[repeated].mean(0)) and covariance == pytest.approx(np.cov(real[repeated].T))
    counted = frechet_from_moments(*gaussian_moments(real, counts), *gaussian_moments(fake, counts))
    assert counted == pytest.approx(frechet_distance(real[repeated], fake[repeated]), rel=1e-9)


def test_weighted_and_shared_bootstraps_of_fid_resample_exactly_as_the_gathering_one() -> None:
    """remvae compare's FID bootstraps count rows instead of gathering them and share the real moments between
    sets; same seed, same resamples, so the same difference, interval and p-value as gathering the rows."""
    generator = np.random.default_rng(2)
    real = generator.normal(size=(300, 8))
    a = np.concatenate([real, real * 0.9 + generator.normal(0, 0.3, size=(300, 8))], axis=1)
    b = np.concatenate([real, real * 0.8 + generator.normal(0, 0.3, size=(300, 8)) + 0.1], axis=1)

    def gathered(stacked: np.ndarray) -> float:
        return frechet_distance(stacked[:, :8], stacked[:, 8:])

    def counted(stacked: np.ndarray, counts: np.ndarray) -> float:
        return frechet_from_moments(*gaussian_moments(stacked[:, :8], counts), *gaussian_moments(stacked[:, 8:], counts))

    plain = paired_bootstrap(gathered, a, b, n_resamples=200, seed=3)
    weighted = paired_bootstrap(counted, a, b, n_resamples=200, seed=3, weighted=True)
    shared = paired_frechet_bootstrap(real, {"fid": (a[:, 8:], b[:, 8:]), "swapped": (b[:, 8:], a[:, 8:])},
                                      n_resamples=200, seed=3)
    for result in (weighted, shared["fid"]):
        assert result.difference == pytest.approx(plain.difference, rel=1e-9)
        assert (result.low, result.high) == pytest.approx((plain.low, plain.high), rel=1e-9)
        assert result.p_value == plain.p_value and plain.p_value < 0.05
    assert shared["swapped"].difference == pytest.approx(-plain.difference, rel=1e-9)
    assert (shared["swapped"].low, shared["swapped"].high) == pytest.approx((-plain.high, -plain.low), rel=1e-9)


def test_curves_of_several_runs_stay_distinguishable() -> None:
    steps = range(1, 41)
    sets = [CurveSet(f"run {i}", [[{"step": s, "loss": 1000.0 / s ** (1 + i / 4), "beta": s / 40} for s in steps]],
                     [[{"step": s, "loss": 900.0 / s} for s in (10, 20, 30, 40)]]) for i in range(3)]
    figure = curves_figure(sets)
    handles = figure.legends[0].legend_handles[:3]
    assert [h.get_label() for h in handles] == ["run 0", "run 1", "run 2"]
    for attribute in ("get_color", "get_linestyle", "get_marker"):
        assert len({str(getattr(h, attribute)()) for h in handles}) == 3, attribute
    loss = next(ax for ax in figure.axes if ax.get_title(loc="left") == "total loss")
    beta = next(ax for ax in figure.axes if ax.get_title(loc="left").startswith("β"))
    assert loss.get_yscale() == "log" and beta.get_yscale() == "linear"  # values spanning decades, and not
