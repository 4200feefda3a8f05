"""Seed intervals, McNemar, the paired bootstrap, Holm and per-item storage (remvae.report.statistics).

Reference values are hand-computed or published; the simulations are seeded and small.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import linalg, stats

from remvae.report.statistics import (
    Interval,
    PairedTest,
    holm,
    mcnemar,
    pack_correct,
    paired_bootstrap,
    seed_interval,
    unpack_correct,
)
from remvae.report.values import format_interval

# --- seed intervals -----------------------------------------------------------------------------


def test_seed_interval_matches_hand_computation():
    interval = seed_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # mean 3, s^2 = (4 + 1 + 0 + 1 + 4) / 4 = 2.5, t_{4, 0.975} = 2.776445 (t table)
    assert interval.mean == pytest.approx(3.0)
    assert interval.std == pytest.approx(math.sqrt(2.5))
    assert interval.n == 5
    assert interval.half_width == pytest.approx(2.776445 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert interval.low == pytest.approx(3.0 - 1.963243, abs=1e-6)
    assert interval.high == pytest.approx(3.0 + 1.963243, abs=1e-6)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_seed_interval_matches_scipy_t_interval(n, confidence):
    values = np.random.default_rng(n).normal(0.9, 0.02, size=n)
    interval = seed_interval(values, confidence=confidence)
    low, high = stats.t.interval(confidence, df=n - 1, loc=values.mean(), scale=stats.sem(values))
    assert interval.low == pytest.approx(low, rel=1e-12)
    assert interval.high == pytest.approx(high, rel=1e-12)
    assert interval.confidence == confidence


def test_seed_interval_covers_the_true_mean_at_its_level():
    """2000 simulated experiments of 5 seeds: the 95% interval covers the true mean 93-97% of the time."""
    rng = np.random.default_rng(12345)
    true_mean, sigma = 0.9, 0.01
    runs = rng.normal(true_mean, sigma, size=(2000, 5))
    covered = [(iv.low <= true_mean <= iv.high) for iv in map(seed_interval, runs)]
    assert 0.93 <= np.mean(covered) <= 0.97
    # The check is sharp enough to catch the usual mistake, a normal quantile with the population std:
    naive = 1.959964 * runs.std(axis=1) / math.sqrt(5)
    naive_coverage = np.mean(np.abs(runs.mean(axis=1) - true_mean) <= naive)
    assert naive_coverage < 0.93


def test_one_seed_has_no_interval_and_says_so():
    interval = seed_interval([0.9231])
    assert interval.std is None and interval.half_width is None
    assert interval.low is None and interval.high is None
    assert interval.scaled(100).format(2) == "92.31 (1 seed)"


def test_interval_format_and_percent_scaling():
    interval = Interval(mean=0.92312, std=0.004, n=3, confidence=0.95, half_width=0.00449)
    assert interval.scaled(100).format(2) == "92.31 ± 0.45"
    assert interval.format(4) == "0.9231 ± 0.0045"
    scaled = interval.scaled(100)
    assert scaled.std == pytest.approx(0.4) and scaled.n == 3
    assert scaled.low == pytest.approx(91.863)


def test_identical_seeds_give_a_true_zero_width():
    interval = seed_interval([0.5, 0.5, 0.5])
    assert interval.std == 0.0 and interval.half_width == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_seed_values_are_refused_with_their_position(bad):
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        seed_interval([0.9, bad, 0.91])


def test_seed_interval_refuses_empty_input_and_bad_confidence():
    with pytest.raises(ValueError, match="at least one"):
        seed_interval([])
    with pytest.raises(ValueError, match="confidence"):
        seed_interval([1.0, 2.0], confidence=95)


# --- McNemar ------------------------------------------------------------------------------------


def correctness(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Two per-item correctness vectors with the given 2x2 counts, shuffled."""
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither, dtype=bool)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither, dtype=bool)
    order = np.random.default_rng(0).permutation(a.size)
    return a[order], b[order]


def test_mcnemar_exact_p_value_by_hand():
    a, b = correctness(both=80, only_a=10, only_b=2, neither=8)
    result = mcnemar(a, b)
    # P[X <= 2], X ~ Binomial(12, 1/2) = (1 + 12 + 66) / 4096; two-sided: doubled = 79 / 2048
    assert result.p_value == pytest.approx(79 / 2048)
    assert result.p_value == pytest.approx(0.0386, abs=5e-5)
    assert result.discordant == (10, 2)
    assert result.difference == pytest.approx(0.08)
    assert result.n == 100
    assert result.low < 0.08 < result.high
    assert result.significant(0.05) and not result.significant(0.01)
    # swapping the models flips the sign, not the evidence
    swapped = mcnemar(b, a)
    assert swapped.p_value == result.p_value
    assert swapped.difference == pytest.approx(-0.08)
    assert swapped.discordant == (2, 10)


def test_mcnemar_symmetric_and_concordant_cases_give_p_one():
    a, b = correctness(both=50, only_a=5, only_b=5, neither=40)
    symmetric = mcnemar(a, b)
    assert symmetric.p_value == 1.0 and symmetric.difference == 0.0
    assert symmetric.low < 0 < symmetric.high
    same = mcnemar(a, a)
    assert same.p_value == 1.0 and same.discordant == (0, 0)
    assert same.low <= 0.0 <= same.high


def test_mcnemar_interval_matches_published_newcombe_example():
    # Cavo et al. (2012) as analysed by Fagerland, Lydersen & Laake: table [[59, 6], [16, 80]],
    # difference -0.0621, Newcombe square-and-add 95% CI -0.1186 to -0.0046.
    a, b = correctness(both=59, only_a=6, only_b=16, neither=80)
    result = mcnemar(a, b)
    assert result.difference == pytest.approx(-0.0621, abs=5e-5)
    assert result.low == pytest.approx(-0.1186, abs=5e-5)
    assert result.high == pytest.approx(-0.0046, abs=5e-5)
    assert result.p_value == pytest.approx(2 * stats.binom.cdf(6, 22, 0.5))


def test_mcnemar_describe_in_points():
    a, b = correctness(both=9000, only_a=220, only_b=100, neither=680)
    text = mcnemar(a, b).describe()
    assert text.startswith("+1.20 pts [+")
    assert text.endswith("p < 0.001 (McNemar, n = 10000)")


def test_mcnemar_refuses_different_lengths_naming_both():
    with pytest.raises(ValueError, match=r"10.*9|9.*10"):
        mcnemar([True] * 10, [True] * 9)


def test_mcnemar_refuses_scores_and_empty_input():
    with pytest.raises(ValueError, match="0/1"):
        mcnemar([0.7, 0.2], [1, 0])
    with pytest.raises(ValueError, match="at least one"):
        mcnemar([], [])


# --- paired bootstrap ---------------------------------------------------------------------------


def mean(x: np.ndarray) -> float:
    return float(np.mean(x))


def test_paired_bootstrap_finds_a_difference_hidden_by_item_difficulty():
    """Items vary a lot (sd 5), the experiments differ by 0.3 on every item with small noise (sd 0.2)."""
    rng = np.random.default_rng(7)
    difficulty = rng.normal(0.0, 5.0, size=200)
    a = difficulty + 0.3 + rng.normal(0.0, 0.2, size=200)
    b = difficulty + rng.normal(0.0, 0.2, size=200)

    paired = paired_bootstrap(mean, a, b, n_resamples=1000, seed=0)
    assert paired.difference == pytest.approx(a.mean() - b.mean())
    assert paired.low > 0 and paired.low < 0.3 < paired.high
    assert paired.p_value == pytest.approx(2 / 1001)
    assert paired.significant(0.01)

    # The same data compared as if unpaired shows nothing: a t-test and an independent-index bootstrap.
    assert stats.ttest_ind(a, b, equal_var=False).pvalue > 0.05
    boot = np.random.default_rng(0)
    unpaired = [
        a[boot.integers(0, 200, 200)].mean() - b[boot.integers(0, 200, 200)].mean() for _ in range(1000)
    ]
    low, high = np.quantile(unpaired, [0.025, 0.975])
    assert low < 0 < high


def test_paired_bootstrap_rarely_rejects_identical_in_distribution_pairs():
    rejections, p_values = 0, []
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        difficulty = rng.normal(0.0, 1.0, size=150)
        a = difficulty + rng.normal(0.0, 0.5, size=150)
        b = difficulty + rng.normal(0.0, 0.5, size=150)
        result = paired_bootstrap(mean, a, b, n_resamples=500, seed=seed)
        p_values.append(result.p_value)
        rejections += result.significant(0.05)
    assert rejections <= 3
    assert min(p_values) < 0.5  # the p-values spread out; they are not stuck at 1


def test_paired_bootstrap_interval_matches_the_normal_approximation_for_a_mean():
    rng = np.random.default_rng(3)
    a = rng.normal(1.0, 1.0, size=400)
    b = a - 0.1 + rng.normal(0.0, 0.5, size=400)
    result = paired_bootstrap(mean, a, b, n_resamples=2000, seed=1)
    d = a - b
    half = 1.959964 * d.std(ddof=1) / math.sqrt(d.size)
    assert result.low == pytest.approx(d.mean() - half, abs=0.15 * half)
    assert result.high == pytest.approx(d.mean() + half, abs=0.15 * half)
    assert result.describe().endswith("(paired bootstrap, n = 400)")


def frechet_distance(real_mean: np.ndarray, real_cov: np.ndarray):
    """FID's formula against fixed real features, as a statistic of generated features (items x features)."""

    def statistic(features: np.ndarray) -> float:
        assert features.ndim == 2 and features.shape[1] == real_mean.size
        mu, cov = features.mean(axis=0), np.cov(features, rowvar=False)
        root = linalg.sqrtm(cov @ real_cov).real
        return float(np.sum((mu - real_mean) ** 2) + np.trace(cov + real_cov - 2 * root))

    return statistic


def test_paired_bootstrap_on_features_keeps_rows_paired():
    rng = np.random.default_rng(11)
    real = rng.normal(0.0, 1.0, size=(500, 4))
    statistic = frechet_distance(real.mean(axis=0), np.cov(real, rowvar=False))
    shared = rng.normal(0.0, 1.0, size=(300, 4)) * 2.0  # what both generators got wrong on each item
    a = shared + 0.3 + rng.normal(0.0, 0.05, size=(300, 4))
    b = shared + rng.normal(0.0, 0.05, size=(300, 4))
    result = paired_bootstrap(statistic, a, b, n_resamples=200, seed=0)
    assert result.difference == pytest.approx(statistic(a) - statistic(b))
    assert result.difference > 0 and result.low > 0
    assert result.p_value == pytest.approx(2 / 201)


def test_paired_bootstrap_is_deterministic_per_seed_and_leaves_global_state_alone():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=80), rng.normal(size=80)
    state = np.random.get_state()[1].copy()
    first = paired_bootstrap(mean, a, b, n_resamples=300, seed=4)
    assert np.array_equal(np.random.get_state()[1], state)
    assert paired_bootstrap(mean, a, b, n_resamples=300, seed=4) == first
    assert paired_bootstrap(mean, a, b, n_resamples=300, seed=5) != first


def test_paired_bootstrap_p_value_for_no_observed_difference_is_one():
    a = np.arange(50, dtype=float)
    result = paired_bootstrap(mean, a, a.copy(), n_resamples=100)
    assert result.difference == 0.0 and result.p_value == 1.0
    assert result.low == 0.0 and result.high == 0.0


def test_paired_bootstrap_refuses_bad_input():
    with pytest.raises(ValueError, match=r"50.*49"):
        paired_bootstrap(mean, np.zeros(50), np.zeros(49))
    with pytest.raises(ValueError, match="non-finite"):
        paired_bootstrap(lambda x: float("nan"), np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="n_resamples"):
        paired_bootstrap(mean, np.zeros(5), np.zeros(5), n_resamples=0)


def test_paired_test_describe_and_significance():
    test = PairedTest(test="McNemar", difference=0.012, low=0.004, high=0.02, p_value=0.003, n=10000,
                      confidence=0.95, points=True)
    assert test.describe() == "+1.20 pts [+0.40, +2.00], p = 0.003 (McNemar, n = 10000)"
    assert test.interval == (0.004, 0.02)
    assert test.significant(0.05) and not test.significant(0.001)


# --- Holm ---------------------------------------------------------------------------------------


def test_holm_stops_at_the_first_failure():
    # m = 3: 0.001 <= 0.05/3 yes; 0.03 > 0.05/2 stop; 0.04 <= 0.05 alone but after the stop
    assert holm({"fid": 0.04, "accuracy": 0.001, "perplexity": 0.03}) == {
        "fid": False,
        "accuracy": True,
        "perplexity": False,
    }


def test_holm_declares_more_than_bonferroni_when_it_should():
    # thresholds 0.0125, 0.0167, 0.025, 0.05: all pass; Bonferroni (0.0125) would keep only "a"
    p = {"a": 0.005, "b": 0.015, "c": 0.02, "d": 0.04}
    assert holm(p) == {"a": True, "b": True, "c": True, "d": True}
    # alpha 0.03: thresholds 0.0075, 0.01, ...: "a" passes, "b" = 0.015 stops the walk
    assert holm(p, alpha=0.03) == {"a": True, "b": False, "c": False, "d": False}
    assert holm(p, alpha=0.01) == {"a": False, "b": False, "c": False, "d": False}


def test_holm_edge_cases():
    assert holm({}) == {}
    assert holm({"only": 0.05}) == {"only": True}
    with pytest.raises(ValueError, match="only"):
        holm({"only": float("nan")})


# --- per-item storage ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 8, 13, 10_000])
def test_pack_unpack_round_trip_through_json(n):
    mask = np.random.default_rng(n).random(n) < 0.9
    text = json.loads(json.dumps({"correct": pack_correct(mask)}))["correct"]
    restored = unpack_correct(text, n)
    assert restored.dtype == bool and restored.shape == (n,)
    assert np.array_equal(restored, mask)


def test_pack_is_compact_and_accepts_zero_one_lists():
    assert len(pack_correct(np.ones(10_000, dtype=bool))) == 1668
    assert pack_correct([1, 0, 1]) == pack_correct([True, False, True])
    with pytest.raises(ValueError, match="0/1"):
        pack_correct([0.2, 0.9])


def test_unpack_refuses_a_wrong_item_count():
    text = pack_correct(np.ones(13, dtype=bool))
    with pytest.raises(ValueError, match="packed bytes"):
        unpack_correct(text, 20)
    with pytest.raises(ValueError, match="beyond item 12"):
        unpack_correct(text, 12)
    with pytest.raises(ValueError, match="base64"):
        unpack_correct("not base64!", 8)


def test_intervals_print_to_two_significant_digits_and_identical_seeds_as_plus_minus_zero():
    assert format_interval(0.94531, 0.01234, percent=True) == "94.5 ± 1.2%"
    assert format_interval(2.60412, 0.3012) == "2.60 ± 0.30"
    assert format_interval(100.0, 0.0) == "100 ± 0"
    rounded = seed_interval([0.1 + 0.2 + 0.1, 0.4, 0.4])  # equal seeds whose sums differ in the last bit
    assert 0 < rounded.half_width < 1e-12
    assert format_interval(rounded.mean, rounded.half_width) == "0.4 ± 0"
