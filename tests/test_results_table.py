"""tools/results_table.py: RESULTS.md's tables from seed parents (mean ± 95% Student-t interval over seeds)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import results_table  # noqa: E402

JUDGE = {"name": "mnist", "accuracy": 0.996, "test_accuracy": 0.996}


def seed_parent(folder: Path, values: list[tuple[float, float, float]]) -> Path:
    """A seed parent whose seed k has text→image accuracy, reconstruction FID and prior FID ``values[k]``."""
    for seed, (accuracy, recon, prior) in enumerate(values):
        metrics = folder / "seeds" / f"seed-{seed}" / "metrics"
        metrics.mkdir(parents=True)
        entries = {
            "cross_modal": {"split": "test", "n": 10000, "judge": JUDGE, "metrics": {"text_to_image_top1": accuracy}},
            "judge_fid": {"split": "test", "n": 10000, "judge": JUDGE,
                          "metrics": {"reconstruction_fid": recon, "prior_fid": prior}},
        }
        (metrics / "eval.json").write_text(json.dumps({"evaluators": entries}), encoding="utf-8")
    return folder


def test_rows_give_the_mean_and_the_t_interval_over_seeds(tmp_path, capsys):
    run = seed_parent(tmp_path / "mnist_gru", [(0.98, 1.0, 2.0), (0.99, 1.0, 3.0), (1.0, 1.0, 4.0)])
    assert results_table.main([str(run), "--columns", "families"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    row = dict(zip(header, (cell.strip() for cell in lines[2].strip("|").split("|"))))
    # sd 0.01 over 3 seeds: half-width t(0.975, 2) * 0.01 / sqrt(3) = 4.303 * 0.005774 = 0.02484
    assert row["text→image mean"] == "99.0 ± 2.5%" and row["seeds"] == "3"
    assert row["prior ÷ recon"] == "3.0 ± 2.5"  # the ratio is taken per seed, then averaged
    assert "joint coherence" not in header  # no seed measured it
    assert "cross_modal: split test, N = 10000 per seed, judge mnist" in lines[-1]


def test_a_run_without_evaluations_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no metrics/eval.json"):
        results_table.main([str(tmp_path / "empty")])


def test_celeba_rows_set_joint_coherence_beside_the_same_share_for_text_to_image(tmp_path, capsys):
    for seed, (joint, recall) in enumerate([(0.58, 0.62), (0.60, 0.61), (0.56, 0.63)]):
        metrics = tmp_path / "celeba_gru" / "seeds" / f"seed-{seed}" / "metrics"
        metrics.mkdir(parents=True)
        entry = {"split": "test", "n": 1000, "judge": JUDGE,
                 "metrics": {"joint_coherence": joint, "text_to_image_recall_micro": recall}}
        (metrics / "eval.json").write_text(json.dumps({"evaluators": {"cross_modal": entry}}), encoding="utf-8")
    assert results_table.main([str(tmp_path / "celeba_gru"), "--columns", "celeba"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    row = dict(zip(header, (cell.strip() for cell in lines[2].strip("|").split("|"))))
    assert row["joint coherence"] == "58.0 ± 5.0%" and row["text→image named attributes seen"] == "62.0 ± 2.5%"
    # per seed -0.04, -0.01, -0.07: mean -0.04, sd 0.03, half-width 4.303 * 0.03 / sqrt(3) = 0.0745
    assert row["joint − text→image"] == "-4.0 ± 7.5%"
