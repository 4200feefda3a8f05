"""The statistics behind headline numbers: seed intervals, paired tests, multiple comparisons.

The project's rule: a headline number is a mean with a 95% confidence interval over at least three
seeds (:func:`seed_interval`), and two experiments evaluated on the *same* test items are compared
with paired tests, which use the item-by-item pairing instead of throwing it away:

* :func:`mcnemar` on per-item correctness, for accuracies;
* :func:`paired_bootstrap` on per-item values or features, for FID, perplexity and anything else
  computed from a set of items (:func:`paired_frechet_bootstrap`: the same for several FIDs against one set
  of real features, sharing the work);
* :func:`holm` when several differences are judged at once.

Per-item correctness is stored in JSON with :func:`pack_correct` / :func:`unpack_correct` (bits,
base64; no pickle). Everything here is a pure function of its arguments (numpy, scipy and remvae's Fréchet
distance).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from remvae.core.frechet import covariance_root, frechet_from_moments, gaussian_moments

__all__ = [
    "Interval",
    "PairedTest",
    "holm",
    "mcnemar",
    "pack_correct",
    "paired_bootstrap",
    "paired_frechet_bootstrap",
    "seed_interval",
    "unpack_correct",
]


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")


def _signed(value: float, digits: int) -> str:
    return f"{value:+.{digits}f}"


def _format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@dataclass(frozen=True)
class Interval:
    """A mean over seeds with its Student-t confidence interval.

    ``std`` and ``half_width`` are ``None`` when there is a single seed: the spread of one value is
    undefined, and a zero would claim a precision nobody measured.
    """

    mean: float
    std: float | None
    n: int
    confidence: float
    half_width: float | None

    @property
    def low(self) -> float | None:
        """``mean - half_width``, or ``None`` when the half-width is undefined."""
        return None if self.half_width is None else self.mean - self.half_width

    @property
    def high(self) -> float | None:
        """``mean + half_width``, or ``None`` when the half-width is undefined."""
        return None if self.half_width is None else self.mean + self.half_width

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units, e.g. ``scaled(100)`` for an accuracy stored as a fraction.

        Mean, standard deviation and half-width all scale by ``|factor|`` (the mean by ``factor``).
        """
        return Interval(
            mean=self.mean * factor,
            std=None if self.std is None else self.std * abs(factor),
            n=self.n,
            confidence=self.confidence,
            half_width=None if self.half_width is None else self.half_width * abs(factor),
        )

    def format(self, digits: int = 2) -> str:
        """``"92.31 ± 0.45"``; ``"92.31 (1 seed)"`` when the half-width is undefined."""
        if self.half_width is None:
            return f"{self.mean:.{digits}f} ({self.n} seed{'' if self.n == 1 else 's'})"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


def seed_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    r"""Mean and Student-t confidence interval of one metric measured over independent seeds.

    With :math:`n` values :math:`x_i`, mean :math:`\bar x` and sample standard deviation
    :math:`s = \sqrt{\sum_i (x_i - \bar x)^2 / (n - 1)}`, the interval is

    .. math:: \bar x \pm t_{n-1,\,(1+c)/2}\; s / \sqrt{n},

    exact when the seeds' values are independent draws from a normal distribution. For
    :math:`n = 1` there is no :math:`s` and no interval: ``std`` and ``half_width`` are ``None``.

    Non-finite values (NaN, ±inf) are refused with a ``ValueError`` naming their positions, never
    dropped silently: a seed that diverged is a result, and dropping it quietly would overstate both
    the mean and ``n``. A caller who decides to leave such seeds out filters them first and says so.
    """
    _check_confidence(confidence)
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"seed values must be one-dimensional, got shape {x.shape}")
    if x.size == 0:
        raise ValueError("seed_interval needs at least one value")
    bad = np.flatnonzero(~np.isfinite(x))
    if bad.size:
        raise ValueError(
            f"seed values at positions {bad.tolist()} are not finite ({x[bad].tolist()}); "
            "leave failed seeds out explicitly and report how many were left out"
        )
    n = int(x.size)
    mean = float(x.mean())
    if n == 1:
        return Interval(mean=mean, std=None, n=1, confidence=confidence, half_width=None)
    std = float(x.std(ddof=1))
    t = float(stats.t.ppf((1.0 + confidence) / 2.0, df=n - 1))
    return Interval(mean=mean, std=std, n=n, confidence=confidence, half_width=t * std / math.sqrt(n))


@dataclass(frozen=True)
class PairedTest:
    """The difference between two experiments on the same items: ``statistic(a) - statistic(b)``.

    ``low``/``high`` bound the difference at level ``confidence``; ``p_value`` tests "no difference".
    ``points`` marks a difference of proportions, which :meth:`describe` shows in percentage points.
    ``discordant`` (McNemar only) holds the counts (a right and b wrong, a wrong and b right).
    """

    test: str
    difference: float
    low: float
    high: float
    p_value: float
    n: int
    confidence: float
    points: bool = False
    discordant: tuple[int, int] | None = None

    @property
    def interval(self) -> tuple[float, float]:
        """``(low, high)``."""
        return (self.low, self.high)

    def significant(self, alpha: float = 0.05) -> bool:
        """Whether ``p_value <= alpha``, the rejection rule whose false-positive rate is at most ``alpha``.

        When several differences are judged together, use :func:`holm` instead.
        """
        return self.p_value <= alpha

    def describe(self, digits: int = 2) -> str:
        """E.g. ``"+1.20 pts [+0.40, +2.00], p = 0.003 (McNemar, n = 10000)"``."""
        scale, unit = (100.0, " pts") if self.points else (1.0, "")
        return (
            f"{_signed(self.difference * scale, digits)}{unit} "
            f"[{_signed(self.low * scale, digits)}, {_signed(self.high * scale, digits)}], "
            f"{_format_p(self.p_value)} ({self.test}, n = {self.n})"
        )


def _correctness(values: Sequence[bool] | np.ndarray, name: str) -> np.ndarray:
    """A 1-D boolean array from booleans or 0/1 values; anything else is refused."""
    x = np.asarray(values)
    if x.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional per-item correctness, got shape {x.shape}")
    if x.dtype != bool:
        if x.size and not np.isin(x, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans or 0/1, not scores")
        x = x.astype(bool)
    return x


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    r"""Wilson score interval for :math:`x` successes in :math:`n`.

    .. math:: \frac{x + z^2/2}{n + z^2} \pm \frac{z}{n + z^2}\sqrt{x(n-x)/n + z^2/4}
    """
    centre = (successes + z * z / 2.0) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(successes * (n - successes) / n + z * z / 4.0)
    return centre - half, centre + half


def mcnemar(
    correct_a: Sequence[bool] | np.ndarray,
    correct_b: Sequence[bool] | np.ndarray,
    confidence: float = 0.95,
) -> PairedTest:
    r"""Exact McNemar test and Newcombe interval for the accuracy difference of two models on the same items.

    Of :math:`n` items, :math:`b` are right for model a only and :math:`c` for model b only (the
    items both get right or both get wrong say nothing about which is better). Under "equal
    accuracy" each of the :math:`b + c` discordant items is equally likely to fall either way, so
    :math:`b \sim \mathrm{Binomial}(b + c, 1/2)` and the two-sided exact p-value is

    .. math:: p = \min\bigl(1,\; 2\,P[X \le \min(b, c)]\bigr),\quad X \sim \mathrm{Binomial}(b + c, 1/2)

    (``scipy.stats.binomtest``; :math:`p = 1` when :math:`b + c = 0`). The exact test is used
    rather than the mid-p variant: mid-p has more power but can exceed its nominal false-positive
    rate, and a headline "significant" must not overclaim; with thousands of test items the two
    differ only when :math:`b + c` is small.

    The difference is :math:`\mathrm{acc}_a - \mathrm{acc}_b = (b - c)/n`, with Newcombe's (1998)
    square-and-add interval for paired proportions, as given by Fagerland, Lydersen & Laake (2014):
    with Wilson intervals :math:`(l_1, u_1)` for :math:`p_1 = \mathrm{acc}_a` and :math:`(l_2, u_2)`
    for :math:`p_2 = \mathrm{acc}_b`, and :math:`\psi` the correlation of the two correctness
    indicators, :math:`A`/:math:`D` the both-right/both-wrong counts, with the numerator
    :math:`AD - bc` reduced by :math:`n/2` when positive (to 0 when below :math:`n/2`) and left as
    it is when negative,

    .. math::
        L = \Delta - \sqrt{(p_1 - l_1)^2 + (u_2 - p_2)^2 - 2\psi (p_1 - l_1)(u_2 - p_2)},\\
        U = \Delta + \sqrt{(p_2 - l_2)^2 + (u_1 - p_1)^2 - 2\psi (p_2 - l_2)(u_1 - p_1)}.

    Unlike the Wald interval it stays within [-1, 1] and does not collapse to a point when
    :math:`b + c` is small. Interval and exact test are separate procedures and can disagree at the
    edge of significance; ``significant()`` follows the p-value.
    """
    _check_confidence(confidence)
    a = _correctness(correct_a, "correct_a")
    b = _correctness(correct_b, "correct_b")
    if a.size != b.size:
        raise ValueError(
            f"McNemar compares the same items: correct_a has {a.size} items, correct_b has {b.size}"
        )
    n = int(a.size)
    if n == 0:
        raise ValueError("McNemar needs at least one item")
    only_a = int(np.count_nonzero(a & ~b))
    only_b = int(np.count_nonzero(~a & b))
    both = int(np.count_nonzero(a & b))
    neither = n - both - only_a - only_b
    discordant = only_a + only_b
    p_value = 1.0 if discordant == 0 else float(stats.binomtest(min(only_a, only_b), discordant, 0.5).pvalue)

    z = float(stats.norm.ppf((1.0 + confidence) / 2.0))
    right_a, right_b = both + only_a, both + only_b
    p1, p2 = right_a / n, right_b / n
    l1, u1 = _wilson(right_a, n, z)
    l2, u2 = _wilson(right_b, n, z)
    margins = right_a * (n - right_a) * right_b * (n - right_b)
    psi = 0.0
    if margins > 0:
        cross = both * neither - only_a * only_b
        if cross > n / 2:
            psi = (cross - n / 2) / math.sqrt(margins)
        elif cross < 0:
            psi = cross / math.sqrt(margins)
    difference = p1 - p2
    low = difference - math.sqrt(max(0.0, (p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * psi * (p1 - l1) * (u2 - p2)))
    high = difference + math.sqrt(max(0.0, (p2 - l2) ** 2 + (u1 - p1) ** 2 - 2 * psi * (p2 - l2) * (u1 - p1)))
    return PairedTest(
        test="McNemar",
        difference=difference,
        low=low,
        high=high,
        p_value=p_value,
        n=n,
        confidence=confidence,
        points=True,
        discordant=(only_a, only_b),
    )


def paired_bootstrap(
    statistic: Callable[..., float],
    a: ArrayLike,
    b: ArrayLike,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    weighted: bool = False,
) -> PairedTest:
    r"""Paired bootstrap of ``statistic(a) - statistic(b)`` over items both experiments share.

    ``a[i]`` and ``b[i]`` belong to the same test item ``i`` (axis 0; further axes are features,
    e.g. judge features for an FID computed against fixed real features). Each of the :math:`B`
    resamples draws item indices :math:`I = (i_1, \dots, i_n)` uniformly with replacement and uses
    the *same* :math:`I` for both experiments, so shared item difficulty cancels:

    .. math:: d^*_k = \mathrm{stat}(a[I_k]) - \mathrm{stat}(b[I_k]),\quad k = 1..B.

    The interval is the percentile interval, the :math:`(1-c)/2` and :math:`(1+c)/2` quantiles of
    :math:`d^*`. The two-sided p-value counts the resampled differences on the other side of zero
    from the observed :math:`\hat d` (zero itself included), with the +1 correction that keeps it
    away from an impossible 0:

    .. math:: p = \min\Bigl(1,\; 2\,\frac{1 + \#\{k : d^*_k \le 0\}}{B + 1}\Bigr)\ \text{for}\ \hat d > 0

    (mirrored for :math:`\hat d < 0`; :math:`p = 1` for :math:`\hat d = 0`). Up to the +1 it is
    the smallest level at which the percentile interval reaches zero, so the two agree on
    significance; it is never below :math:`2/(B + 1)`, so ``n_resamples`` bounds how small a
    p-value can be reported.

    With ``weighted``, the statistic is called as ``statistic(values, counts)`` with the items a resample
    drew and how many times it drew each (all items once for :math:`\hat d`) instead of on copies of the
    repeated items: the same resamples, without gathering ``n`` rows per resample, for statistics that
    take counts (means, sums, moments).

    Deterministic for a given ``seed`` (its own generator; the global numpy state is untouched).
    A statistic that returns a non-finite value on the data or on a resample is an error.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    x = np.asarray(a)
    y = np.asarray(b)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("a and b must have an item axis (axis 0)")
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"a paired bootstrap needs the same items: a has {x.shape[0]} items, b has {y.shape[0]}"
        )
    n = int(x.shape[0])
    if n == 0:
        raise ValueError("a paired bootstrap needs at least one item")

    def difference(index: np.ndarray | None) -> float:
        if not weighted:
            chosen = slice(None) if index is None else index
            value = float(statistic(x[chosen])) - float(statistic(y[chosen]))
        elif index is None:
            ones = np.ones(n, dtype=np.int64)
            value = float(statistic(x, ones)) - float(statistic(y, ones))
        else:
            drawn, counts = _drawn_counts(index, n)
            value = float(statistic(x[drawn], counts)) - float(statistic(y[drawn], counts))
        if not math.isfinite(value):
            raise ValueError(f"the statistic gave a non-finite difference ({value})")
        return value

    observed = difference(None)
    rng = np.random.default_rng(seed)
    resampled = np.array([difference(rng.integers(0, n, size=n)) for _ in range(n_resamples)])
    return _bootstrap_test(observed, resampled, n, confidence)


def paired_frechet_bootstrap(
    real: ArrayLike,
    generated: Mapping[str, tuple[ArrayLike, ArrayLike]],
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, PairedTest]:
    r""":func:`paired_bootstrap` of :math:`\mathrm{FID}(r, a) - \mathrm{FID}(r, b)` for several generated sets
    at once, each ``(a, b)`` ``[n, F]`` pair judged against the same real features ``r`` ``[n, F]`` (item i of
    every array is test item i).

    The resamples are :func:`paired_bootstrap`'s (the same ``seed`` draws the same items), so each result equals
    what that function gives for the set's ``[r | a]`` and ``[r | b]`` rows; here each resample's real moments
    and the square root of their covariance are computed once for every set and both experiments, and repeated
    items are counted rather than copied.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    features = np.asarray(real, dtype=np.float64)
    sets = {name: (np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
            for name, (a, b) in generated.items()}
    n = len(features)
    for name, (a, b) in sets.items():
        if a.shape != features.shape or b.shape != features.shape:
            raise ValueError(f"{name}: generated features {a.shape} and {b.shape} do not match the real {features.shape}")

    def differences(index: np.ndarray | None) -> dict[str, float]:
        drawn, counts = (slice(None), np.ones(n)) if index is None else _drawn_counts(index, n)
        mean, covariance = gaussian_moments(features[drawn], counts)
        root = covariance_root(covariance)
        values = {}
        for name, (a, b) in sets.items():
            value = (frechet_from_moments(mean, covariance, *gaussian_moments(a[drawn], counts), root)
                     - frechet_from_moments(mean, covariance, *gaussian_moments(b[drawn], counts), root))
            if not math.isfinite(value):
                raise ValueError(f"{name}: the Fréchet distance gave a non-finite difference ({value})")
            values[name] = value
        return values

    observed = differences(None)
    rng = np.random.default_rng(seed)
    draws = [differences(rng.integers(0, n, size=n)) for _ in range(n_resamples)]
    return {name: _bootstrap_test(observed[name], np.array([d[name] for d in draws]), n, confidence)
            for name in sets}


def _drawn_counts(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The items a resample ``index`` (draws from 0..n-1) drew at least once, and how many times each."""
    counted = np.bincount(index, minlength=n)
    drawn = np.flatnonzero(counted)
    return drawn, counted[drawn]


def _bootstrap_test(observed: float, resampled: np.ndarray, n: int, confidence: float) -> PairedTest:
    """The percentile interval and two-sided p-value of :func:`paired_bootstrap` from its resampled differences."""
    low, high = np.quantile(resampled, [(1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0])
    if observed > 0:
        other_side = int(np.count_nonzero(resampled <= 0))
    elif observed < 0:
        other_side = int(np.count_nonzero(resampled >= 0))
    else:
        other_side = len(resampled)
    p_value = min(1.0, 2.0 * (1 + other_side) / (len(resampled) + 1))
    return PairedTest(
        test="paired bootstrap",
        difference=observed,
        low=float(low),
        high=float(high),
        p_value=p_value,
        n=n,
        confidence=confidence,
    )


def holm(p_values: Mapping[str, float], alpha: float = 0.05) -> dict[str, bool]:
    r"""Holm-Bonferroni: which of :math:`m` differences stay significant when judged together.

    Sort the p-values :math:`p_{(1)} \le \dots \le p_{(m)}`; walk up from the smallest and declare
    :math:`p_{(k)}` significant while :math:`p_{(k)} \le \alpha / (m - k + 1)`, stopping at the first
    that fails (it and all larger ones are not significant). The chance of any false "significant"
    among the :math:`m` stays at most :math:`\alpha`, whatever the dependence between the tests,
    and it never declares fewer than plain Bonferroni (:math:`p \le \alpha/m`). Keys keep their
    order in the result.
    """
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    for name, p in p_values.items():
        if not 0.0 <= p <= 1.0:  # also refuses NaN
            raise ValueError(f"p-value {name!r} = {p} is not in [0, 1]")
    m = len(p_values)
    ordered = sorted(p_values, key=lambda name: p_values[name])
    significant = {name: False for name in p_values}
    for k, name in enumerate(ordered):
        if p_values[name] > alpha / (m - k):
            break
        significant[name] = True
    return significant


def pack_correct(mask: Sequence[bool] | np.ndarray) -> str:
    """Per-item correctness as text for JSON: base64 of ``np.packbits`` (one bit per item).

    10,000 items take 1,668 characters. The item count is not stored; keep it beside the text and
    pass it to :func:`unpack_correct`.
    """
    bits = _correctness(mask, "mask")
    return base64.b64encode(np.packbits(bits).tobytes()).decode("ascii")


def unpack_correct(text: str, n: int) -> np.ndarray:
    """The boolean array of ``n`` items that :func:`pack_correct` wrote.

    Refuses text of the wrong length for ``n`` or with bits set beyond item ``n`` (which is what a
    wrong ``n`` usually looks like), rather than returning a truncated or padded mask.
    """
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise ValueError(f"not base64 text: {error}") from None
    expected = (n + 7) // 8
    if len(raw) != expected:
        raise ValueError(f"{n} items need {expected} packed bytes, the text holds {len(raw)}")
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if bits[n:].any():
        raise ValueError(f"bits are set beyond item {n}: the text holds more than {n} items")
    return bits[:n].astype(bool)
