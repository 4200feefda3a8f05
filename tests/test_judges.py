"""Judges: the shipped ones meet their targets, are found by name and path, train, and adapt any classifier."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import needs_module, shared_dataset
from torch import nn

from remvae.core.registry import READERS
from remvae.playground.evaluators.judges import (
    Judge,
    JudgeCNN,
    JudgeError,
    JudgeNetworkConfig,
    check_judge,
    load_judge,
    resize_images,
    resolve_judge,
    save_judge,
    search_dirs,
    train_judge,
)
from remvae.playground.evaluators.judges.resolve import check_label_order
from remvae.playground.evaluators.judges.store import SHIPPED_DIR
from remvae.playground.evaluators.judges.training import judge_accuracy, reader_options

TARGETS = {"mnist": 0.993, "fashion_mnist": 0.92, "celeba": 0.88}
SHARED_FOLDER = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "celeba": "celeba"}


@pytest.fixture
def judge_dirs(tmp_path, monkeypatch):
    """Isolated search folders: $REMVAE_JUDGES and the user cache under tmp_path."""
    env, cache = tmp_path / "env", tmp_path / "xdg"
    monkeypatch.setenv("REMVAE_JUDGES", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return env, cache / "remvae" / "judges"


def tiny_network(**overrides) -> JudgeCNN:
    torch.manual_seed(0)
    return JudgeCNN(JudgeNetworkConfig(widths=[4, 8], convs_per_stage=1, hidden=8, **overrides)).eval()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_judge_records_its_target_accuracy_and_is_small(name):
    record = json.loads((SHIPPED_DIR / f"{name}.json").read_text())
    assert record["dataset"] == name and record["format"] == "remvae-judge"
    assert record["test_accuracy"] >= TARGETS[name]
    assert (SHIPPED_DIR / f"{name}.safetensors").stat().st_size < 1.5e6
    judge = load_judge(name)
    assert judge.test_accuracy == record["test_accuracy"] and judge.label_names == record["label_names"]
    assert judge.multilabel == (name == "celeba")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_judge_accuracy_remeasured_on_the_real_test_split(name):
    root = shared_dataset(SHARED_FOLDER[name])
    judge = load_judge(name)
    test = READERS.build(name, reader_options(name, root, train=False, image_size=judge.image_size))
    images = resize_images(test.images, judge.image_size, judge.channels)
    accuracy = judge_accuracy(judge.network, images, test.labels, judge.multilabel)
    assert accuracy >= TARGETS[name]
    assert accuracy == pytest.approx(judge.test_accuracy, abs=2e-3)  # the recorded number is this one


def test_judges_are_found_by_name_in_search_order_and_by_path(judge_dirs, tmp_path):
    env, cache = judge_dirs
    assert search_dirs() == [env, cache, SHIPPED_DIR]
    network = tiny_network()
    meta = {"dataset": "mnist", "test_accuracy": 0.5, "label_names": [str(i) for i in range(10)]}
    cached = save_judge(network, cache, "mnist", meta)
    assert load_judge("mnist").path == str(cached)  # the user cache shadows the shipped judge
    in_env = save_judge(network, env, "mnist", {**meta, "test_accuracy": 0.25})
    assert load_judge("mnist").path == str(in_env) and load_judge("mnist").test_accuracy == 0.25
    elsewhere = save_judge(network, tmp_path / "elsewhere", "mine", meta)
    for path in (elsewhere, elsewhere.with_suffix(".safetensors")):
        judge = load_judge(path)
        assert judge.name == "mine" and judge.path == str(elsewhere)
    x = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(load_judge(elsewhere).logits(x), network(x), atol=2e-2, rtol=2e-2)  # fp16 weights
    with pytest.raises(JudgeError, match=r"judge 'nope' not found in .*env, .*remvae/judges, .*known: .*mnist"):
        load_judge("nope")
    with pytest.raises(JudgeError, match=r"missing\.json not found"):
        load_judge(tmp_path / "missing.json")


def test_broken_judge_files_fail_with_one_line(tmp_path):
    path = save_judge(tiny_network(), tmp_path, "broken", {"label_names": None})
    path.write_text("{not json")
    with pytest.raises(JudgeError, match=r"broken\.json: cannot read judge metadata"):
        load_judge(path)
    path = save_judge(tiny_network(), tmp_path, "other", {"label_names": None})
    record = json.loads(path.read_text())
    record["network"]["hidden"] = 16
    path.write_text(json.dumps(record))
    with pytest.raises(JudgeError, match=r"other\.safetensors: weights do not match the network in other\.json"):
        load_judge(path)
    record["network"]["widths"] = "wide"
    path.write_text(json.dumps(record))
    with pytest.raises(JudgeError, match=r"bad network config: network\.widths"):
        load_judge(path)


def test_judge_adapts_size_and_channels_and_reads_penultimate_features():
    network = tiny_network()
    judge = Judge(network, name="tiny", image_size=28, channels=1)
    small = torch.rand(6, 1, 28, 28)
    large = torch.rand(6, 1, 56, 56)
    rgb = small.expand(-1, 3, -1, -1)
    logits, features = judge.logits_and_features(small)
    assert features.shape == (6, 8) and logits.shape == (6, 10)
    torch.testing.assert_close(features, network.features(small))
    shrunk = torch.nn.functional.interpolate(large, size=28, mode="bilinear", antialias=True, align_corners=False)
    torch.testing.assert_close(judge.logits(large), network(shrunk))
    torch.testing.assert_close(judge.logits(rgb), logits, atol=1e-5, rtol=1e-5)  # luma of equal channels = grey
    assert resize_images(torch.full((2, 3, 64, 64), 200, dtype=torch.uint8), 28, 1).unique().tolist() == [200]
    assert judge.predict(small).shape == (6,)
    judge.train()
    assert not judge.network.training  # BatchNorm statistics never move


def test_a_users_module_and_a_hugging_face_model_serve_as_judges(tmp_path):
    module = nn.Sequential(nn.Flatten(), nn.Linear(784, 12), nn.ReLU(), nn.Linear(12, 10))
    judge = resolve_judge(module)
    assert judge.name == "Sequential" and judge.test_accuracy is None
    assert judge.features(torch.rand(3, 1, 28, 28)).shape == (3, 12)

    transformers = needs_module("transformers")
    config = transformers.ViTConfig(
        image_size=28,
        patch_size=7,
        num_channels=1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=10,
    )
    transformers.ViTForImageClassification(config).save_pretrained(tmp_path / "vit")
    transformers.ViTImageProcessor(size={"height": 28, "width": 28}, image_mean=[0.5], image_std=[0.5]).save_pretrained(
        tmp_path / "vit"
    )
    for spec in (f"hf:{tmp_path / 'vit'}", tmp_path / "vit"):
        vit = resolve_judge(spec, local_files_only=True)
        logits, features = vit.logits_and_features(torch.rand(4, 1, 56, 56))  # resized to the model's 28
        assert logits.shape == (4, 10) and features.shape == (4, 16)
    with pytest.raises(JudgeError, match=r"judge 'hf:nobody/no-model': cannot load a Hugging Face image classifier"):
        resolve_judge("hf:nobody/no-model", local_files_only=True)


def test_judge_must_match_the_data_labels():
    judge = Judge(tiny_network(), name="digits", label_names=[str(i) for i in range(10)])
    check_judge(judge, [str(i) for i in range(10)], multilabel=False)
    with pytest.raises(JudgeError, match=r"judge 'digits' was trained on \['0', '1', '2', '3'\]"):
        check_judge(judge, ["t-shirt", *map(str, range(9))], multilabel=False)
    with pytest.raises(JudgeError, match=r"judge 'digits' is single-label but the data has 40 attributes"):
        check_judge(judge, [f"a{i}" for i in range(40)], multilabel=True)


def test_a_judge_whose_outputs_are_in_another_class_order_is_refused():
    """A competent classifier with two outputs swapped is caught on a labelled batch; a correct or a weak one
    is not (the weak one's own accuracy is what gets recorded)."""
    names = [str(i) for i in range(10)]
    labels = torch.arange(10).repeat(20)
    check_label_order("digits", labels.clone(), labels, names)
    swapped = labels.clone()
    swapped[labels == 3], swapped[labels == 8] = 8, 3
    with pytest.raises(JudgeError, match=r"judge 'digits': its outputs are not in the data's class order \(80% right "
                                         r"as given, 100% with another order: output 3 looks like '8'"):
        check_label_order("digits", swapped, labels, names)
    check_label_order("digits", torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(0)), labels, names)


@pytest.mark.slow
def test_train_judge_on_the_bundled_digits_reaches_a_sane_accuracy(tmp_path):
    judge = train_judge(
        "bundled_digits", out_dir=tmp_path, epochs=2, network={"widths": [8, 16], "hidden": 32}, log=lambda _: None
    )
    assert judge.path == str(tmp_path / "bundled_digits.json")
    assert judge.test_accuracy > 0.9
    record = json.loads((tmp_path / "bundled_digits.json").read_text())
    assert record["test_n"] == 1000 and record["label_names"][7] == "seven"
    assert load_judge(tmp_path / "bundled_digits.json").test_accuracy == judge.test_accuracy
    with pytest.raises(JudgeError, match=r"dataset: no judge preset for 'svhn'; one of bundled_digits, celeba"):
        train_judge("svhn", out_dir=tmp_path)
