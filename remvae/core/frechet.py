r"""The Fréchet distance between two feature sets (FID on whatever features they are), in numpy: the one
implementation the evaluators and the paired bootstrap of ``remvae compare`` (which recomputes it for every
resample) share.

.. math:: \mathrm{FID} = \lVert \mu_r - \mu_g \rVert^2 + \mathrm{tr}\,S_r + \mathrm{tr}\,S_g
          - 2\,\mathrm{tr}\bigl((S_r S_g)^{1/2}\bigr)

with the means and unbiased covariances of the two sets. The trace term is the sum of the square roots
of the eigenvalues of :math:`S_r S_g`. With :math:`n` items in each set and centred features
:math:`X_r, X_g` (:math:`n \times F`), :math:`S_r S_g = X_r^\top (X_r X_g^\top) X_g / (n-1)^2` has the same
non-zero eigenvalues as :math:`K K^\top`, :math:`K = X_r X_g^\top / (n - 1)`, so for :math:`n \le F` the
trace term is the sum of the singular values of the :math:`n \times n` matrix :math:`K`; otherwise it is
computed from :math:`F \times F` symmetric eigendecompositions, :math:`S_r^{1/2} S_g S_r^{1/2}` having the
eigenvalues of :math:`S_r S_g`.

A bootstrap resample repeats items; :func:`gaussian_moments` takes each row's count instead of copies of the
rows (the mean :math:`\sum_i c_i x_i / n` and covariance :math:`(\sum_i c_i x_i x_i^\top - n \mu\mu^\top) / (n-1)`
with :math:`n = \sum_i c_i`, the moments of the repeated rows), and :func:`frechet_from_moments` finishes the
distance from two such pairs.
"""

from __future__ import annotations

import numpy as np


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets ``[N, F]`` and ``[M, F]`` (at least 2 items each), in float64."""
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"FID needs at least 2 items per set, got {len(x)} and {len(y)}")
    if len(x) != len(y) or len(x) > x.shape[1]:
        return frechet_from_moments(*gaussian_moments(x), *gaussian_moments(y))
    mean_x, mean_y = x.mean(0), y.mean(0)
    cx, cy = x - mean_x, y - mean_y
    trace_x = float(np.einsum("ij,ij->", cx, cx)) / (len(x) - 1)
    trace_y = float(np.einsum("ij,ij->", cy, cy)) / (len(y) - 1)
    trace_sqrt = float(np.linalg.svd(cx @ cy.T / (len(x) - 1), compute_uv=False).sum())
    distance = float(np.square(mean_x - mean_y).sum()) + trace_x + trace_y - 2.0 * trace_sqrt
    return max(distance, 0.0)


def gaussian_moments(features: np.ndarray, counts: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[F]`` and unbiased covariance ``[F, F]`` (float64) of ``features`` ``[N, F]``, row i counted
    ``counts[i]`` times (once without counts); the counts must sum to at least 2."""
    x = np.asarray(features, dtype=np.float64)
    weights = np.ones(len(x)) if counts is None else np.asarray(counts, dtype=np.float64)
    total = float(weights.sum())
    if total < 2:
        raise ValueError(f"FID needs at least 2 items per set, got {total:g}")
    mean = weights @ x / total
    covariance = ((x * weights[:, None]).T @ x - total * np.outer(mean, mean)) / (total - 1)
    return mean, covariance


def covariance_root(covariance: np.ndarray) -> np.ndarray:
    """The symmetric square root ``[F, F]`` of a covariance (negative rounding-error eigenvalues taken as 0)."""
    values, vectors = np.linalg.eigh(covariance)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_from_moments(
    mean_x: np.ndarray, cov_x: np.ndarray, mean_y: np.ndarray, cov_y: np.ndarray, root_x: np.ndarray | None = None
) -> float:
    """FID between two Gaussians given by their means ``[F]`` and covariances ``[F, F]`` (``root_x``: the square
    root of ``cov_x`` when already known, see :func:`covariance_root`)."""
    root = covariance_root(cov_x) if root_x is None else root_x
    middle = root @ cov_y @ root
    trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())
    distance = float(np.square(mean_x - mean_y).sum()) + float(np.trace(cov_x) + np.trace(cov_y)) - 2.0 * trace_sqrt
    return max(distance, 0.0)
