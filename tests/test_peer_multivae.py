"""The MultiVae peer benchmark (benchmarks/peer_multivae.py, the ``[peers]`` extra).

* The benchmark runs end to end as a subprocess on a tiny budget (bundled digits, tiny networks, one epoch, a few
  test items) and prints its two tables: one row per model (remvae's aligned pair, MultiVae's JMVAE, MoPoE, MMVAE+),
  with finite numbers in range, the split, N and the judge; ``--out`` writes the same rows as JSON.
* The adapter that lets remvae's evaluators read a MultiVae model gives, for each family and modality, the latent
  MultiVae's own ``encode(..., return_mean=True)`` gives, and decodes it as MultiVae's own ``decode`` does.

MultiVae comes with the ``test`` extra; without it both fail under CI and are skipped elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, missing, tiny_args
from test_benchmarks import cells, numeric, succeeded, table

BENCHMARKS = REPO / "benchmarks"
MODELS = ["remvae aligned", "MultiVae JMVAE", "MultiVae MoPoE", "MultiVae MMVAE+"]
PERCENT_COLUMNS = ("t2i acc", "i2t acc", "joint coh.")


def needs_multivae() -> None:
    try:
        import multivae  # noqa: F401
    except ImportError:
        missing("multivae is not installed (pip install -e '.[peers]')")


def tiny_experiment(folder: Path) -> Path:
    """A one-epoch experiment on a few hundred bundled digits with tiny networks."""
    args = tiny_args(name="tiny_peers", data={"train_length": 320, "validation_length": 100, "test_length": 200})
    args["text"]["config"]["max_length"] = 8
    args["trainer"] = {"name": "simple", "config": {"epochs": 1, "batch_size": 64}}
    path = folder / "args.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def benchmarked(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """One tiny run of the benchmark: its printed output and its ``--out`` file."""
    needs_multivae()
    folder = tmp_path_factory.mktemp("peers")
    out = folder / "peers.json"
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "peer_multivae.py"), "--args", str(tiny_experiment(folder)),
         "--epochs", "1", "--limit", "40", "--mmvae-k", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=False,
    )
    return succeeded(result), out


def test_benchmark_prints_every_model_scored_by_the_same_evaluators(benchmarked: tuple[str, Path]) -> None:
    output, out = benchmarked
    assert "split test (read once, after training), N = 40 of 200 test pairs, judge mnist" in output
    assert "MultiVae reads captions as one-hot arrays" in output

    header, rows = table(output, "data set")
    assert header[:3] == ["data set", "model", "text input"] and header[-1] == "gen/recon"
    assert [row[1] for row in rows] == MODELS
    for row in rows:
        assert len(row) == len(header), row
        values = dict(zip(header, row))
        assert values["data set"] == "bundled_digits" and values["epochs"] == "1" and values["batch"] == "64"
        expected_text = "tokens, gru" if row[1].startswith("remvae") else "one-hot 7x"  # max_length 8 - <bos>
        assert values["text input"].startswith(expected_text), row
        assert numeric(values["wall s"]) >= 0
        for column in PERCENT_COLUMNS:
            assert values[column].endswith("%") and 0.0 <= numeric(values[column]) <= 100.0, (column, row)
        for column in ("gen FID", "recon FID", "gen/recon"):
            assert math.isfinite(numeric(values[column])) and numeric(values[column]) >= 0.0, (column, row)

    # the second table divides every row by the remvae row of its data set
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("data set") and "wall s x" in line)
    ratio_rows = [cells(line) for line in lines[start + 2 : start + 2 + len(MODELS)]]
    assert [row[1] for row in ratio_rows] == MODELS
    assert all(cell in ("1.00", "n/a") for cell in ratio_rows[0][2:])
    assert all(cell == "n/a" or math.isfinite(numeric(cell)) for row in ratio_rows for cell in row[2:])

    document = json.loads(out.read_text(encoding="utf-8"))
    (dataset,) = document["datasets"]
    assert dataset["split"] == "test" and dataset["n"] == 40 and dataset["judge"]["name"] == "mnist"
    assert [r["model"] for r in dataset["rows"]] == MODELS
    for row in dataset["rows"]:
        for key in ("text_to_image", "image_to_text", "joint_coherence"):
            assert 0.0 <= row[key] <= 1.0
        assert math.isfinite(row["prior_fid"]) and math.isfinite(row["reconstruction_fid"])
        assert row["epochs"] == 1 and row["batch_size"] == 64
    assert document["versions"]["multivae"]


def test_adapter_reads_multivae_models_as_multivae_does() -> None:
    needs_multivae()
    sys.path.insert(0, str(BENCHMARKS))
    from multivae.data.datasets.base import MultimodalBaseDataset
    from peer_adapter import (
        FAMILIES,
        PeerModel,
        PeerSettings,
        build_peer,
        library_encoding,
        multivae_dataset,
    )

    from remvae.args import load_experiment
    from remvae.experiment import fit_tokenizer, read_split

    experiment = load_experiment(REPO / "experiments" / "quickstart" / "args.json")
    items = read_split("bundled_digits", {}, "validation", 24)
    tokenizer = fit_tokenizer(read_split("bundled_digits", {}, "train", 200))
    max_length = 10
    data = multivae_dataset(items, tokenizer, max_length).data
    captions = tokenizer.encode_batch(items.captions, max_length)
    for family in FAMILIES:
        model = build_peer(family, experiment, tokenizer, PeerSettings(epochs=1, batch_size=8, mmvae_k=2))
        if family == "mmvae_plus":  # a prior that is not N(0, 1), so the private latents' layout is tested
            with torch.no_grad():
                model.mean_priors["shared"].normal_()
                model.logvars_priors["shared"].normal_()
        peer = PeerModel(model, family, tokenizer, max_length)
        with torch.no_grad():
            for modality, inputs in (("image", data["image"]), ("text", captions)):
                ours = peer.encode(modality, inputs).mean
                theirs = library_encoding(model, family, data, modality)
                assert ours.shape == (len(items), peer.latent_dim)
                torch.testing.assert_close(ours, theirs, msg=f"{family} {modality}")
            if family != "mmvae_plus":  # MultiVae's predict: decode the caption's posterior mean to an image
                predicted = model.predict(MultimodalBaseDataset(data=data), cond_mod="text", gen_mod="image",
                                          return_mean=True)["image"]
                torch.testing.assert_close(peer.decode_logits("image", peer.encode("text", captions).mean), predicted)
            draws = peer.prior().sample(5, torch.Generator().manual_seed(0))
            assert draws.shape == (5, peer.latent_dim) and torch.isfinite(peer.prior().log_prob(draws)).all()
            ids = peer.decode("text", draws)
            assert ids.shape == (5, max_length - 1) and int(ids.max()) < tokenizer.vocab_size
            images = peer.decode("image", draws)
            assert images.shape == (5, 1, 28, 28) and 0.0 <= float(images.min()) <= float(images.max()) <= 1.0


def seed_file(folder: Path, source: Path, seed: int, values: dict[tuple[str, str], float], **budget: int) -> Path:
    """A copy of the benchmark's ``--out`` file as seed ``seed``, with ``{(model, key): value}`` set."""
    document = json.loads(source.read_text(encoding="utf-8"))
    document.update(seed=seed, **budget)
    for row in document["datasets"][0]["rows"]:
        for (model, key), value in values.items():
            if row["model"] == model:
                row[key] = value
    path = folder / f"seed{seed}_{len(list(folder.iterdir()))}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def combine(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCHMARKS / "peer_seeds.py"), *map(str, paths)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_seeds_combine_into_intervals_and_a_verdict_against_the_best_peer(
    benchmarked: tuple[str, Path], tmp_path: Path
) -> None:
    _, out = benchmarked
    files = [seed_file(tmp_path, out, seed, {("remvae aligned", "text_to_image"): t2i,
                                             ("remvae aligned", "joint_coherence"): 0.5,
                                             ("MultiVae JMVAE", "joint_coherence"): 0.9,
                                             ("MultiVae MoPoE", "joint_coherence"): 0.2,
                                             ("MultiVae MMVAE+", "joint_coherence"): 0.1})
             for seed, t2i in ((0, 0.90), (1, 0.92), (2, 0.94))]
    output = succeeded(combine(*files))
    assert "bundled_digits: seeds 0, 1, 2; budget {'epochs': 1, 'limit': 40}; split test, N = 40 of 200" in output

    header, rows = table(output, "data set")
    assert header[:3] == ["data set", "model", "seeds"] and [row[1] for row in rows] == MODELS
    assert all(row[2] == "3" for row in rows)
    # 92% ± t(0.975, 2) * 2% / sqrt(3) = 4.97 points
    assert dict(zip(header, rows[0]))["t2i acc"] == "92.0 ± 5.0%"

    header, verdicts = table(output.split("best family, per quality column")[1], "data set")
    joint = next(dict(zip(header, row)) for row in verdicts if row[1] == "joint coh.")
    assert (joint["best peer"], joint["remvae ≥ best"], joint["intervals"]) == ("MultiVae JMVAE", "no", "apart")
    assert {row[1] for row in verdicts} == {"t2i acc", "i2t acc", "joint coh.", "gen/recon"}


def test_seeds_refuse_files_that_do_not_belong_together(benchmarked: tuple[str, Path], tmp_path: Path) -> None:
    _, out = benchmarked
    first = seed_file(tmp_path, out, 0, {})
    cases = [
        ((first, seed_file(tmp_path, out, 0, {})), "seed 0 of bundled_digits was already read from"),
        ((first, seed_file(tmp_path, out, 1, {}, epochs=2)), "same budget needed"),
        ((first, REPO / "pyproject.toml"), "pyproject.toml: not JSON"),
        ((first, REPO / "experiments" / "quickstart" / "args.json"), "args.json: not a peer_multivae.py --out file"),
        ((tmp_path / "absent.json",), "absent.json: not found"),
    ]
    for paths, message in cases:
        result = combine(*paths)
        assert result.returncode == 2 and result.stderr == "", (message, result.stderr)
        (line,) = result.stdout.splitlines()
        assert line.startswith("peer_seeds: ") and message in line, line
