"""Caption language models: exact scoring, learning on the bundled digits, their files, and the shipped ones."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest
import torch
from conftest import REPO, shared_dataset

from remvae.core.registry import READERS
from remvae.playground.evaluators.judges.caption_lm import (
    CaptionLM,
    CaptionLMConfig,
    CaptionLMError,
    find_caption_lm,
    load_caption_lm,
    save_caption_lm,
)
from remvae.playground.evaluators.judges.caption_lm_training import (
    CAPTION_SETTINGS,
    READER_IMAGE_SIZE,
    caption_split,
    split_validation,
    train_caption_lm,
    training_captions,
)
from remvae.playground.evaluators.judges.judge import JudgeError
from remvae.playground.evaluators.judges.store import SHIPPED_DIR
from remvae.text.tokenizer import Tokenizer

SHIPPED = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "celeba": "celeba"}


@pytest.fixture
def judge_dirs(tmp_path, monkeypatch):
    """Isolated search folders: $REMVAE_JUDGES and the user cache under tmp_path."""
    monkeypatch.setenv("REMVAE_JUDGES", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "env"


@pytest.fixture(scope="module")
def bundled(tmp_path_factory):
    """A short training run on the bundled digits' captions: its info and its training/validation captions."""
    out = tmp_path_factory.mktemp("bundled_lm")
    info = train_caption_lm("bundled_digits", out_dir=str(out), epochs=6, log=lambda _: None)
    return info, *split_validation(training_captions("bundled_digits"), 5000)


def fixed_distribution_lm(tokenizer: Tokenizer, probabilities: torch.Tensor) -> CaptionLM:
    """An LM predicting ``probabilities`` after every prefix: zero output weights and bias log p."""
    torch.manual_seed(0)
    model = CaptionLM(tokenizer, CaptionLMConfig(embedding_dim=4, hidden_dim=5))
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(probabilities.log())
    return model.eval()


def test_token_nll_is_the_hand_computed_sum_over_words_and_eos_with_unknown_words_as_unk():
    tokenizer = Tokenizer.fit(["a cat", "a dog", "dog"])
    assert tokenizer.itos == ["<pad>", "<bos>", "<eos>", "<unk>", "a", "dog", "cat"]
    p = dict(zip(tokenizer.itos, [0.01, 0.01, 0.24, 0.04, 0.4, 0.2, 0.1], strict=True))
    model = fixed_distribution_lm(tokenizer, torch.tensor(list(p.values())))
    captions = ["a cat", "Dog a a", "a zebra", ""]  # "zebra" is <unk>; "" is scored as <eos> alone
    scored = [["a", "cat", "<eos>"], ["dog", "a", "a", "<eos>"], ["a", "<unk>", "<eos>"], ["<eos>"]]
    expected = -sum(math.log(p[word]) for words in scored for word in words)
    total, count = model.token_nll(captions, batch_size=3)  # two batches, padded rows
    assert count == 11
    assert total == pytest.approx(expected, rel=1e-6)
    assert model.perplexity(captions) == pytest.approx(math.exp(expected / 11), rel=1e-6)
    uniform = fixed_distribution_lm(tokenizer, torch.full((7,), 1 / 7))
    assert uniform.token_nll(captions)[0] == pytest.approx(11 * math.log(7), rel=1e-6)
    assert uniform.perplexity(captions) == pytest.approx(7.0, rel=1e-6)


def test_validation_split_is_fixed_held_out_and_at_most_a_fifth():
    captions = [f"caption {i}" for i in range(1000)]
    train, validation = split_validation(captions, 5000)
    assert len(validation) == 200 and len(train) == 800 and sorted(train + validation) == sorted(captions)
    fifty = split_validation(captions, 50)
    assert fifty == split_validation(captions, 50) and len(fifty[1]) == 50
    with pytest.raises(CaptionLMError, match="validation_size"):
        split_validation(captions[:4], 5000)


def test_training_on_bundled_captions_learns_their_grammar(bundled):
    info, train, validation = bundled
    model = load_caption_lm(info.path)
    assert (info.train_n, info.validation_n, info.dataset) == (len(train), len(validation), "bundled_digits")
    assert model.tokenizer == Tokenizer.fit(train)
    vocabulary = len(model.tokenizer)
    assert info.validation_perplexity < 3.0 < vocabulary / 5  # the caption generator's own is 2.45
    assert model.perplexity(validation) == pytest.approx(info.validation_perplexity, rel=1e-6)  # what was saved
    test = READERS.build("bundled_digits", {"split": "test"}).captions
    assert model.perplexity(test) == pytest.approx(info.validation_perplexity, rel=0.05)
    rng = random.Random(0)
    shuffled = [" ".join(rng.sample(words, len(words))) for words in (c.split() for c in validation)]
    assert model.perplexity(shuffled) > 2 * model.perplexity(validation)


def test_training_is_deterministic_for_a_seed(bundled, tmp_path):
    info = bundled[0]
    again = train_caption_lm("bundled_digits", out_dir=str(tmp_path), epochs=6, log=lambda _: None)
    assert again.validation_perplexity == info.validation_perplexity
    original = load_caption_lm(info.path).state_dict()
    assert all(torch.equal(value, original[key]) for key, value in load_caption_lm(again.path).state_dict().items())


def test_save_load_round_trip_and_lookup_by_name(bundled, judge_dirs):
    info, _, validation = bundled
    model = load_caption_lm(info.path)
    saved = save_caption_lm(model, model.info, judge_dirs, "digits_lm")
    assert find_caption_lm("digits_lm") == judge_dirs / "digits_lm.json" == Path(saved.path)
    loaded = load_caption_lm("digits_lm")
    assert loaded.token_nll(validation) == model.token_nll(validation)
    assert loaded.info.model_dump() == info.model_dump() and not loaded.training
    with pytest.raises(CaptionLMError, match="'nowhere_lm' not found"):
        load_caption_lm("nowhere_lm")


def one_line_error(path) -> str:
    with pytest.raises(CaptionLMError) as caught:
        load_caption_lm(path)
    assert isinstance(caught.value, JudgeError)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_broken_files_give_one_line_errors_naming_the_file(bundled, tmp_path):
    source = tmp_path / "source"
    shutil.copytree(Path(bundled[0].path).parent, source)
    json_path, weights = source / "bundled_digits_lm.json", source / "bundled_digits_lm.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    assert str(weights) in one_line_error(json_path)
    weights.write_bytes(good)
    record = json.loads(json_path.read_text())
    json_path.write_text(json.dumps({**record, "vocabulary": [*record["vocabulary"], "extra"]}))
    assert f"{weights}: weights do not match" in one_line_error(json_path)
    json_path.write_text(json.dumps({**record, "format": "remvae-judge"}))
    assert f"{json_path}: not a remvae caption LM" in one_line_error(weights)
    json_path.write_text(json.dumps({**record, "version": 2}))
    assert str(json_path) in one_line_error(json_path)
    json_path.write_text(json.dumps({**record, "config": {"hidden_dim": 0}}))
    assert f"{json_path}: bad config: config.hidden_dim" in one_line_error(json_path)
    json_path.write_text("{")
    assert str(json_path) in one_line_error(json_path)


@pytest.mark.parametrize("dataset", sorted(SHIPPED))
def test_shipped_lm_is_small_and_records_its_validation(dataset, judge_dirs):
    record = json.loads((SHIPPED_DIR / f"{dataset}_lm.json").read_text())
    assert record["format"] == "remvae-caption-lm" and record["dataset"] == dataset
    assert (SHIPPED_DIR / f"{dataset}_lm.safetensors").stat().st_size < 300_000
    model = load_caption_lm(f"{dataset}_lm")
    assert model.info.path == str(SHIPPED_DIR / f"{dataset}_lm.json")
    assert 1 < model.info.validation_perplexity < 2.6


@pytest.mark.parametrize("dataset", sorted(SHIPPED))
def test_shipped_lm_validation_perplexity_remeasured_on_the_real_captions(dataset, judge_dirs):
    root = shared_dataset(SHIPPED[dataset])
    model = load_caption_lm(f"{dataset}_lm")
    train, validation = caption_split(dataset, root, 5000)
    assert model.tokenizer == Tokenizer.fit(train) and len(validation) == model.info.validation_n
    assert model.perplexity(validation) == pytest.approx(model.info.validation_perplexity, rel=1e-5)


def test_shipped_celeba_lm_fits_every_caption_setting_the_shipped_experiments_use(judge_dirs):
    root = shared_dataset("celeba")
    model = load_caption_lm("celeba_lm")
    trained_on = {setting["attributes_per_caption"] for setting in model.info.captions}
    used = {json.loads(path.read_text())["reader"]["config"]["attributes_per_caption"]
            for path in sorted(REPO.glob("experiments/*celeba*/args.json"))}
    assert used and used <= trained_on and model.info.captions == list(CAPTION_SETTINGS["celeba"])
    for setting in CAPTION_SETTINGS["celeba"]:
        # the test captions of each setting, which the LM never saw, score close to its validation captions
        options = {"split": "test", "image_size": READER_IMAGE_SIZE, "root": str(root), **setting}
        captions = list(READERS.build("celeba", options).captions)
        assert model.perplexity(captions) < 1.2 * model.info.validation_perplexity, setting


def test_shipped_mnist_lm_prefers_captions_to_word_salad(judge_dirs):
    model = load_caption_lm("mnist_lm")
    for caption, salad in [("a photo of a seven", "seven a of photo a"), ("image of a two", "of two image a")]:
        assert model.perplexity([caption]) < 3.0
        assert model.perplexity([salad]) > 5 * model.perplexity([caption])
    unknown, known = model.token_nll(["a photo of a zebra"]), model.token_nll(["a photo of a seven"])
    assert unknown[1] == known[1] and unknown[0] > known[0] + 5  # an unknown word costs > 5 nats more
