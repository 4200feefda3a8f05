"""Single-modality runs end to end: a text VAE alone on a caption file and an image VAE alone on digits train,
fit their prior, evaluate with the evaluators that apply, report and reload; mismatches are refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from conftest import REPO, tiny_args

import remvae
from remvae.cli import main

sys.path.insert(0, str(REPO / "tools"))
from make_face_captions import captions  # noqa: E402


def run_experiment(folder: Path, args: dict) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.json").write_text(json.dumps(args), encoding="utf-8")
    assert main(["run", str(folder / "args.json"), "--quiet"]) == 0
    assert (folder / "report.pdf").stat().st_size > 1000
    return json.loads((folder / "metrics" / "eval.json").read_text())["evaluators"]


def test_a_text_vae_alone_trains_evaluates_reports_and_samples_sentences(tmp_path):
    (tmp_path / "captions.txt").write_text("".join(f"{c}\n" for c in captions(600)), encoding="utf-8")
    args = {
        "name": "text alone", "seed": 0, "latent_dim": 8,
        "reader": {"name": "text_file", "config": {"path": "captions.txt"}},
        "model": {"name": "text_vae"},
        "text": {"name": "gru", "config": {"hidden_dim": 32, "max_length": 20, "word_dropout": 0.2}},
        "trainer": {"name": "annealing", "config": {"epochs": 2, "batch_size": 32, "quiet": True}},
        "prior": {"name": "gmm", "config": {"components": [1, 2]}},
        "evaluators": [{"name": "reconstruction"}, {"name": "perplexity", "config": {"k": 2}},
                       {"name": "caption_perplexity", "config": {"lm": "celeba_lm"}}],
    }
    results = run_experiment(tmp_path, args)
    assert set(results["reconstruction"]["metrics"]) == {"text_token_accuracy", "text_exact_match"}
    assert results["perplexity"]["metrics"]["perplexity"] > 1
    assert results["caption_perplexity"]["metrics"]["original_perplexity"] < 10  # the face grammar's own LM
    assert results["reconstruction"]["n"] == 60  # the fixed 10% test share of 600 sentences
    model = remvae.load(tmp_path)
    assert model.modalities == ("text",) and model.model.prior().name == "gmm"
    samples = model.sample(3)
    assert len(samples.texts) == 3 and all(isinstance(t, str) for t in samples.texts) and samples.images.numel() == 0


def test_an_image_vae_alone_trains_evaluates_reports_and_samples_images(tmp_path):
    args = tiny_args(
        model={"name": "image_vae"}, text=None,
        trainer={"name": "annealing", "config": {"epochs": 2, "batch_size": 64, "quiet": True}},
        data={"train_length": 512, "test_length": 100},
        prior={"name": "gmm", "config": {"components": [1, 3]}},
        evaluators=[{"name": "reconstruction"}, {"name": "judge_fid", "config": {"sets": ["reconstruction", "prior"]}}],
    )
    del args["text"]
    results = run_experiment(tmp_path, args)
    assert set(results["reconstruction"]["metrics"]) == {"image_mse", "image_bce", "image_psnr", "image_ssim"}
    assert results["judge_fid"]["metrics"]["prior_fid"] > 0 and results["judge_fid"]["judge"]["name"] == "mnist"
    model = remvae.load(tmp_path)
    assert model.modalities == ("image",)
    samples = model.sample(4)
    assert samples.images.shape == (4, 1, 28, 28) and samples.texts == []
    assert torch.isfinite(model.reconstruct_image(torch.rand(2, 1, 28, 28))).all()


def test_a_reader_or_evaluator_that_does_not_fit_the_family_is_refused(tmp_path, capsys):
    args = tiny_args(reader={"name": "text_file", "config": {"path": str(tmp_path / "c.txt")}},
                     evaluators=[{"name": "judge_fid"}])
    path = tmp_path / "args.json"
    path.write_text(json.dumps(args))
    assert main(["validate", str(path)]) == 2
    error = capsys.readouterr().err
    assert "reader: 'text_file' gives text only; the model family 'aligned' reads image" in error
    alone = tiny_args(model={"name": "text_vae"}, evaluators=[{"name": "cross_modal"}])
    del alone["image"]
    path.write_text(json.dumps(alone))
    assert main(["validate", str(path)]) == 2
    assert "evaluators.0: cross_modal needs image and text; the model family 'text_vae' reads text" in \
        capsys.readouterr().err
