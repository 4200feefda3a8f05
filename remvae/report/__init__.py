"""Figures, the PDF report and run comparisons.

* :func:`visualize` draws a run's figures into ``<run>/figures/`` (and ``figures.json``, which says
  which were written and why any is missing);
* :func:`write_report` assembles ``<run>/report.pdf`` from the run folder's files, results first (the
  report of an experiment repeated over seeds aggregates its seed runs);
* :func:`compare` writes ``comparison.pdf``, ``comparison.md`` and their PNGs comparing several runs or
  seed parents into a folder (:func:`default_output` names a new one beside the first run).

The figure functions themselves (:mod:`remvae.report.figures`) take plain tensors, lists and
records, so they serve notebooks and benchmarks as well.
"""

from remvae.report.compare import compare, default_output
from remvae.report.pdf import write_report
from remvae.report.visualize import VisualOptions, visualize

__all__ = ["VisualOptions", "compare", "default_output", "visualize", "write_report"]
