"""Evaluators on a tiny trained model vs the same model untrained, eval.json, FID and the judge LM offline."""

from __future__ import annotations

import json
import math
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import needs_module

from remvae.core.config import ConfigError
from remvae.core.data import ImageTextDataset
from remvae.core.evaluator import (
    EvaluationContext,
    EvaluationError,
    judge_changed,
    judge_digest,
    run_evaluators,
    with_judge_digest,
)
from remvae.core.model import Batch, MultimodalModel
from remvae.core.registry import ARCHITECTURES, EVALUATORS, MODELS, READERS
from remvae.playground.evaluators.cross_modal import precision_recall_f1
from remvae.playground.evaluators.fid import frechet_distance
from remvae.playground.evaluators.judges import Judge, JudgeCNN, JudgeNetworkConfig
from remvae.text import Tokenizer
from remvae.text.batch import TextBatch

OFFLINE = ["cross_modal", "perplexity", "caption_validity", "judge_fid", "reconstruction", "latent"]
LIMIT = 300


def build_model(tokenizer: Tokenizer, channels: int = 1, image_size: int = 28) -> MultimodalModel:
    """An MLP image VAE (learns digits in a few hundred CPU steps) and a small GRU text VAE."""
    torch.manual_seed(0)
    image = ARCHITECTURES.build(
        "linear", {"latent_dim": 8, "hidden_dims": [256], "channels": channels, "image_size": image_size}
    )
    text = ARCHITECTURES.build(
        "gru", {"latent_dim": 8, "embedding_dim": 32, "hidden_dim": 64, "max_length": 24}, tokenizer=tokenizer
    )
    return MODELS.build("aligned", {}, image=image, text=text).eval()


def train_briefly(model: MultimodalModel, data: ImageTextDataset, tokenizer: Tokenizer, steps: int) -> MultimodalModel:
    """ELBOs of both VAEs + alignment + cross-reconstruction (each decoder from the other's z), unit weights but
    the alignment's (x8: summed over the 8 latent dimensions)."""
    text = tokenizer.encode_batch(data.captions)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        index = torch.randint(0, len(data), (128,), generator=generator)
        images = data.images[index].float() / 255.0
        lengths = text.lengths[index]
        tokens = text.tokens[index, : int(lengths.max())]
        terms = model(Batch(images, TextBatch(tokens, lengths), len(index)),
                      terms={"image_from_text", "text_from_image"}).terms
        loss = sum(value * (8.0 if name == "alignment" else 1.0) for name, value in terms.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def digits():
    train = READERS.build("bundled_digits", {"split": "train"})
    test = READERS.build("bundled_digits", {"split": "test"})
    return train, test, Tokenizer.fit(train.captions)


@pytest.fixture(scope="session")
def models(digits):
    train, _, tokenizer = digits
    return {
        "trained": train_briefly(build_model(tokenizer), train, tokenizer, steps=250),
        "untrained": build_model(tokenizer),
    }


def make_context(model, digits, **options) -> EvaluationContext:
    train, test, tokenizer = digits
    options.setdefault("limit", LIMIT)
    return EvaluationContext(model, tokenizer, test, train_set=train, dataset="bundled_digits", **options)


@pytest.fixture(scope="session")
def results(models, digits, tmp_path_factory):
    """eval.json of every offline evaluator, for the trained and the untrained model (the shipped MNIST judge)."""
    out = {}
    for name, model in models.items():
        path = tmp_path_factory.mktemp(name) / "metrics" / "eval.json"
        run_evaluators(make_context(model, digits), {e: EVALUATORS.build(e) for e in OFFLINE}, path)
        out[name] = json.loads(path.read_text())["evaluators"]
    return out


def metrics(results, model, evaluator):
    return results[model][evaluator]["metrics"]


def test_cross_modal_accuracy_is_a_share_and_training_raises_it(results):
    trained, untrained = (metrics(results, m, "cross_modal") for m in ("trained", "untrained"))
    for values in (trained, untrained):
        for key in (
            "text_to_image_top1",
            "text_to_image_top2",
            "text_to_image_top3",
            "image_to_text_vs_judge",
            "image_to_text_vs_true",
            "image_to_text_named",
            "joint_coherence",
            "judge_accuracy",
        ):
            assert 0.0 <= values[key] <= 1.0, key
        assert values["text_to_image_top1"] <= values["text_to_image_top2"] <= values["text_to_image_top3"]
        assert values["judge_accuracy"] > 0.95  # the MNIST judge on the real bundled test digits
        assert len(values["class_fid"]) == 10 and values["text_to_image_class_fid"] >= 0
    assert trained["text_to_image_top1"] > untrained["text_to_image_top1"] + 0.2
    assert trained["image_to_text_vs_true"] > untrained["image_to_text_vs_true"] + 0.3
    assert trained["image_to_text_vs_judge"] > untrained["image_to_text_vs_judge"] + 0.3
    assert trained["joint_coherence"] > untrained["joint_coherence"]
    assert trained["text_to_image_class_fid"] < untrained["text_to_image_class_fid"]
    record = results["trained"]["cross_modal"]
    assert record["judge"]["name"] == "mnist" and record["judge"]["test_accuracy"] >= 0.993
    assert record["n"] == LIMIT and record["seed"] == 0 and record["seconds"] > 0


def test_judge_fid_is_lower_for_the_trained_model(results):
    trained, untrained = (metrics(results, m, "judge_fid") for m in ("trained", "untrained"))
    assert trained["n"] == LIMIT
    for which in ("reconstruction", "text_to_image", "prior"):
        assert 0 <= trained[f"{which}_fid"] < untrained[f"{which}_fid"], which


def test_intrinsic_perplexity_is_lower_for_the_trained_model_and_bounds_hold(results):
    trained, untrained = (metrics(results, m, "perplexity") for m in ("trained", "untrained"))
    assert 1.0 <= trained["perplexity"] < untrained["perplexity"]
    for values in (trained, untrained):
        assert values["nll"] <= -values["elbo"] + 1e-3  # importance sampling tightens the ELBO
        assert values["perplexity"] <= values["elbo_perplexity"] + 1e-6
        assert values["kl"] >= 0 and values["elbo"] == pytest.approx(-(values["reconstruction"] + values["kl"]))


def test_caption_validity_and_reconstruction(results):
    trained, untrained = (metrics(results, m, "caption_validity") for m in ("trained", "untrained"))
    assert trained["original_valid"] == 1.0
    assert trained["image_to_text_valid"] > untrained["image_to_text_valid"]
    assert trained["reconstruction_valid"] > 0.9
    good, bad = (metrics(results, m, "reconstruction") for m in ("trained", "untrained"))
    for values in (good, bad):
        assert 0 <= values["image_mse"] <= 1 and values["image_bce"] > 0 and -1 <= values["image_ssim"] <= 1
        assert 0 <= values["text_exact_match"] <= values["text_token_accuracy"] <= 1
    assert good["image_mse"] < bad["image_mse"] and good["image_psnr"] > bad["image_psnr"]
    assert good["image_ssim"] > bad["image_ssim"] and good["text_token_accuracy"] > bad["text_token_accuracy"]


def test_latent_space_alignment_retrieval_probe_and_active_units(results):
    trained, untrained = (metrics(results, m, "latent") for m in ("trained", "untrained"))
    assert trained["distance_ratio"] < 0.8 < untrained["distance_ratio"]
    for values in (trained, untrained):
        for key in ("retrieval_image_to_text_top1", "retrieval_text_to_image_top5", "probe_image_accuracy"):
            assert 0 <= values[key] <= 1
        assert values["retrieval_image_to_text_top1"] <= values["retrieval_image_to_text_top5"]
        assert 0 <= values["image_active_units"] <= values["latent_dim"] == 8
        assert values["probe_train_n"] == 3600 and values["probe_fitted_on_train_set"] is True
    assert trained["retrieval_image_to_text_top1"] > untrained["retrieval_image_to_text_top1"]
    assert trained["probe_image_accuracy"] > untrained["probe_image_accuracy"]
    assert trained["text_active_units"] > untrained["text_active_units"]  # an untrained text encoder barely moves


def test_eval_json_is_merged_and_written_atomically(models, digits, tmp_path):
    path = tmp_path / "metrics" / "eval.json"
    context = make_context(models["trained"], digits, limit=40, seed=3)
    run_evaluators(context, {"perplexity": EVALUATORS.build("perplexity", {"k": 2})}, path)
    document = run_evaluators(context, {"xm_sample": EVALUATORS.build("cross_modal", {"sample": True})}, path)
    saved = json.loads(path.read_text())
    assert saved == document
    assert set(saved) == {"remvae_version", "created", "checkpoint", "prior", "evaluators"}
    assert set(saved["evaluators"]) == {"perplexity", "xm_sample"}  # the earlier result is kept
    entry = saved["evaluators"]["perplexity"]
    assert set(entry) == {"metrics", "split", "n", "seed", "judge", "config", "items", "seconds"}
    assert entry["config"] == {"k": 2} and entry["items"] == ["log_px", "tokens"] and entry["split"] == "test"
    assert entry["n"] == 40 and entry["seed"] == 3 and entry["judge"] is None and entry["metrics"]["k"] == 2
    judge = saved["evaluators"]["xm_sample"]["judge"]
    assert judge["name"] == "mnist" and judge["split"] == "test"
    assert judge["accuracy"] == saved["evaluators"]["xm_sample"]["metrics"]["judge_accuracy"]
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]  # no temporary file left behind
    other = run_evaluators(context, {"xm": EVALUATORS.build("cross_modal")}, path, checkpoint={"sha256": "another"})
    assert set(other["evaluators"]) == {"xm"}  # results of another checkpoint's model are not kept
    path.write_text("{broken")
    with pytest.raises(EvaluationError, match=r"eval\.json: existing eval results are unreadable"):
        run_evaluators(context, {"perplexity": EVALUATORS.build("perplexity")}, path)


def test_configs_are_validated():
    with pytest.raises(ConfigError, match=r"cross_modal.top_k"):
        EVALUATORS.build("cross_modal", {"top_k": []})
    with pytest.raises(ConfigError, match=r"judge_fid.sets.0"):
        EVALUATORS.build("judge_fid", {"sets": ["prior", "nonsense"][::-1]})
    with pytest.raises(ConfigError, match=r"latent.probe_limit: unknown key"):
        EVALUATORS.build("latent", {"probe_limit": 5})


def test_frechet_distance_of_a_set_with_itself_is_zero_and_matches_scipy():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(400, 16, generator=generator) @ torch.randn(16, 16, generator=generator)
    b = torch.randn(300, 16, generator=generator) * 1.5 + 0.5
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    x, y = a.double().numpy(), b.double().numpy()
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(cov_x @ cov_y).real
    expected = ((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cov_x + cov_y - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_precision_recall_f1_by_hand():
    predicted = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    true = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    scores = precision_recall_f1(predicted, true, ["a", "b", "c"])
    assert scores["per_attribute"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert scores["per_attribute"]["b"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert scores["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)  # "c" has no positives: not averaged
    assert scores["precision_micro"] == pytest.approx(2 / 3) and scores["recall_micro"] == 0.5


def test_cross_modal_on_attribute_captions_reports_precision_recall_f1():
    from remvae.playground.readers.celeba_captions import (
        CELEBA_ATTRIBUTES,
        CELEBA_GRAMMAR,
    )

    generator = torch.Generator().manual_seed(0)
    labels = (torch.rand(64, 40, generator=generator) < 0.3).long()
    captions = CELEBA_GRAMMAR.captions(labels.numpy(), seed=0)
    images = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=generator)
    data = ImageTextDataset(images, captions, labels, CELEBA_ATTRIBUTES, CELEBA_GRAMMAR)
    tokenizer = Tokenizer.fit(captions)
    config = JudgeNetworkConfig(image_size=16, channels=3, num_outputs=40, multilabel=True, widths=[4], hidden=8)
    judge = Judge(
        JudgeCNN(config), name="attributes", multilabel=True, image_size=16, channels=3, label_names=CELEBA_ATTRIBUTES
    )
    context = EvaluationContext(build_model(tokenizer, channels=3, image_size=16), tokenizer, data, judge=judge)
    values = EVALUATORS.build("cross_modal").evaluate(context)
    for prefix in ("image_to_text", "text_to_image", "reference_captions", "reference_judge"):
        for key in ("precision_macro", "recall_micro", "f1_macro", "f1_micro"):
            assert 0 <= values[f"{prefix}_{key}"] <= 1 or math.isnan(values[f"{prefix}_{key}"])
    assert values["reference_captions_precision_micro"] == 1.0  # captions name only attributes the face has
    assert set(values["per_attribute"]["image_to_text"]) == set(CELEBA_ATTRIBUTES)
    assert 0 <= values["judge_accuracy"] <= 1 and 0 <= values["text_to_image_attribute_accuracy"] <= 1
    positives = labels.double().mean(0)  # about 0.3 each: the majority answer is "absent"
    assert values["majority_attribute_accuracy"] == pytest.approx(float(torch.maximum(positives, 1 - positives).mean()))


def test_judge_language_model_perplexity_offline_with_a_tiny_gpt2(models, digits, tmp_path):
    transformers = needs_module("transformers")
    from tokenizers import Tokenizer as WordTokenizer
    from tokenizers import models as word_models
    from tokenizers import pre_tokenizers, trainers

    train, _, _ = digits
    words = WordTokenizer(word_models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.train_from_iterator(train.captions, trainers.WordLevelTrainer(special_tokens=["<|endoftext|>", "<unk>"]))
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=words, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(tmp_path / "lm")
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_layer=1, n_embd=32, n_head=2, n_positions=32)
    torch.manual_seed(0)
    lm = transformers.GPT2LMHeadModel(config)
    with torch.no_grad():  # zero token embeddings: the (tied) output layer gives every word logit 0
        lm.transformer.wte.weight.zero_()
    lm.save_pretrained(tmp_path / "lm")

    evaluator = EVALUATORS.build("lm_perplexity", {"model": str(tmp_path / "lm"), "local_files_only": True})
    context = make_context(models["trained"], digits, limit=50)
    values = evaluator.evaluate(context)
    assert values["available"] is True
    for name in ("original", "reconstruction", "image_to_text"):
        # a uniform next-word distribution over V words: perplexity exactly V, every token log V nats
        assert values[f"{name}_perplexity"] == pytest.approx(len(tokenizer), rel=1e-5)
        assert values[f"{name}_nll_per_token"] == pytest.approx(math.log(len(tokenizer)), rel=1e-6)
        assert values[f"{name}_tokens"] > 50
    words = sum(len(c.split()) for c in context.items.captions)
    assert values["original_tokens"] == words + len(context.items.captions)  # the words and one <eos> each
    assert values["reconstruction_ratio_to_original"] == pytest.approx(1.0, rel=1e-5)
    assert evaluator.judge_record(context)["name"] == str(tmp_path / "lm")
    missing = EVALUATORS.build("lm_perplexity", {"model": "nobody/no-such-lm", "local_files_only": True})
    with pytest.raises(
        EvaluationError, match=r"lm_perplexity.model: cannot load the causal language model 'nobody/no-such-lm'"
    ):
        missing.evaluate(context)
    skipped = EVALUATORS.build("lm_perplexity", {"model": "nobody/no-such-lm", "local_files_only": True,
                                                 "when_missing": "skip"}).evaluate(context)
    assert skipped["available"] is False and "no-such-lm" in skipped["reason"]


def test_caption_perplexity_under_a_uniform_caption_lm_is_exactly_its_vocabulary_size(models, digits, tmp_path):
    """The offline judge LM path: an LM whose every next-word distribution is uniform over its V words scores
    every caption set at perplexity V exactly; the shipped MNIST LM scores real captions far lower."""
    from remvae.playground.evaluators.judges.caption_lm import (
        CaptionLM,
        CaptionLMInfo,
        save_caption_lm,
    )

    train, _, tokenizer = digits
    lm = CaptionLM(tokenizer)
    with torch.no_grad():
        lm.output.weight.zero_()
        lm.output.bias.zero_()
    info = CaptionLMInfo(dataset="digits", validation_perplexity=float(len(tokenizer)), validation_n=1, train_n=1,
                         epochs=1, best_epoch=1, seed=0, seconds=0.0)
    path = save_caption_lm(lm, info, tmp_path, "uniform_lm").path
    context = make_context(models["trained"], digits, limit=50)
    values = EVALUATORS.build("caption_perplexity", {"lm": path}).evaluate(context)
    for name in ("original", "reconstruction", "image_to_text"):
        assert values[f"{name}_perplexity"] == pytest.approx(len(tokenizer), rel=1e-6)
    assert set(context.per_item) == {f"{name}_{kind}" for name in ("original", "reconstruction", "image_to_text")
                                     for kind in ("nll", "tokens")}
    shipped = EVALUATORS.build("caption_perplexity", {}).evaluate(make_context(models["trained"], digits, limit=50))
    assert shipped["original_perplexity"] < 4 < len(tokenizer)  # the data set's own LM: near the grammar's entropy


def test_eval_json_records_the_judge_files_digest_and_notices_a_retrained_judge(models, digits, tmp_path):
    """A judge re-trained into the same files (as a shipped judge is) leaves numbers it did not produce:
    eval.json keeps the digest of the judge's files, and ``judge_changed`` tells the eval stage to run again."""
    from remvae.playground.evaluators.judges.caption_lm import (
        CaptionLM,
        CaptionLMInfo,
        save_caption_lm,
    )

    _, _, tokenizer = digits
    info = CaptionLMInfo(dataset="digits", validation_perplexity=2.0, validation_n=1, train_n=1, epochs=1,
                         best_epoch=1, seed=0, seconds=0.0)
    torch.manual_seed(0)
    path = save_caption_lm(CaptionLM(tokenizer), info, tmp_path, "digits_lm").path
    context = make_context(models["trained"], digits, limit=20)
    evaluators = {"caption_perplexity": EVALUATORS.build("caption_perplexity", {"lm": path})}
    record = run_evaluators(context, evaluators, None)["evaluators"]["caption_perplexity"]["judge"]
    assert record["path"] == path and record["sha256"] == judge_digest(path) and not judge_changed(record)
    torch.manual_seed(1)
    save_caption_lm(CaptionLM(tokenizer), info, tmp_path, "digits_lm")  # same JSON, other weights
    assert judge_changed(record)
    Path(path).unlink()
    assert judge_changed(record)
    assert not judge_changed({"name": "mnist", "path": path})  # recorded before digests: not second-guessed
    assert with_judge_digest({"name": "gpt2", "path": "gpt2"}) == {"name": "gpt2", "path": "gpt2"}  # a hub id


def random_inception_weights(path, monkeypatch) -> None:
    """A randomly initialised state dict of torch-fidelity's FID InceptionV3, saved like the real file."""
    from torch_fidelity import feature_extractor_inceptionv3 as inception

    class Unloaded(inception.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, strict=True, assign=False):
            return None

    with monkeypatch.context() as patch:
        patch.setattr(inception, "load_state_dict_from_url", lambda *args, **kwargs: {})
        torch.save(Unloaded("inception-v3-compat", ["2048"]).state_dict(), path)


def test_inception_fid_with_a_local_weights_file_and_a_clear_failure_without(models, digits, tmp_path, monkeypatch):
    needs_module("torch_fidelity")
    from torch_fidelity import feature_extractor_inceptionv3 as inception

    weights = tmp_path / "inception.pth"
    random_inception_weights(weights, monkeypatch)
    context = make_context(models["trained"], digits, limit=80)
    values = EVALUATORS.build("fid", {"inception_weights": str(weights), "feature": 64}).evaluate(context)
    assert values["n"] == 80
    # the reference, computed apart from the evaluator: the same network's 64-d features of the real and the
    # generated images, and the Frechet distance with scipy's matrix square root
    from torchmetrics.image.fid import NoTrainInceptionV3

    from remvae.playground.evaluators.common import generated_images

    network = NoTrainInceptionV3(name="inception-v3-compat", features_list=["64"],
                                 feature_extractor_weights_path=str(weights))

    def features(images):
        with torch.no_grad():
            return network(images.expand(-1, 3, -1, -1)).double().numpy()

    real = features(context.items.images)
    for which in ("reconstruction", "text_to_image", "prior"):
        fake = features(generated_images(context, which))
        mu_r, mu_f = real.mean(0), fake.mean(0)
        cov_r, cov_f = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
        root = scipy.linalg.sqrtm(cov_r @ cov_f).real
        expected = float(((mu_r - mu_f) ** 2).sum() + np.trace(cov_r + cov_f - 2 * root))
        assert values[f"{which}_fid"] == pytest.approx(expected, rel=1e-3, abs=1e-4), which

    def offline(*args, **kwargs):
        raise URLError("no network")

    monkeypatch.setattr(inception, "load_state_dict_from_url", offline)
    with pytest.raises(
        EvaluationError, match=r"no local Inception weights given \(inception_weights\) and downloading them failed"
    ):
        EVALUATORS.build("fid", {"feature": 64}).evaluate(context)
    with pytest.raises(EvaluationError, match=r"fid.inception_weights: .*nowhere.pth is not a file"):
        EVALUATORS.build("fid", {"inception_weights": str(tmp_path / "nowhere.pth")}).evaluate(context)
    (tmp_path / "garbage.pth").write_text("not a state dict")
    with pytest.raises(EvaluationError, match=r"garbage.pth is not torch-fidelity's FID InceptionV3 state dict"):
        EVALUATORS.build("fid", {"inception_weights": str(tmp_path / "garbage.pth")}).evaluate(context)
