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
"""

from __future__ import annotations

import numpy as np


def frechet_distance(real: np.ndarray, fake: np.ndarray) -> float:
    """FID between two feature sets ``[N, F]`` and ``[M, F]`` (at least 2 items each), in float64."""
    x, y = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"FID needs at least 2 items per set, got {len(x)} and {len(y)}")
    mean_x, mean_y = x.mean(0), y.mean(0)
    cx, cy = x - mean_x, y - mean_y
    trace_x = float(np.einsum("ij,ij->", cx, cx)) / (len(x) - 1)
    trace_y = float(np.einsum("ij,ij->", cy, cy)) / (len(y) - 1)
    if len(x) == len(y) and len(x) <= x.shape[1]:
        trace_sqrt = float(np.linalg.svd(cx @ cy.T / (len(x) - 1), compute_uv=False).sum())
    else:
        cov_x, cov_y = cx.T @ cx / (len(x) - 1), cy.T @ cy / (len(y) - 1)
        values, vectors = np.linalg.eigh(cov_x)
        root = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
        middle = root @ cov_y @ root
        trace_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum())
    distance = float(np.square(mean_x - mean_y).sum()) + trace_x + trace_y - 2.0 * trace_sqrt
    return max(distance, 0.0)
