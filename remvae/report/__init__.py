"""Figures, the PDF report and run comparisons.

* :func:`visualize` draws a run's figures into ``<run>/figures/`` (and ``figures.json``, which says
  which were written and why any is missing);
* :func:`write_report` assembles ``<run>/report.pdf`` from the run folder's files;
* :func:`compare` writes one PDF (and a Markdown table beside it) comparing several runs.

The figure functions themselves (:mod:`remvae.report.figures`) take plain tensors, lists and
records, so they serve notebooks and benchmarks as well.
"""

from remvae.report.compare import compare
from remvae.report.pdf import write_report
from remvae.report.visualize import VisualOptions, visualize

__all__ = ["VisualOptions", "compare", "visualize", "write_report"]
