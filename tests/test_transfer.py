"""Style transfer: the latent arithmetic, the style measures, the evaluator's validation-chosen strength, and the
API and CLI around it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

import remvae
from remvae import experiment
from remvae.cli import main
from remvae.core.distributions import Posterior
from remvae.core.evaluator import EvaluationContext, EvaluationError, run_evaluators
from remvae.core.registry import EVALUATORS, TRAINERS
from remvae.core.runfolder import RunFolder
from remvae.core.transfer import content_basis, style_latents, transfer_latents
from remvae.modelspec import ModelSpec
from remvae.playground.evaluators.style import (
    class_statistics,
    deviations,
    style_features,
)
from remvae.text.batch import TextBatch


class Table:
    """A stand-in model whose posterior means are looked up by the first token / pixel: enough for the arithmetic."""

    def encode(self, modality, x):
        value = x.tokens[:, :1].double() if modality == "text" else x.flatten(1)[:, :1].double()
        return Posterior(value.repeat(1, 3) * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
                         torch.zeros(len(value), 3, dtype=torch.float64))


def test_transfer_adds_the_images_residual_to_the_new_captions_mean():
    model = Table()
    images = torch.tensor([[[[0.5]]], [[[2.0]]]])
    source = TextBatch(torch.tensor([[1], [1]]), torch.tensor([1, 1]))
    target = TextBatch(torch.tensor([[4], [6]]), torch.tensor([1, 1]))
    style = style_latents(model, images, source)
    torch.testing.assert_close(style, torch.tensor([[-0.5, -1.0, -1.5], [1.0, 2.0, 3.0]], dtype=torch.float64))
    z = transfer_latents(model, images, source, target, strength=0.5)
    torch.testing.assert_close(z, torch.tensor([[3.75, 7.5, 11.25], [6.5, 13.0, 19.5]], dtype=torch.float64))


def test_content_basis_is_the_captions_principal_axes_and_the_projected_style_avoids_them():
    generator = torch.Generator().manual_seed(0)
    spread = torch.tensor([5.0, 3.0, 0.1, 0.1], dtype=torch.float64)  # captions vary along the first two axes
    captions = torch.randn(500, 4, generator=generator, dtype=torch.float64) * spread + 2.0
    basis = content_basis(captions, 2)
    torch.testing.assert_close(basis.T @ basis, torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(basis.abs()[:2].sum(0), torch.ones(2, dtype=torch.float64), atol=0.02, rtol=0)
    assert content_basis(captions, 0).shape == (4, 0)
    with pytest.raises(ValueError, match=r"k must lie in 0\.\.4, got 5"):
        content_basis(captions, 5)

    model = Table()  # style (-0.5, -1, -1.5) and (1, 2, 3) as in the test above; content along the first axis
    images = torch.tensor([[[[0.5]]], [[[2.0]]]])
    source = TextBatch(torch.tensor([[1], [1]]), torch.tensor([1, 1]))
    target = TextBatch(torch.tensor([[4], [6]]), torch.tensor([1, 1]))
    axis = torch.tensor([[1.0], [0.0], [0.0]], dtype=torch.float64)
    z = transfer_latents(model, images, source, target, strength=0.5, content=axis)
    torch.testing.assert_close(z, torch.tensor([[4.0, 7.5, 11.25], [6.0, 13.0, 19.5]], dtype=torch.float64))
    empty = torch.zeros(3, 0, dtype=torch.float64)
    torch.testing.assert_close(transfer_latents(model, images, source, target, 0.5, empty),
                               transfer_latents(model, images, source, target, 0.5))


def test_style_features_measure_slant_and_stroke_thickness():
    upright = torch.zeros(1, 1, 28, 28)
    upright[0, 0, 4:24, 13:15] = 1.0
    leaning = torch.zeros(1, 1, 28, 28)
    for row in range(4, 24):  # a stroke whose column moves right as it goes down: positive shear
        leaning[0, 0, row, 6 + row // 2: 8 + row // 2] = 1.0
    thick = torch.zeros(1, 1, 28, 28)
    thick[0, 0, 4:24, 11:17] = 1.0
    slant, thickness = style_features(torch.cat([upright, leaning, thick])).T
    assert abs(float(slant[0])) < 1e-6 and float(slant[1]) == pytest.approx(0.5, abs=0.05)
    assert float(thickness[2]) > 2.5 * float(thickness[0])  # 6 px against 2 px wide
    labels = torch.tensor([0, 0, 1, 1])
    means, stds = class_statistics(torch.tensor([[1.0, 2.0], [3.0, 2.0], [5.0, 5.0], [6.0, 4.0]]), labels, 2)
    torch.testing.assert_close(deviations(torch.tensor([[3.0, 2.0]]), torch.tensor([0]), means, stds)[0, 0],
                               torch.tensor(1.0 / 2 ** 0.5))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    train, validation = experiment.training_data("bundled_digits", {"image_size": 28}, None, 200)
    tokenizer = experiment.fit_tokenizer(train)
    spec = ModelSpec("aligned", {}, "conv", {"latent_dim": 8, "widths": [8, 16]}, "gru",
                     {"latent_dim": 8, "hidden_dim": 32, "word_dropout": 0.25})
    spec.save(RunFolder(run_dir))
    model = spec.build(tokenizer, seed=0)
    config = {"epochs": 8, "batch_size": 128, "quiet": True, "device": "cpu", "optimizer": {"name": "adam", "lr": 4e-3},
              "weights": {"alignment": 200.0, "text_reconstruction": 30.0, "image_kl": 0.03, "text_kl": 0.01,
                          "text_from_image": 60.0}}  # the quickstart's recipe, shorter
    TRAINERS.build("simple", config, model=model, run_dir=run_dir, tokenizer=tokenizer).fit(train, validation)
    test = experiment.test_data("bundled_digits", {"image_size": 28}, 300)
    return run_dir, validation, test, train


def test_the_evaluator_chooses_the_strength_on_validation_and_measures_it_on_test(trained):
    run_dir, validation, test, _ = trained
    loaded = remvae.load(run_dir, checkpoint="last")
    context = EvaluationContext(loaded.model, loaded.tokenizer, test, None, validation, dataset="bundled_digits")
    scores = EVALUATORS.build("transfer", {"strengths": [0.25, 0.5, 1.0]}).evaluate(context)
    curve = scores["validation"]
    assert set(curve) == {"0.25", "0.5", "1.0"}
    allowed = [float(s) for s, row in curve.items() if row["content_gap"] <= 0.03 + 1e-9]
    assert scores["strength"] == (max(allowed) if allowed else 0.25)
    assert 0 <= scores["transfer_content_accuracy"] <= 1 and scores["text_to_image_accuracy"] > 0.2  # chance: 0.1
    assert scores["content_gap"] == pytest.approx(scores["text_to_image_accuracy"] - scores["transfer_content_accuracy"])
    # the style correlates with the source's far more than plain text->image's does
    assert scores["slant_correlation"] > scores["slant_correlation_baseline"] + 0.3
    assert scores["pairs"] == 300 and set(context.per_item) >= {"transfer_content", "transfer_style_error"}
    bare = EvaluationContext(loaded.model, loaded.tokenizer, test, dataset="bundled_digits")
    with pytest.raises(EvaluationError, match=r"choosing the strength \(and k\) needs the validation split"):
        EVALUATORS.build("transfer", {}).evaluate(bare)
    fixed = EVALUATORS.build("transfer", {"strength": 0.5, "limit": 50}).evaluate(bare)
    assert fixed["strength"] == 0.5 and "validation" not in fixed


def test_content_directions_are_chosen_on_validation_stored_and_reused_by_the_api(trained, tmp_path):
    """Per k the largest strength within the content gap, then the k keeping the most style on validation; the
    chosen basis goes into eval.json and ``LoadedModel.transfer`` projects with it, as measured."""
    run_dir, validation, test, train = trained
    loaded = remvae.load(run_dir, checkpoint="last")
    context = EvaluationContext(loaded.model, loaded.tokenizer, test, train, validation, dataset="bundled_digits")
    config = {"strengths": [0.5, 1.0], "directions": [4, 0], "limit": 100, "basis_items": 150}
    scores = EVALUATORS.build("transfer", config).evaluate(context)
    curve = scores["validation"]
    assert set(curve) == {"0.5", "1.0", "0.5_k4", "1.0_k4"}
    per_k = {}
    for key, row in curve.items():
        strength, _, k = key.partition("_k")
        if row["content_gap"] <= 0.03 + 1e-9:
            per_k[int(k or 0)] = max(per_k.get(int(k or 0), 0.0), float(strength))
    label = {0: "{}", 4: "{}_k4"}
    expected = max(per_k.items(), key=lambda kv: (curve[label[kv[0]].format(kv[1])]["style_kept"], -kv[0])) \
        if per_k else (0, 0.5)
    assert (scores["content_directions"], scores["strength"]) == expected

    single = EVALUATORS.build("transfer", {**config, "directions": [4]})
    document = run_evaluators(context, {"transfer": single}, tmp_path / "eval.json")
    basis = torch.tensor(document["evaluators"]["transfer"]["fitted"]["content_basis"])
    assert document["evaluators"]["transfer"]["metrics"]["content_directions"] == 4 and basis.shape == (8, 4)
    torch.testing.assert_close(basis.T @ basis, torch.eye(4), atol=1e-5, rtol=0)
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    (copy / "metrics" / "eval.json").write_text(json.dumps(document), encoding="utf-8")
    reloaded = remvae.load(copy, checkpoint="last")
    torch.testing.assert_close(reloaded.chosen_content_basis(), basis)
    image, own, new = test.images[:2].float() / 255.0, test.captions[:2], [test.captions[5]] * 2
    strength = document["evaluators"]["transfer"]["metrics"]["strength"]
    expected_z = transfer_latents(reloaded.model, image, reloaded.prepare_texts(own), reloaded.prepare_texts(new),
                                  strength, basis)
    torch.testing.assert_close(reloaded.transfer(image, new, own), reloaded.decode_image(expected_z))
    plain_z = transfer_latents(reloaded.model, image, reloaded.prepare_texts(own), reloaded.prepare_texts(new), strength)
    torch.testing.assert_close(reloaded.transfer(image, new, own, project=False), reloaded.decode_image(plain_z))
    with pytest.raises(EvaluationError, match="content directions are fitted to training captions"):
        single.evaluate(EvaluationContext(loaded.model, loaded.tokenizer, test, None, validation,
                                          dataset="bundled_digits"))


def test_the_api_and_the_cli_redraw_an_image_with_a_new_caption(trained, tmp_path, capsys):
    run_dir, _, test, _ = trained
    loaded = remvae.load(run_dir, checkpoint="last")
    image = test.images[:1]
    out = loaded.transfer(image, "a photo of a three", strength=0.5)
    assert out.shape == (1, 1, 28, 28) and 0 <= float(out.min()) and float(out.max()) <= 1
    torch.testing.assert_close(loaded.transfer(image, "a photo of a three", source_texts=loaded.image_to_text(image),
                                               strength=0.5), out)
    with pytest.raises(ValueError, match=r"strength must be a finite number > 0"):
        loaded.transfer(image, "a three", strength=-1.0)
    with pytest.raises(ValueError, match=r"texts must be one caption, or one per image \(1\)"):
        loaded.transfer(image, ["a one", "a two"])
    source = tmp_path / "digit.png"
    Image.fromarray(image[0, 0].numpy()).save(source)
    target = tmp_path / "three.png"
    assert main(["transfer", str(run_dir), str(source), "a photo of a three", "-o", str(target), "--strength",
                 "0.5", "--checkpoint", "last"]) == 0
    assert f"wrote {target}" in capsys.readouterr().out
    with Image.open(target) as written:
        assert written.size == (28, 28)
    assert main(["transfer", str(run_dir), str(tmp_path / "args.json"), "a three", "--checkpoint", "last"]) == 2
    (tmp_path / "not-an-image.png").write_text(json.dumps({}))
    assert main(["transfer", str(run_dir), str(tmp_path / "not-an-image.png"), "a three", "--checkpoint", "last"]) == 2
    assert "not a readable image" in capsys.readouterr().err
