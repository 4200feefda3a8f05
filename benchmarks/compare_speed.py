"""How long ``remvae compare`` spends on its paired FID bootstraps, against one bootstrap per FID metric.

    python benchmarks/compare_speed.py [--items 30000] [--features 128] [--sets 5] [--resamples 20] [--threads 1]

A comparison of two 3-seed MNIST experiments pools 30,000 (item, seed) pairs and bootstraps five judge-feature
FIDs (text→image twice, reconstruction, prior and text→image of ``judge_fid``), each against the same real test
features: 128 judge features, stored as float16. This benchmark builds features of that shape (seeded Gaussian
draws; the time depends on the shapes, not the values) and times, side by side on the same machine:

* per metric: one :func:`paired_bootstrap` for each FID (counted rows, each resample's real moments computed
  for every metric and both runs), as ``remvae compare`` does for an FID whose real features differ between runs;
* shared: :func:`paired_frechet_bootstrap` for all of them, each resample's real moments computed once, as
  ``remvae compare`` does when the runs judged the same real images.

Both use the same resamples, and the benchmark checks they give the same intervals. The target: the shared
bootstrap at least twice as fast. ``remvae compare`` draws 1,000 resamples; time scales linearly with them.
"""

from __future__ import annotations

import common  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)

import argparse
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from common import Table, refuse
from remvae.report.paired import _frechet
from remvae.report.statistics import paired_bootstrap, paired_frechet_bootstrap

SCRIPT = "compare_speed"
TARGET_SPEEDUP = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000, help="pooled (item, seed) pairs (default 30,000)")
    parser.add_argument("--features", type=int, default=128, help="judge features per image (default 128)")
    parser.add_argument("--sets", type=int, default=5, help="FID metrics against the same real features (default 5)")
    parser.add_argument("--resamples", type=int, default=20, help="bootstrap resamples timed (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1, as remvae compare uses)")
    options = parser.parse_args()
    if min(options.items, options.features, options.sets, options.resamples, options.threads) < 1 or options.items < 2:
        return refuse(SCRIPT, "--items must be at least 2 and every other option at least 1")
    generator = np.random.default_rng(0)

    def features(scale: float, shift: float) -> np.ndarray:
        drawn = generator.normal(shift, scale, size=(options.items, options.features))
        return drawn.astype(np.float16).astype(np.float64)

    real = features(1.0, 0.0)
    sets = {f"set {i}": (features(0.9, 0.05 * i), features(1.1, -0.05 * i)) for i in range(options.sets)}
    with threadpool_limits(options.threads):
        start = time.perf_counter()
        separate = {name: paired_bootstrap(_frechet, np.concatenate([real, a], 1), np.concatenate([real, b], 1),
                                           n_resamples=options.resamples, weighted=True)
                    for name, (a, b) in sets.items()}
        per_metric = time.perf_counter() - start
        start = time.perf_counter()
        shared = paired_frechet_bootstrap(real, sets, n_resamples=options.resamples)
        together = time.perf_counter() - start
    same = all(np.allclose(separate[name].interval, shared[name].interval, rtol=1e-9, atol=1e-12) for name in sets)
    print(f"{options.sets} FIDs of {options.items:,} pooled pairs x {options.features} features, {options.resamples} "
          f"resamples, {options.threads} BLAS thread(s); same intervals: {'yes' if same else 'NO'}")
    table = Table([("bootstrap", 10), ("seconds", 8), ("s / resample", 12), ("speed-up", 8), ("target", 6),
                   ("verdict", 7)])
    table.print_header()
    table.print_row("per metric", f"{per_metric:.2f}", f"{per_metric / options.resamples:.3f}", "1.00", "", "")
    speedup = per_metric / together
    table.print_row("shared", f"{together:.2f}", f"{together / options.resamples:.3f}", f"{speedup:.2f}",
                    f"{TARGET_SPEEDUP:g}", "met" if speedup >= TARGET_SPEEDUP else "missed")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
