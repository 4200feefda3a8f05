"""remvae.load: a trained run folder reloads to the same model; inputs are adapted; bad folders are named."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import remvae
from remvae import experiment
from remvae.core.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from remvae.core.registry import TRAINERS
from remvae.core.runfolder import RunFolder, RunFolderError
from remvae.modelspec import ModelSpec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for one epoch the way train.py does it, with the in-memory model kept."""
    run_dir = tmp_path_factory.mktemp("run")
    train_set, val_set = experiment.training_data("bundled_digits", {"image_size": 28}, 256, 64)
    tokenizer = experiment.fit_tokenizer(train_set)
    spec = ModelSpec("aligned", {}, "conv", {"latent_dim": 8, "widths": [8, 16]}, "gru",
                     {"latent_dim": 8, "hidden_dim": 32, "word_dropout": 0.1})
    spec.save(RunFolder(run_dir))
    model = spec.build(tokenizer, seed=0)
    trainer = TRAINERS.build(
        "simple", {"epochs": 1, "batch_size": 32, "quiet": True, "device": "cpu"},
        model=model, run_dir=run_dir, tokenizer=tokenizer,
    )
    trainer.fit(train_set, val_set)
    test_set = experiment.test_data("bundled_digits", {"image_size": 28}, 16)
    return run_dir, model.eval(), tokenizer, test_set


def test_reloaded_run_gives_the_trained_models_outputs(trained):
    run_dir, model, tokenizer, test_set = trained
    loaded = remvae.load(run_dir, checkpoint="last")
    images = test_set.images.float() / 255
    text = tokenizer.encode_batch(test_set.captions, loaded.max_length)
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(images).mean, model.encode("image", images).mean)
        torch.testing.assert_close(loaded.encode_text(test_set.captions).mean, model.encode("text", text).mean)
        expected_captions = tokenizer.decode_batch(model.decode("text", model.encode("image", images).mean))
        expected_images = model.decode("image", model.encode("text", text).mean)
    assert loaded.image_to_text(images) == expected_captions
    torch.testing.assert_close(loaded.text_to_image(test_set.captions), expected_images)
    assert loaded.tokenizer == tokenizer
    assert loaded.spec.resolved() == ModelSpec.load(RunFolder(run_dir)).resolved()


def test_outputs_are_deterministic_by_default_and_sampling_is_seeded(trained):
    run_dir, _, _, test_set = trained
    loaded = remvae.load(run_dir)
    images = test_set.images.float() / 255
    captions = test_set.captions[:4]
    assert loaded.image_to_text(images) == remvae.load(run_dir).image_to_text(images)
    mean = loaded.text_to_image(captions)
    torch.testing.assert_close(loaded.text_to_image(captions), mean)
    drawn = loaded.text_to_image(captions, sample=True, seed=3)
    torch.testing.assert_close(loaded.text_to_image(captions, sample=True, seed=3), drawn)
    assert not torch.allclose(drawn, mean)
    assert loaded.image_to_text(images, sample=True, temperature=1.0, seed=1) == \
        loaded.image_to_text(images, sample=True, temperature=1.0, seed=1)


def test_shapes_ranges_and_every_method(trained):
    run_dir, _, _, test_set = trained
    loaded = remvae.load(run_dir)
    images = test_set.images.float() / 255
    out = loaded.text_to_image(["a photo of a seven", "two"])
    assert out.shape == (2, 1, 28, 28) and out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert loaded.reconstruct_image(images).shape == images.shape
    assert all(isinstance(c, str) for c in loaded.reconstruct_text(test_set.captions))
    assert loaded.encode_image(images).mean.shape == (16, 8)
    samples = loaded.sample(5)
    assert samples.images.shape == (5, 1, 28, 28) and len(samples.texts) == 5 and samples.z.shape == (5, 8)
    torch.testing.assert_close(loaded.sample(5).z, samples.z)  # seeded by default
    path = loaded.interpolate("a one", images[0], steps=6)
    assert path.images.shape == (6, 1, 28, 28) and len(path.texts) == 6
    torch.testing.assert_close(path.z[0], loaded.encode_text(["a one"]).mean[0])
    torch.testing.assert_close(path.z[-1], loaded.encode_image(images[:1]).mean[0])
    assert "aligned: conv+gru" in repr(loaded)


def test_images_are_adapted_to_the_model(trained):
    run_dir, _, _, test_set = trained
    loaded = remvae.load(run_dir)
    grey = test_set.images[:3].float() / 255
    big = torch.nn.functional.interpolate(grey, size=(56, 56), mode="bilinear", align_corners=False)
    assert len(loaded.image_to_text(big)) == 3
    rgb = grey.expand(-1, 3, -1, -1)
    torch.testing.assert_close(loaded.encode_image(rgb).mean, loaded.encode_image(grey).mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loaded.encode_image(test_set.images[:3]).mean, loaded.encode_image(grey).mean)
    assert loaded.image_to_text(grey[0]) == loaded.image_to_text(grey[:1])  # one [C, H, W] image
    with pytest.raises(ValueError, match=r"images must be in \[0, 1\]"):
        loaded.image_to_text(grey * 255)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        loaded.image_to_text(torch.rand(2, 2, 28, 28))
    with pytest.raises(ValueError, match=r"a caption \(str\) or a non-empty list of them, got an empty list"):
        loaded.text_to_image([])


def test_bad_run_folders_name_what_is_missing(trained, tmp_path):
    run_dir = trained[0]
    with pytest.raises(RunFolderError, match="not a folder"):
        remvae.load(tmp_path / "nowhere")
    with pytest.raises(RunFolderError, match=r"model.json: not found"):
        remvae.load(tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "checkpoints")
    with pytest.raises(RunFolderError, match=r"checkpoints/best: no checkpoint there"):
        remvae.load(copy)
    shutil.copytree(run_dir / "checkpoints", copy / "checkpoints")
    with (copy / "checkpoints" / "best" / "model.safetensors").open("r+b") as handle:
        handle.truncate(100)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        remvae.load(copy)
    spec = json.loads((copy / "model.json").read_text())
    spec["image"]["config"]["widths"] = [4, 4]
    (copy / "model.json").write_text(json.dumps(spec))
    with pytest.raises(CheckpointError, match="weights do not fit"):
        remvae.load(copy, checkpoint="last")
    (copy / "model.json").write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        remvae.load(copy)


def test_a_run_saved_before_model_families_still_loads(trained, tmp_path):
    """remvae 0.1 wrote model.json version 1 (an aligned pair with a wrapper) and named the text VAE's weights
    text.vae.*; such a run loads to the same model."""
    run_dir, _, _, test_set = trained
    old = tmp_path / "old"
    old.mkdir()
    spec = json.loads((run_dir / "model.json").read_text())
    text_config = dict(spec["text"]["config"])
    wrapper = {"word_dropout": text_config.pop("word_dropout"), "mode": text_config.pop("decoding")}
    (old / "model.json").write_text(json.dumps({
        "format": "remvae-model", "version": 1, "image": spec["image"], "text": {"name": "gru", "config": text_config},
        "wrapper": wrapper, "conditional_prior": None,
    }))
    checkpoint = load_checkpoint(run_dir / "checkpoints" / "last")
    renamed = {key.replace("text.", "text.vae.", 1) if key.startswith("text.") else key: value
               for key, value in checkpoint.model.items()}
    state = {k: v for k, v in checkpoint.state.items() if k not in ("format", "version", "files", "fingerprint")}
    save_checkpoint(old / "checkpoints" / "last", renamed, state, checkpoint.config, tokenizer=checkpoint.tokenizer)
    images = test_set.images.float() / 255
    before, now = remvae.load(old), remvae.load(run_dir, checkpoint="last")
    assert before.spec.source_version == 1 and before.spec.text_config["word_dropout"] == 0.1
    assert before.image_to_text(images) == now.image_to_text(images)
    torch.testing.assert_close(before.text_to_image(test_set.captions), now.text_to_image(test_set.captions))


def test_the_api_refuses_bad_inputs_saying_what_was_given(trained):
    run_dir, _, _, test_set = trained
    loaded = remvae.load(run_dir)
    images = test_set.images[:2].float() / 255
    cases = [
        (lambda: loaded.image_to_text(torch.full((1, 1, 28, 28), float("nan"))), r"NaN or infinite values"),
        (lambda: loaded.image_to_text(torch.zeros(0, 1, 28, 28)), r"at least one non-empty image, got shape \(0, 1, 28, 28\)"),
        (lambda: loaded.image_to_text(torch.rand(5, 28, 28)), r"C = 1 or 3, got shape \(5, 28, 28\)"),
        (lambda: loaded.image_to_text([[0.0]]), r"torch.Tensor .* got a list"),
        (lambda: loaded.text_to_image(123), r"a caption \(str\) or a non-empty list of them, got a int"),
        (lambda: loaded.text_to_image(["a one", 7]), r"got a list holding int, str"),
        (lambda: loaded.sample(2.5), r"n must be a whole number >= 1, got 2.5"),
        (lambda: loaded.sample(0), r"n must be a whole number >= 1, got 0"),
        (lambda: loaded.decode_image(torch.zeros(3, 5)), r"z must be \[B >= 1, 8\] .*got shape \(3, 5\)"),
        (lambda: loaded.decode_text(torch.zeros(2, 8), temperature=-1), r"temperature must be a finite number >= 0"),
        (lambda: loaded.decode_text(torch.zeros(2, 8), temperature=float("nan")), r"temperature .* got nan"),
        (lambda: loaded.image_to_text(images, seed=-3), r"seed must be a whole number"),
        (lambda: loaded.interpolate("a one", "a two", steps=1), r"steps must be a whole number >= 2, got 1"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_unknown_words_warn_once_naming_them_or_are_refused_when_strict(trained):
    loaded = remvae.load(trained[0])
    with pytest.warns(UserWarning, match=r"never saw in its training captions are read as <unk>: 'drawing', 'shirt'"):
        loaded.text_to_image(["a drawing of a shirt"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.text_to_image(["a shirt"])  # already named once: no second warning
    loaded.strict = True
    with pytest.raises(ValueError, match=r"texts: words the model never saw in its training captions: 'shirt'"):
        loaded.text_to_image(["a shirt"])
