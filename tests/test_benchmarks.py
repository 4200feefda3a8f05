"""Smoke tests of the benchmarks: each script runs as a subprocess on a tiny budget (a few steps, the bundled
digits or a small subset of real data) and prints its tables (headers, numbers that parse, the targets) with
exit status 0; time_to_accuracy trains and judges without ever opening the test split. No timing is asserted:
the benchmarks print speed, they do not test it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, shared_dataset
from plugins import install_plugin

BENCHMARKS = REPO / "benchmarks"
NUMBER = re.compile(r"^-?\d+(\.\d+)?%?$")
Completed = subprocess.CompletedProcess[str]

SEALED_READER = '''
"""The bundled digits, whose test split cannot be opened: proves a benchmark never reads it."""

from remvae.core.registry import READERS
from remvae.playground.readers.bundled import BundledConfig


@READERS.register("sealed_digits", config=BundledConfig)
def build_sealed_digits(config, transform=None):
    """The bundled digits; opening their test split raises."""
    if config.split == "test":
        raise RuntimeError("sealed_digits: the test split was opened")
    return READERS.build("bundled_digits", config.model_dump(), transform=transform)
'''


def benchmark(script: str, *args: str, env: dict[str, str] | None = None) -> Completed:
    """Run ``benchmarks/<script>`` with ``args``; its output and exit status."""
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=300, env=env or {**os.environ, "OMP_NUM_THREADS": "1"})


def cells(line: str) -> list[str]:
    """A table line's cells (separated by two or more spaces)."""
    return re.split(r"\s{2,}", line.strip())


def table(output: str, first_column: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and the rows of the printed table whose header starts with ``first_column``."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first_column) and i + 1 < len(lines)
                 and set(lines[i + 1]) == {"-"})
    rows = []
    for line in lines[start + 2:]:
        if not line.strip():
            break
        rows.append(cells(line))
    return cells(lines[start]), rows


def numeric(cell: str) -> float:
    """A printed number (``12.3``, ``97.5%``), or an AssertionError naming the cell."""
    assert NUMBER.match(cell), f"not a number: {cell!r}"
    return float(cell.rstrip("%"))


def succeeded(result: Completed) -> str:
    """The output of a run that must have exited with status 0."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Path, Path, Completed]:
    """The ``sealed_digits`` plugin installed, a one-epoch quickstart args.json reading it, and time_to_accuracy's
    run of it into a kept run folder: ``(env, args, run_dir, result)``."""
    root = tmp_path_factory.mktemp("sealed")
    env = install_plugin(root / "site", "sealed_digits", SEALED_READER)
    args = json.loads((REPO / "experiments" / "quickstart" / "args.json").read_text(encoding="utf-8"))
    args["reader"] = {"name": "sealed_digits"}
    args["trainer"]["config"]["epochs"] = 1
    args["data"] = {"train_length": 1280}  # 10 steps of 128; all 400 validation pairs
    path = root / "args.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    run_dir = root / "run"
    result = benchmark("time_to_accuracy.py", "--args", str(path), "--run-dir", str(run_dir), "--threads", "1", env=env)
    return env, path, run_dir, result


def test_the_sealed_reader_gives_train_and_validation_but_refuses_test():
    from remvae.core.registry import READERS
    from remvae.experiment import read_split, test_data

    exec(compile(SEALED_READER, "sealed_digits", "exec"), {})  # registers it here, as the plugin does there
    try:
        assert len(read_split("sealed_digits", {}, "train")) == 3600
        assert len(read_split("sealed_digits", {}, "validation")) == 400
        with pytest.raises(RuntimeError, match="sealed_digits: the test split was opened"):
            test_data("sealed_digits", {})
    finally:
        READERS.unregister("sealed_digits")


def test_time_to_accuracy_judges_on_validation_and_never_opens_the_test_split(sealed):
    _, _, run_dir, result = sealed
    output = succeeded(result)
    assert "test split was opened" not in output + result.stderr
    assert "400 validation pairs judged per checkpoint" in output
    header, rows = table(output, "step")
    assert header == ["step", "epoch", "train s", "judge s", "train+judge s", "t2i sampled", "i2t sampled"]
    assert len(rows) == 1  # one epoch, one checkpoint
    step, epoch, train, judge, total, t2i, i2t = rows[0][:7]
    assert int(step) == 10 and numeric(epoch) == 1.0
    assert numeric(total) == pytest.approx(numeric(train) + numeric(judge), abs=0.151)  # three figures rounded to 0.1
    assert 0 <= numeric(t2i) <= 100 and 0 <= numeric(i2t) <= 100
    header, rows = table(output, "time to both >= 97%")
    assert header == ["time to both >= 97%", "train s", "target s", "verdict"]
    first = rows[0]
    assert first[0] == "this run, first reached" and first[2] == "45" and first[-1] in ("met", "missed")
    assert rows[-1][0] == "reference (issue 7, 2 threads)"
    assert len(list((run_dir / "checkpoints").glob("step-*"))) == 1 and (run_dir / "model.json").is_file()


def test_time_to_accuracy_refuses_a_run_dir_in_use(tmp_path):
    (tmp_path / "old.txt").write_text("an earlier run", encoding="utf-8")
    result = benchmark("time_to_accuracy.py", "--run-dir", str(tmp_path))
    assert result.returncode == 2
    assert result.stdout.splitlines() == [f"time_to_accuracy: --run-dir {tmp_path}: not empty; give a new or empty "
                                          "folder (the benchmark trains from scratch)"]


def test_diversity_ceiling_measures_on_validation(sealed):
    env, args, run_dir, result = sealed
    succeeded(result)
    output = succeeded(benchmark("diversity_ceiling.py", "--args", str(args), "--run-dir", str(run_dir),
                                 "--threads", "1", env=env))
    assert "400 validation pairs; target class FID < 16.44" in output
    header, rows = table(output, "latents decoded")
    assert header == ["latents decoded", "class FID", "judge accuracy", "vs target"]
    assert [row[0] for row in rows] == ["text posterior draws", "diagonal cover", "full-covariance cover",
                                        "image posterior draws"]
    for _, fid, accuracy, verdict in rows:
        assert numeric(fid) >= 0 and 0 <= numeric(accuracy) <= 100 and verdict in ("met", "missed")


def test_prior_grid_fits_each_candidate_and_judges_it_on_validation(sealed):
    """GMM sizes and the MAF fitted and judged without opening the test split (the sealed reader raises if it
    is); the chosen one has the highest validation log-likelihood among the fitted priors (a mixture's draws at a
    narrower spread are judged beside it, never chosen); every ratio is prior FID over recon FID."""
    env, args, run_dir, result = sealed
    succeeded(result)
    output = succeeded(benchmark("prior_grid.py", "--args", str(args), "--run-dir", str(run_dir),
                                 "--checkpoint", "last", "--components", "2", "1", "--scales", "0.5", "--flow",
                                 env=env))
    assert "judged on 400 validation pairs by mnist" in output and "test split was opened" not in output
    header, rows = table(output, "prior")
    assert header == ["prior", "val log-lik", "fit s", "prior FID", "recon FID", "prior / recon", "target",
                      "verdict"]
    assert [row[0].removesuffix(" (chosen)") for row in rows] == ["gmm 1", "gmm 1 x0.5", "gmm 2", "gmm 2 x0.5", "maf"]
    fitted = [row for row in rows if " x" not in row[0]]
    likelihoods = [numeric(row[1]) for row in fitted]
    assert [row[0].endswith("(chosen)") for row in fitted] == [x == max(likelihoods) for x in likelihoods]
    assert not any(row[0].endswith("(chosen)") for row in rows if " x" in row[0])
    for narrow, own in ((rows[1], rows[0]), (rows[3], rows[2])):  # the same fitted mixture, other draws
        assert narrow[1:3] == own[1:3] and narrow[3] != own[3]
    for _, _, seconds, prior_fid, recon_fid, ratio, target, verdict in rows:
        assert numeric(seconds) >= 0 and numeric(prior_fid) >= 0 and numeric(recon_fid) > 0 and target == "1.3"
        assert numeric(ratio) == pytest.approx(numeric(prior_fid) / numeric(recon_fid), abs=0.01)
        assert verdict == ("met" if numeric(ratio) <= 1.3 else "missed")


def test_transfer_grid_measures_each_strength_and_basis_on_validation(sealed):
    """Every (k, strength) measured without opening the test split; per k the marked strength is the largest whose
    validation content gap is at most 3 points (or the smallest when none is)."""
    env, args, run_dir, result = sealed
    succeeded(result)
    output = succeeded(benchmark("transfer_grid.py", "--args", str(args), "--run-dir", str(run_dir), "--checkpoint",
                                 "last", "--directions", "0", "2", "--strengths", "1.0", "0.5", "--limit", "100",
                                 "--basis-items", "200", env=env))
    assert "content basis from 200 training captions" in output and "100 transferred" in output
    assert "test split was opened" not in output
    header, rows = table(output, "directions k")
    assert header == ["directions k", "strength", "content gap", "style kept", "chosen", "target", "verdict"]
    assert [(row[0], row[1]) for row in rows] == [("0", "0.5"), ("0", "1"), ("2", "0.5"), ("2", "1")]
    for k in ("0", "2"):
        mine = [row for row in rows if row[0] == k]
        gaps = [numeric(row[2].removesuffix(" pts")) for row in mine]
        allowed = [float(row[1]) for row, gap in zip(mine, gaps) if gap <= 3.0]
        marked = [float(row[1]) for row in mine if len(row) > 4 and row[4].startswith("yes")]
        assert marked == [max(allowed) if allowed else 0.5]
    assert sum(len(row) > 4 and row[4] == "yes, all" for row in rows) == 1


def test_recipe_choice_judges_every_candidate_on_the_same_validation_items(sealed, tmp_path):
    """Candidates judged with their fitted priors without opening the test split; one run given twice scores the
    same (same items, same seed) and the first of equals is chosen; a candidate reading other data is refused."""
    env, sealed_args, _, _ = sealed
    run = tmp_path / "run"
    run.mkdir()
    args = run / "args.json"
    shutil.copy(sealed_args, args)
    for stage in (["generate", str(args)], ["train", str(run), "-q"], ["prior", str(run), "-q"]):  # before eval
        done = subprocess.run([sys.executable, "-m", "remvae.cli", *stage], capture_output=True, text=True,
                              timeout=300, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    output = succeeded(benchmark("recipe_choice.py", "--candidate", str(args), str(run), "--candidate", str(args),
                                 str(run), "--by", "prior_fid", "--limit", "200", env=env))
    assert "2 candidates judged on the same 200 validation pairs by mnist; chosen by prior_fid (lower" in output
    assert "test split was opened" not in output
    header, rows = table(output, "candidate")
    assert header == ["candidate", "checkpoint step", "prior", "text->image", "joint coherence", "recon FID",
                      "generation FID", "difference", "chosen"]
    assert rows[0][:8] == rows[1][:8] and [row[8:] for row in rows] == [["yes"], []]
    assert rows[0][2] == "gmm"  # the prior the run fitted draws the generation FID's images
    recon, generation, difference = (numeric(cell) for cell in rows[0][5:8])
    assert recon > 0 and difference == pytest.approx(generation - recon, abs=0.002)

    other = tmp_path / "other.json"
    other.write_text(json.dumps({**json.loads(args.read_text()), "data": {"train_length": 640}}), encoding="utf-8")
    refused = benchmark("recipe_choice.py", "--candidate", str(args), str(run), "--candidate", str(other), str(run),
                        env=env)
    assert refused.returncode == 2 and f"{other}: reads other data or another judge" in refused.stdout


def test_compare_speed_times_both_bootstraps_and_checks_they_agree():
    output = succeeded(benchmark("compare_speed.py", "--items", "400", "--features", "8", "--sets", "2",
                                 "--resamples", "3"))
    assert "2 FIDs of 400 pooled pairs x 8 features, 3 resamples" in output and "same intervals: yes" in output
    header, rows = table(output, "bootstrap")
    assert header == ["bootstrap", "seconds", "s / resample", "speed-up", "target", "verdict"]
    assert [row[0] for row in rows] == ["per metric", "shared"]
    shared = rows[1]
    assert numeric(shared[3]) > 0 and shared[5] == ("met" if numeric(shared[3]) >= 2 else "missed")
    refused = benchmark("compare_speed.py", "--items", "1")
    assert refused.returncode == 2 and refused.stdout.startswith("compare_speed: --items must be at least 2")


def test_train_throughput_prints_remvae_beside_the_baseline_and_a_profile(tmp_path):
    profile = tmp_path / "profile.txt"
    no_data = tmp_path / "no-data"  # no MNIST there: the bundled digits stand in
    no_data.mkdir()
    output = succeeded(benchmark("train_throughput.py", "--experiments", "reference_mnist_gru",
                                 "--steps", "2", "--warmup", "1", "--blocks", "1", "--threads", "1",
                                 "--data", str(no_data), "--profile", str(profile)))
    assert "baseline: plain PyTorch step of the reference architecture, batch 32" in output
    assert re.search(r"matmul throughput: \d+\.\d GFLOP/s", output)
    header, rows = table(output, "experiment")
    assert header[:8] == ["experiment", "batch", "samples/s", "baseline/s", "x base", "range", "goal", "x ref"]
    assert header[8:] == ["ms data", "ms fwd", "ms bwd", "ms opt", "GFLOP", "GFLOP/s", "of peak"]
    assert [row[0] for row in rows] == ["reference_mnist_gru"]
    for row in rows:
        assert len(row) == len(header)
        low, high = (numeric(value) for value in row[5].split("-"))
        assert 0 < low <= numeric(row[4]) <= high
        assert all(numeric(cell) >= 0 for cell in row[2:5] + row[7:])
    assert rows[0][6] == ">= 940"
    assert "x base: median of the per-round ratios" in output
    _, phases = table(output, "phase")
    assert [row[0] for row in phases] == ["data", "forward", "backward", "optimizer", "epoch end", "judging", "total"]
    assert phases[-1][2] == "100.0%"
    written = profile.read_text(encoding="utf-8")
    assert "remvae fit: 1 + 2 steps" in written and "baseline: 1 + 2 steps" in written
    assert "aten::convolution_backward" in written and output.count("Self CPU time total") == 2


def test_eval_speed_on_real_mnist():
    root = shared_dataset("MNIST")
    output = succeeded(benchmark("eval_speed.py", "--limit", "200", "--threads", "1",
                                 env={**os.environ, "REMVAE_DATA": str(root), "OMP_NUM_THREADS": "1"}))
    assert "200 mnist training pairs" in output
    header, rows = table(output, "evaluator")
    assert header == ["evaluator", "seconds"]
    assert [row[0] for row in rows] == ["cross_modal", "reconstruction", "latent", "perplexity", "caption_validity",
                                        "judge_fid", "caption_perplexity"]
    assert all(numeric(seconds) >= 0 for _, seconds in rows)
    header, rows = table(output, "total (n = 200)")
    assert header == ["total (n = 200)", "seconds", "target", "met"]
    assert [(row[0], row[2]) for row in rows] == [("cross_modal + reconstruction + latent", "120"),
                                                  ("all offline evaluators", "300")]


def test_gpu_check_runs_on_cuda_or_says_why_it_skipped():
    result = benchmark("gpu_check.py", "--steps", "2", "--warmup", "1")
    output = succeeded(result)
    if not torch.cuda.is_available():
        assert len(output.splitlines()) == 1
        assert re.fullmatch(r"gpu_check: skipped: torch \S+ (is built without CUDA|\(CUDA \S+\) sees no CUDA device)",
                            output.strip())
        return
    header, rows = table(output, "experiment")
    assert header == ["experiment", "precision", "compile", "batch", "samples/s", "loss finite", "last loss",
                      "peak MiB", "wall s"]
    assert [(row[0], row[1]) for row in rows] == [(name, precision) for name in ("quickstart", "reference_mnist_gru")
                                                  for precision in ("bf16", "fp16")]
    for row in rows:
        assert row[5] == "yes" and numeric(row[4]) > 0 and numeric(row[7]) > 0


def test_the_data_root_is_REMVAE_DATA_else_shared_data_beside_the_checkout(tmp_path):
    probe = "import data_root; print(data_root.default_data_root())"
    environment = {k: v for k, v in os.environ.items() if k != "REMVAE_DATA"}
    run = lambda env: subprocess.run([sys.executable, "-c", probe], cwd=BENCHMARKS, env=env,  # noqa: E731
                                     capture_output=True, text=True, timeout=60).stdout.strip()
    assert run({**environment, "REMVAE_DATA": str(tmp_path)}) == str(tmp_path)
    beside = REPO.parent / "shared" / "data"
    assert run(environment) == (str(beside) if beside.is_dir() else "None")
