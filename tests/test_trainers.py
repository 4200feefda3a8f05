"""Trainers: config validation, every variant on every model kind, logging, NaN and Ctrl-C handling,
kill-and-resume equality, and a learning test on real MNIST."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import torch

from remvae.core.checkpoint import (
    CheckpointError,
    find_checkpoint,
    load_checkpoint,
    load_model_state,
    read_state,
)
from remvae.core.config import ConfigError
from remvae.core.data import ImageDataset, TextDataset
from remvae.core.distributed import DistributedContext
from remvae.core.model import Batch
from remvae.core.registry import ARCHITECTURES, MODELS, READERS, TRAINERS
from remvae.core.trainer import NonFiniteLossError, Trainer
from remvae.playground.trainers.batches import TensorData, epoch_batches
from remvae.playground.trainers.runtime import resolve_device
from remvae.text import Tokenizer

SCRIPTS = Path(__file__).parent / "scripts"
sys.path.insert(0, str(SCRIPTS))
import train_tiny  # noqa: E402
from conftest import shared_dataset  # noqa: E402
from tinyvae import (  # noqa: E402
    synthetic_pairs,
    tiny_image_vae,
    tiny_multimodal,
    tiny_text_vae,
    tokenizer_for,
)

QUIET = {"quiet": True, "num_threads": 1, "device": "cpu"}


@pytest.fixture(scope="module")
def data():
    train = synthetic_pairs(128, seed=0)
    return train, synthetic_pairs(32, seed=1), tokenizer_for(train)


def _model(kind, tokenizer, seed=0):
    torch.manual_seed(seed)
    if kind == "image":
        return MODELS.build("image_vae", {}, image=tiny_image_vae())
    if kind == "text":
        return MODELS.build("text_vae", {}, text=tiny_text_vae(tokenizer))
    return tiny_multimodal(tokenizer, seed)


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ------------------------------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("simple", {"optimizer": {"name": "adamx"}},
         r"simple.optimizer: unknown optimizer 'adamx'; allowed: .*adam, adamax, adamw.*rmsprop.*sgd"),
        ("simple", {"optimizer": {"name": "sgd", "options": {"betas": [0.9, 0.9]}}}, r"sgd does not take \['betas'\]"),
        ("simple", {"optimizer": {"name": "adam", "options": {"betas": [2.0, 0.9]}}}, r"adam: Invalid beta parameter"),
        ("simple", {"optimizer": {"lr": -1}}, r"simple.optimizer.lr: Input should be greater than 0"),
        ("simple", {"lr_scheduler": {"name": "cosin"}}, r"unknown lr_scheduler 'cosin'; allowed: none, cosine"),
        ("simple", {"lr_scheduler": {"name": "step"}}, r"lr_scheduler step: .*step_size"),
        ("simple", {"weights": {"image_kl": -1.0}}, r"simple.weights.image_kl: Input should be greater than or equal"),
        ("simple", {"schedule": {"name": "linear"}}, r"simple.schedule: unknown key"),
        ("annealing", {"schedule": {"name": "cyclic"}}, r"unknown schedule 'cyclic' \(did you mean 'cyclical'\?\)"),
        ("annealing", {"schedule": {"name": "cyclical", "config": {"ratio": 3}}}, r"cyclical.ratio: Input should be less"),
        ("clipped", {"clip_norm": None}, r"clipped.clip_norm"),
        ("simple", {"precision": "fp8"}, r"simple.precision: Input should be 'fp32', 'bf16' or 'fp16'"),
        ("simple", {"device": "gpu"}, r"simple.device: not a device: 'gpu'"),
        ("simple", {"epochs": 0, "batch_size": "many"}, r"simple.epochs: .*; simple.batch_size: "),
    ],
)
def test_bad_configs_fail_at_build_time_naming_the_field(tmp_path, data, name, config, message):
    with pytest.raises(ConfigError, match=message):
        TRAINERS.build(name, config, model=_model("image", data[2]), run_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing started


def test_runtime_checks_fail_before_training(tmp_path, data):
    with pytest.raises(ConfigError, match=r"precision: 'fp16' needs a CUDA device"):
        TRAINERS.build("simple", {"precision": "fp16", "device": "cpu"}, model=_model("image", None), run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"needs tokenizer="):
        TRAINERS.build("simple", {}, model=_model("text", data[2]), run_dir=tmp_path)
    with pytest.raises(TypeError, match=r"cannot train a Linear: .*declares its loss terms"):
        TRAINERS.build("simple", {}, model=torch.nn.Linear(2, 2), run_dir=tmp_path)
    too_few = TRAINERS.build("simple", {**QUIET, "batch_size": 500, "drop_last": True}, model=_model("image", None),
                             run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"train_set has 128 items: not one batch of 500"):
        too_few.fit(data[0])
    wrong = synthetic_pairs(8)
    wrong.images = wrong.images[:, :, :4, :4].contiguous()
    trainer = TRAINERS.build("simple", QUIET, model=_model("image", None), run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"train_set: images are \(1, 4, 4\) but the model expects \(1, 8, 8\)"):
        trainer.fit(wrong)
    with pytest.raises(ValueError, match=r"val_set: a text model needs a dataset with captions"):
        TRAINERS.build("simple", QUIET, model=_model("text", data[2]), run_dir=tmp_path, tokenizer=data[2]).fit(
            data[0], ImageDataset(data[1]))
    assert not (tmp_path / "checkpoints").exists()


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match=r"device: 'cuda' requested but CUDA is not available"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_variants_differ_only_in_which_terms_beta_scales(tmp_path, data):
    terms = {"image_reconstruction": 1.0, "text_reconstruction": 2.0, "image_kl": 3.0, "text_kl": 4.0, "alignment": 5.0}
    weights = {"weights": terms}
    expected = {
        "simple": 1 + 4 + 9 + 16 + 25,
        "clipped": 1 + 4 + 9 + 16 + 25,
        "annealing": 1 + 4 + 0.5 * (9 + 16) + 25,
        "adaptive_annealing": 1 + 4 + 0.5 * (9 + 16 + 25),  # the reference's objective
    }
    for name, value in expected.items():
        config = {**weights, **({"schedule": {"name": "constant", "config": {"value": 0.5}}} if "anneal" in name else {})}
        trainer = TRAINERS.build(name, config, model=_model("multimodal", data[2]), run_dir=tmp_path, tokenizer=data[2])
        assert isinstance(trainer, Trainer)
        loss = trainer.objective.loss({k: torch.tensor(v) for k, v in terms.items()}, trainer.objective.beta(0, 10))
        assert float(loss) == pytest.approx(value), name


# ------------------------------------------------------------------------------------------ data order


def test_epoch_order_is_seeded_covers_every_item_and_shards_across_ranks():
    single = DistributedContext()
    first = torch.cat(epoch_batches(103, 10, seed=1, epoch=0, context=single, drop_last=False))
    assert sorted(first.tolist()) == list(range(103))
    assert torch.equal(first, torch.cat(epoch_batches(103, 10, 1, 0, single, False)))
    assert not torch.equal(first, torch.cat(epoch_batches(103, 10, 1, 1, single, False)))
    assert not torch.equal(first, torch.cat(epoch_batches(103, 10, 2, 0, single, False)))
    assert [len(b) for b in epoch_batches(103, 10, 1, 0, single, True)] == [10] * 10
    shards = [epoch_batches(103, 10, 1, 0, DistributedContext(rank=r, world_size=2), False) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 6  # 51 items each, same number of steps
    items = [set(torch.cat(s).tolist()) for s in shards]
    assert not items[0] & items[1] and len(items[0] | items[1]) == 102


def test_text_batches_are_trimmed_to_their_longest_caption(data):
    tokenizer = data[2]
    prepared = TensorData.from_dataset(data[0], ("image", "text"), tokenizer, 12, (1, 8, 8))
    index = torch.tensor([i for i, c in enumerate(data[0].captions) if len(c.split()) == 1][:3])
    batch = prepared.batch(index)
    assert batch.text.tokens.shape == (3, 3)  # <bos> word <eos>
    assert batch.images.dtype == torch.float32 and 0.0 <= batch.images.min() and batch.images.max() == 1.0
    assert prepared.tokens.shape[1] > 3


# ------------------------------------------------------------------------------------------ training


@pytest.mark.parametrize("kind", ["image", "text", "multimodal"])
@pytest.mark.parametrize("name", ["simple", "clipped", "annealing", "adaptive_annealing"])
def test_every_trainer_trains_every_model_kind(tmp_path, data, name, kind):
    train, val, tokenizer = data
    model = _model(kind, tokenizer)
    before = _weights(model)
    config = {**QUIET, "epochs": 2, "batch_size": 32, "log_every": 2}
    trainer = TRAINERS.build(name, config, model=model, run_dir=tmp_path, tokenizer=tokenizer)
    result = trainer.fit(train, val)
    assert (result.steps, result.epochs) == (8, 2) and result.samples_per_s > 0
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    records = [json.loads(line) for line in (tmp_path / "metrics" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    terms = {"image": {"image_reconstruction", "image_kl"}, "text": {"text_reconstruction", "text_kl"}}.get(
        kind, {"image_reconstruction", "text_reconstruction", "image_kl", "text_kl", "alignment"})
    assert set(records[0]) == {"step", "epoch", "loss", "beta", "lr", "grad_norm", "samples_per_s", "time"} | terms
    assert records[-1]["epoch"] == 2.0
    state = load_checkpoint(tmp_path / "checkpoints" / "last")
    _assert_same_weights(state.model, model.state_dict())
    assert (state.tokenizer is not None) == (kind != "image") or state.tokenizer == tokenizer
    assert result.best_checkpoint == tmp_path / "checkpoints" / "best"


def test_cross_reconstruction_terms_are_logged_and_train_each_decoder_on_the_other_posterior(tmp_path, data):
    train, _, tokenizer = data
    model = _model("multimodal", tokenizer)
    config = {**QUIET, "epochs": 6, "batch_size": 32, "log_every": 4,
              "weights": {"image_from_text": 1.0, "text_from_image": 0.5}}
    TRAINERS.build("annealing", config, model=model, run_dir=tmp_path, tokenizer=tokenizer).fit(train)
    records = [json.loads(line) for line in (tmp_path / "metrics" / "train.jsonl").read_text().splitlines()]
    assert {"image_from_text", "text_from_image"} <= set(records[0])
    for term in ("image_from_text", "text_from_image"):
        assert records[-1][term] < records[0][term], term
    # The logged total is the weighted sum, cross terms included (beta scales only the KLs here).
    last = records[-1]
    expected = (last["image_reconstruction"] + last["text_reconstruction"] + last["alignment"]
                + last["beta"] * (last["image_kl"] + last["text_kl"])
                + last["image_from_text"] + 0.5 * last["text_from_image"])
    assert last["loss"] == pytest.approx(expected, rel=1e-4)


def test_only_the_weighted_cross_reconstruction_is_computed(data):
    train, _, tokenizer = data
    model = _model("multimodal", tokenizer)
    text = tokenizer.encode_batch(train.captions[:4])
    images = train.images[:4].float() / 255
    out = model(Batch(images, text, 4), terms={"text_from_image"})
    assert "image_from_text" not in out.terms and out.terms["text_from_image"].shape == ()
    assert "text_from_image" not in model(Batch(images, text, 4)).terms


def test_clipping_bounds_the_update(tmp_path, data):
    model = _model("image", None)
    before = _weights(model)
    config = {**QUIET, "max_steps": 1, "clip_norm": 1e-3, "optimizer": {"name": "sgd", "lr": 1.0}}
    TRAINERS.build("clipped", config, model=model, run_dir=tmp_path).fit(data[0])
    delta = torch.cat([(v - before[k]).flatten() for k, v in model.state_dict().items()])
    assert 0 < float(delta.norm()) <= 1e-3 * (1 + 1e-4)
    record = json.loads((tmp_path / "metrics" / "train.jsonl").read_text())
    assert record["grad_norm"] > 1e-2  # the logged norm is the one before clipping


def test_one_cycle_schedule_too_short_for_its_phases_is_a_clear_error(tmp_path, data):
    config = {**QUIET, "max_steps": 5, "lr_scheduler": {"name": "onecycle", "options": {"pct_start": 0.2}}}
    trainer = TRAINERS.build("simple", config, model=_model("image", None), run_dir=tmp_path)
    with pytest.raises(ValueError, match="lr_scheduler onecycle: 5 training steps are too few"):
        trainer.fit(data[0])


def test_phase_timing_logs_where_each_step_goes_only_when_asked(tmp_path, data):
    model, tokenizer = _model("multimodal", data[2]), data[2]
    config = {**QUIET, "max_steps": 6, "log_every": 3, "time_phases": True}
    TRAINERS.build("simple", config, model=model, run_dir=tmp_path / "on", tokenizer=tokenizer).fit(data[0])
    records = [json.loads(line) for line in (tmp_path / "on" / "metrics" / "train.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [3, 6]
    for record in records:
        phases = [record[f"ms_{phase}"] for phase in ("data", "forward", "backward", "optimizer")]
        assert all(ms > 0 for ms in phases)
        # the phases split the step: together they take no longer than the step's own timing
        assert sum(phases) <= 1000 * 32 / record["samples_per_s"] * 1.05
    TRAINERS.build("simple", {**QUIET, "max_steps": 3, "log_every": 3}, model=model, run_dir=tmp_path / "off",
                   tokenizer=tokenizer).fit(data[0])
    record = json.loads((tmp_path / "off" / "metrics" / "train.jsonl").read_text())
    assert not any(key.startswith("ms_") for key in record)


def test_run_folder_records_summary_environment_and_keeps_last_k(tmp_path, data):
    config = {**QUIET, "epochs": 3, "checkpoint": {"every_steps": 2, "keep_last": 2},
              "lr_scheduler": {"name": "onecycle"}, "precision": "bf16"}
    threads = torch.get_num_threads()
    TRAINERS.build("annealing", config, model=_model("multimodal", data[2]), run_dir=tmp_path,
                   tokenizer=data[2]).fit(data[0])
    assert torch.get_num_threads() == threads  # num_threads applies during fit only
    summary = json.loads((tmp_path / "metrics" / "train_summary.json").read_text())
    assert {"steps": 12, "epochs": 3, "device": "cpu", "num_threads": 1, "precision": "bf16"}.items() <= summary.items()
    assert summary["train_seconds"] > 0 and summary["samples_per_s"] > 0
    environment = json.loads((tmp_path / "environment.json").read_text())
    assert environment["packages"]["torch"] == metadata.version("torch")
    assert environment["device"] == "cpu" and environment["torch_threads"] == 1
    assert {"python", "platform", "git_commit"} <= set(environment) and "numpy" in environment["packages"]
    steps = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert steps == ["best", "last", "step-0000010", "step-0000012"]
    assert not (tmp_path / "metrics" / "validation.jsonl").exists()  # no val_set: best by train loss
    assert read_state(tmp_path / "checkpoints" / "best")["best_metric"] is not None


def test_single_modality_datasets_train_their_model(tmp_path, data):
    train, _, tokenizer = data
    text = TRAINERS.build("simple", {**QUIET, "max_steps": 2}, model=_model("text", tokenizer), run_dir=tmp_path / "t",
                          tokenizer=tokenizer)
    assert text.fit(TextDataset(train.captions)).steps == 2
    image = TRAINERS.build("simple", {**QUIET, "max_steps": 2}, model=_model("image", None), run_dir=tmp_path / "i")
    assert image.fit(ImageDataset(train)).steps == 2


def test_max_steps_stops_mid_epoch_and_saves(tmp_path, data):
    result = TRAINERS.build("simple", {**QUIET, "max_steps": 3}, model=_model("image", None), run_dir=tmp_path).fit(data[0])
    assert (result.steps, result.epochs) == (3, 0)
    assert read_state(tmp_path / "checkpoints" / "last")["position"] == 3


# ------------------------------------------------------------------------------------------ failures


class _Countdown:
    """A forward hook that, at the k-th call, replaces the output with NaN or raises."""

    def __init__(self, k, action):
        self.k, self.calls, self.action = k, 0, action

    def __call__(self, module, inputs, output):
        self.calls += 1
        if self.calls == self.k:
            if self.action == "nan":
                return torch.full_like(output, float("nan"))
            raise KeyboardInterrupt
        return output


def test_non_finite_loss_stops_naming_step_and_term_and_keeps_the_last_good_checkpoint(tmp_path, data):
    model = _model("multimodal", data[2])
    model.image.decoder.register_forward_hook(_Countdown(5, "nan"))
    config = {**QUIET, "epochs": 2, "checkpoint": {"every_steps": 1}}
    trainer = TRAINERS.build("adaptive_annealing", config, model=model, run_dir=tmp_path, tokenizer=data[2])
    with pytest.raises(NonFiniteLossError, match=r"^step 5: image_reconstruction is nan \(non-finite\)"):
        trainer.fit(data[0])
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last")
    assert checkpoint.step == 4
    assert all(torch.isfinite(v).all() for v in checkpoint.model.values())
    assert not (tmp_path / "metrics" / "train_summary.json").exists()


def test_ctrl_c_saves_last_and_resume_matches_an_uninterrupted_run(tmp_path, data):
    train, val, tokenizer = data
    config = {**QUIET, "epochs": 2, "seed": 3, "lr_scheduler": {"name": "cosine"}}

    reference = _model("multimodal", tokenizer, seed=1)
    TRAINERS.build("simple", config, model=reference, run_dir=tmp_path / "a", tokenizer=tokenizer).fit(train, val)

    interrupted = _model("multimodal", tokenizer, seed=1)
    interrupted.text.register_forward_hook(_Countdown(7, "interrupt"))
    with pytest.raises(KeyboardInterrupt):
        TRAINERS.build("simple", config, model=interrupted, run_dir=tmp_path / "b", tokenizer=tokenizer).fit(train, val)
    state = read_state(tmp_path / "b" / "checkpoints" / "last")
    assert (state["step"], state["epoch"], state["position"]) == (5, 1, 1)  # 4 steps + validation, then 1

    resumed = _model("multimodal", tokenizer, seed=99)  # different initial weights: all must come from the checkpoint
    result = TRAINERS.build("simple", {**config, "resume": True}, model=resumed, run_dir=tmp_path / "b",
                            tokenizer=tokenizer).fit(train, val)
    assert result.steps == 8
    _assert_same_weights(resumed.state_dict(), reference.state_dict())
    summary = json.loads((tmp_path / "b" / "metrics" / "train_summary.json").read_text())
    assert summary["resumed_from_step"] == 5


def test_resume_refuses_a_different_batch_size(tmp_path, data):
    TRAINERS.build("simple", {**QUIET, "max_steps": 2}, model=_model("image", None), run_dir=tmp_path).fit(data[0])
    trainer = TRAINERS.build("simple", {**QUIET, "batch_size": 16, "resume": True}, model=_model("image", None),
                             run_dir=tmp_path)
    with pytest.raises(ValueError, match=r"resume: .*last was written with batch_size=32, this run has 16"):
        trainer.fit(data[0])


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, str(SCRIPTS / "train_tiny.py"), str(tmp_path / "killed"), "--every", "2", "--sleep", "0.03"]
    killed = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    trainer, train, val = train_tiny.build(tmp_path / "reference")  # meanwhile, the uninterrupted run
    trainer.fit(train, val)
    last = tmp_path / "killed" / "checkpoints" / "last"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and killed.poll() is None:
        try:
            if 10 <= read_state(last)["step"] <= 14:
                break
        except CheckpointError:  # not written yet, or between the two renames
            pass
        time.sleep(0.005)
    killed.send_signal(signal.SIGKILL)
    output, _ = killed.communicate()
    assert killed.returncode == -signal.SIGKILL, output.decode()
    assert not (tmp_path / "killed" / "metrics" / "train_summary.json").exists()
    state = read_state(find_checkpoint(last))
    assert 0 < state["position"] and 0 < state["step"] < 24  # killed mid-epoch, 24 steps in all

    resumed, train, val = train_tiny.build(tmp_path / "killed", resume=True)
    result = resumed.fit(train, val)
    assert result.steps == 24
    _assert_same_weights(resumed.model.state_dict(), trainer.model.state_dict())
    _assert_same_weights(load_model_state(last), trainer.model.state_dict())
    logged = [json.loads(line)["step"] for line in (tmp_path / "killed" / "metrics" / "train.jsonl").open()]
    assert logged == list(range(2, 25, 2))  # the steps redone after the kill are not logged twice
    validated = [json.loads(line)["epoch"] for line in (tmp_path / "killed" / "metrics" / "validation.jsonl").open()]
    assert validated == [1, 2, 3]


# ------------------------------------------------------------------------------------------ learning


def _held_out_metrics(model, images, text, labels):
    """Reconstruction losses, and the reference alignment loss and posterior-mean distance of matching
    pairs relative to pairs whose labels differ (1.0 = the encoders do not align the two modalities)."""
    model.eval()
    with torch.no_grad():
        out = model(Batch(images, text, len(images)), generator=torch.Generator().manual_seed(0))
    model.train()
    a, b = out.posteriors["image"], out.posteriors["text"]
    distance = torch.cdist(a.mean, b.mean)
    alignment = (distance.pow(2) + torch.cdist(a.std, b.std).pow(2)) / a.mean.shape[1]  # every (image, text) pair
    different = labels[:, None] != labels[None, :]
    return {
        "image_reconstruction": float(out.terms["image_reconstruction"]),
        "text_reconstruction": float(out.terms["text_reconstruction"]),
        "alignment": float(alignment.diagonal().mean()),
        "alignment_ratio": float(alignment.diagonal().mean() / alignment[different].mean()),
        "distance_ratio": float(distance.diagonal().mean() / distance[different].mean()),
    }


@pytest.mark.slow
def test_mixed_gru_model_learns_and_aligns_on_real_mnist(tmp_path):
    root = shared_dataset("MNIST")
    train = READERS.build("mnist", {"root": str(root), "length": 4000, "seed": 0})
    test = READERS.build("mnist", {"root": str(root), "split": "test", "length": 500, "seed": 1})
    tokenizer = Tokenizer.fit(train.captions)
    torch.manual_seed(0)
    image = ARCHITECTURES.build("conv", {"image_size": 28, "latent_dim": 16})
    text = ARCHITECTURES.build("gru", {"latent_dim": 16, "embedding_dim": 32, "hidden_dim": 64, "max_length": 10,
                                       "word_dropout": 0.25}, tokenizer=tokenizer)
    model = MODELS.build("aligned", {}, image=image, text=text)
    held_out = (test.images.float() / 255, tokenizer.encode_batch(test.captions, max_length=10), test.labels)
    before = _held_out_metrics(model, *held_out)

    config = {
        "epochs": 4, "batch_size": 32, "seed": 0, "quiet": True, "device": "cpu", "log_every": 25,
        "num_threads": 1,  # one thread is the fastest on a loaded 2-core machine
        # image reconstruction is summed over 784 pixels, the reference alignment averaged over 16 dims
        "optimizer": {"name": "adam", "lr": 2e-3}, "weights": {"alignment": 200.0},
        "schedule": {"name": "logistic", "config": {"midpoint": 0.3, "steepness": 15}},
    }
    trainer = TRAINERS.build("adaptive_annealing", config, model=model, run_dir=tmp_path, tokenizer=tokenizer)
    started = time.perf_counter()
    trainer.fit(train)
    seconds = time.perf_counter() - started
    after = _held_out_metrics(model, *held_out)
    print(f"\n{seconds:.0f} s; before {before}\nafter {after}")

    assert after["image_reconstruction"] < 0.3 * before["image_reconstruction"]
    assert after["text_reconstruction"] < 0.3 * before["text_reconstruction"]
    assert after["alignment"] < 0.5 * before["alignment"]
    # untrained, a caption's posterior is no closer to its own image's than to any other digit's ...
    assert before["alignment_ratio"] > 0.95 and before["distance_ratio"] > 0.95
    # ... trained, the posteriors of matching pairs are much closer than those of non-matching pairs
    assert after["alignment_ratio"] < 0.5 and after["distance_ratio"] < 0.75
