"""The joint-posterior families (poe: MVAE, moe: MMVAE, mopoe: MoPoE-VAE, jmvae: JMVAE-kl): their expert
math against closed forms, their terms and gradients, training through the real trainer to text->image
generation well above chance, and a save/reload round trip."""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.distributions import (
    Categorical,
    Independent,
    MixtureSameFamily,
    Normal,
    kl_divergence,
)

from remvae.core.config import ConfigError
from remvae.core.distributions import Posterior
from remvae.core.model import Batch, LatentModel
from remvae.core.registry import MODELS, PRIORS, TRAINERS
from remvae.playground.models import aligned, jmvae, moe, mopoe, poe  # noqa: F401  (registers the families)
from remvae.playground.models.experts import (
    Mixture,
    product_of_experts,
    standard_normal_log_prob,
)
from remvae.playground.priors import gmm  # noqa: F401  (registers the GMM prior)

sys.path.insert(0, str(Path(__file__).parent / "scripts"))
from tinyvae import synthetic_pairs, tiny_image_vae, tiny_text_vae, tokenizer_for  # noqa: E402

FAMILIES = ("poe", "moe", "mopoe", "jmvae")
PARTS = ("image.encoder", "image.decoder", "text.encoder", "text.decoder", "joint_encoder")


@pytest.fixture(scope="module")
def data():
    train = synthetic_pairs(1024, seed=0)
    return train, synthetic_pairs(64, seed=1), synthetic_pairs(200, seed=2), tokenizer_for(train)


def _build(name, tokenizer, seed=0, config=None):
    torch.manual_seed(seed)
    return MODELS.build(name, config or {}, image=tiny_image_vae(), text=tiny_text_vae(tokenizer))


def _batch(dataset, tokenizer, n=None):
    n = len(dataset.images) if n is None else n
    return Batch(dataset.images[:n].float() / 255, tokenizer.encode_batch(dataset.captions[:n], max_length=12), n)


def _random_posterior(generator, batch=5, dim=3):
    return Posterior(torch.randn(batch, dim, generator=generator), torch.randn(batch, dim, generator=generator))


# ------------------------------------------------------------------------------------------ expert math


def test_product_of_gaussian_experts_is_the_precision_weighted_closed_form():
    g = torch.Generator().manual_seed(0)
    experts = [_random_posterior(g) for _ in range(3)]
    for prior in (False, True):
        product = product_of_experts(experts, prior_expert=prior)
        precision = sum(1 / e.variance for e in experts) + (1.0 if prior else 0.0)
        torch.testing.assert_close(product.variance, 1 / precision)
        torch.testing.assert_close(product.mean, sum(e.mean / e.variance for e in experts) / precision)
        # the normalised product: log q(z) - sum_k log q_k(z) does not depend on z
        z = torch.randn(4, 5, 3, generator=g)
        factors = sum(e.log_prob(z) for e in experts) + (standard_normal_log_prob(z) if prior else 0.0)
        gap = product.log_prob(z) - factors
        torch.testing.assert_close(gap, gap[:1].expand_as(gap), atol=1e-4, rtol=0)


def test_one_expert_times_the_prior_by_hand():
    # N(2, 1) x N(0, 1): precision 2, mean 1; N(-3, 1/4) x N(0, 1): precision 5, mean -12/5
    expert = Posterior(torch.tensor([[2.0, -3.0]]), torch.tensor([[0.0, math.log(0.25)]]))
    product = product_of_experts([expert], prior_expert=True)
    torch.testing.assert_close(product.mean, torch.tensor([[1.0, -2.4]]))
    torch.testing.assert_close(product.variance, torch.tensor([[0.5, 0.2]]))
    alone = product_of_experts([expert], prior_expert=False)
    assert torch.equal(alone.mean, expert.mean) and torch.equal(alone.logvar, expert.logvar)


def test_mixture_density_matches_torch_distributions():
    g = torch.Generator().manual_seed(1)
    components = tuple(_random_posterior(g) for _ in range(3))
    means, stds = (torch.stack([getattr(c, name) for c in components], 1) for name in ("mean", "std"))
    reference = MixtureSameFamily(Categorical(torch.ones(5, 3)), Independent(Normal(means, stds), 1))
    z = torch.randn(5, 3, generator=g)
    torch.testing.assert_close(Mixture(components).log_prob(z), reference.log_prob(z))


def test_mixture_sampling_picks_components_uniformly_from_the_generator():
    n = 30_000
    means = (0.0, 100.0, -100.0)
    mixture = Mixture(tuple(Posterior(torch.full((n, 2), m), torch.full((n, 2), -6.0)) for m in means))
    z, index = mixture.rsample(torch.Generator().manual_seed(0))
    frequencies = torch.bincount(index, minlength=3).float() / n
    torch.testing.assert_close(frequencies, torch.full((3,), 1 / 3), atol=0.012, rtol=0)  # ~4.4 sigma
    torch.testing.assert_close(z, torch.tensor(means)[index, None].expand(n, 2), atol=0.25, rtol=0)
    again, same = mixture.rsample(torch.Generator().manual_seed(0))
    assert torch.equal(again, z) and torch.equal(same, index)
    assert not torch.equal(mixture.rsample(torch.Generator().manual_seed(1))[1], index)


def test_mopoe_draws_its_latent_from_each_subset_a_third_of_the_time(data, monkeypatch):
    train, _, _, tokenizer = data
    model = _build("mopoe", tokenizer).eval()
    n = 600
    image, text = (Posterior(torch.full((n, 4), m), torch.full((n, 4), -4.0)) for m in (50.0, -50.0))
    monkeypatch.setattr(model, "experts", lambda batch: (image, text))  # subsets centred at 50, -50 and 0
    with torch.no_grad():
        z = model(_batch(train, tokenizer, n), generator=torch.Generator().manual_seed(0)).z["joint"]
    picked = torch.bucketize(z.mean(-1), torch.tensor([-25.0, 25.0]))  # 0: text, 1: both, 2: image
    frequencies = torch.bincount(picked, minlength=3).float() / n
    torch.testing.assert_close(frequencies, torch.full((3,), 1 / 3), atol=0.07, rtol=0)  # ~3.6 sigma
    torch.testing.assert_close(z[picked == 1], torch.zeros_like(z[picked == 1]), atol=0.5, rtol=0)


def test_mmvae_mixture_kl_terms_estimate_the_mixtures_kl():
    """With equal components the mixture is that Gaussian: the strata's mean estimate is its closed-form KL."""
    g = torch.Generator().manual_seed(2)
    q = _random_posterior(g, batch=1, dim=3)
    many = Posterior(q.mean.expand(200_000, 3), q.logvar.expand(200_000, 3))
    z = many.rsample(g)
    estimate = (Mixture((many, many)).log_prob(z) - standard_normal_log_prob(z)).mean()
    torch.testing.assert_close(estimate, q.kl()[0], atol=0.02, rtol=0)


class _First(nn.Module):
    """A joint encoder that returns the image posterior."""

    def forward(self, image, text):
        return image


def test_jmvae_kl_terms_are_zero_when_the_posteriors_coincide_and_closed_form_otherwise(data, monkeypatch):
    train, _, _, tokenizer = data
    model = _build("jmvae", tokenizer)
    g = torch.Generator().manual_seed(3)
    q, other = _random_posterior(g, batch=4, dim=4), _random_posterior(g, batch=4, dim=4)
    batch = _batch(train, tokenizer, 4)
    model.joint_encoder = _First()
    monkeypatch.setattr(model, "experts", lambda batch: (q, q))
    out = model(batch, generator=torch.Generator().manual_seed(0))
    assert float(out.terms["joint_to_image_kl"]) == 0.0 and float(out.terms["joint_to_text_kl"]) == 0.0
    monkeypatch.setattr(model, "experts", lambda batch: (q, other))
    out = model(batch, generator=torch.Generator().manual_seed(0))
    expected = kl_divergence(Independent(Normal(q.mean, q.std), 1), Independent(Normal(other.mean, other.std), 1))
    assert float(out.terms["joint_to_image_kl"]) == 0.0
    torch.testing.assert_close(out.terms["joint_to_text_kl"], expected.mean())


# ------------------------------------------------------------------------------------------ contract


def test_families_are_registered_and_shared_term_names_have_one_kind(data):
    tokenizer = data[3]
    kinds: dict[str, set[str]] = {}
    for name in (*FAMILIES, "aligned"):
        model = _build(name, tokenizer)
        assert isinstance(model, LatentModel)
        for term in model.terms:
            kinds.setdefault(term.name, set()).add(term.kind)
            assert name == "aligned" or not (term.optional or term.required)
    assert {name: k for name, k in kinds.items() if len(k) > 1} == {}
    with pytest.raises(ConfigError, match=r"jmvae.hidden_dim"):
        MODELS.build("jmvae", {"hidden_dim": 0}, image=tiny_image_vae(), text=tiny_text_vae(tokenizer))


@pytest.mark.parametrize("name", FAMILIES)
def test_forward_returns_exactly_the_declared_terms_finite_and_repeatable(data, name):
    train, _, _, tokenizer = data
    model = _build(name, tokenizer)
    batch = _batch(train, tokenizer, 16)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)  # the tiny image encoder's dropout draws from the global generator
        runs.append(model(batch, generator=torch.Generator().manual_seed(7)))
    out = runs[0]
    assert tuple(out.terms) == model.term_names
    assert all(value.shape == () and torch.isfinite(value) for value in out.terms.values())
    assert all(torch.equal(out.terms[k], runs[1].terms[k]) for k in out.terms)
    different = model(batch, generator=torch.Generator().manual_seed(8))
    assert any(not torch.equal(out.terms[k], different.terms[k]) for k in out.terms)
    assert set(out.posteriors) >= {"image", "text"} and all(p.mean.shape == (16, 4) for p in out.posteriors.values())


@pytest.mark.parametrize("name", FAMILIES)
def test_a_learned_prior_fits_the_aggregate_posterior_of_every_family(data, name):
    """The prior stage's latents: the joint posterior's draws where the family has one (PoE, MoPoE, JMVAE
    keep only ``z["joint"]``), else the first modality's (MoE); a GMM fits them and samples decode."""
    train, val, _, tokenizer = data
    model = _build(name, tokenizer)
    latents = model.aggregate_latents(_batch(train, tokenizer, 256), torch.Generator().manual_seed(0))
    held_out = model.aggregate_latents(_batch(val, tokenizer), torch.Generator().manual_seed(1))
    assert latents.shape == (256, 4) and held_out.shape == (64, 4)
    prior, record = PRIORS.build("gmm", {"components": [1, 2]}, train_latents=latents, val_latents=held_out, seed=0)
    assert record["chosen_components"] in (1, 2) and math.isfinite(record["validation_log_likelihood"])
    assert prior.sample(8, torch.Generator().manual_seed(0)).shape == (8, 4)


def _parts_trained_by(model, batch, terms):
    """Which parts of ``model`` get a non-zero gradient from the sum of ``terms``."""
    model.zero_grad(set_to_none=True)
    out = model(batch, generator=torch.Generator().manual_seed(0))
    sum(out.terms[name] for name in terms).backward()
    reached = set()
    for part in PARTS:
        try:
            module = model.get_submodule(part)
        except AttributeError:  # only jmvae has a joint encoder
            continue
        if any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters()):
            reached.add(part)
    return reached


@pytest.mark.parametrize(
    ("name", "terms", "parts"),
    [
        ("poe", ("image_reconstruction", "image_kl"), {"image.encoder", "image.decoder"}),
        ("poe", ("text_reconstruction", "text_kl"), {"text.encoder", "text.decoder"}),
        ("poe", ("joint_image_reconstruction", "joint_text_reconstruction"), set(PARTS[:4])),
        ("poe", ("joint_kl",), {"image.encoder", "text.encoder"}),
        ("moe", ("image_from_text",), {"text.encoder", "image.decoder"}),
        ("moe", ("text_from_image",), {"image.encoder", "text.decoder"}),
        ("moe", ("image_mixture_kl", "text_mixture_kl"), {"image.encoder", "text.encoder"}),
        ("mopoe", ("joint_image_reconstruction", "joint_text_reconstruction"), set(PARTS[:4])),
        ("mopoe", ("joint_kl",), {"image.encoder", "text.encoder"}),
        ("jmvae", ("joint_image_reconstruction", "joint_text_reconstruction", "joint_kl"), set(PARTS)),
        ("jmvae", ("joint_to_image_kl",), {"image.encoder", "text.encoder", "joint_encoder"}),
    ],
)
def test_each_term_trains_the_parts_it_should(data, name, terms, parts):
    train, _, _, tokenizer = data
    model = _build(name, tokenizer)
    assert _parts_trained_by(model, _batch(train, tokenizer, 16), terms) == parts


def test_mvae_encodes_one_modality_as_the_prior_times_its_expert(data):
    train, _, _, tokenizer = data
    model = _build("poe", tokenizer).eval()
    batch = _batch(train, tokenizer, 8)
    expert = model.text.encode(batch.text)
    encoded = model.encode("text", batch.text)
    product = product_of_experts([expert], prior_expert=True)
    torch.testing.assert_close(encoded.mean, product.mean)
    torch.testing.assert_close(encoded.logvar, product.logvar)
    assert bool((encoded.variance < 1).all())
    out = model(batch, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out.posteriors["text"].mean, encoded.mean)


# ------------------------------------------------------------------------------------------ learning


def _held_out(model, dataset, tokenizer):
    """The sum of the terms on held-out pairs (fixed noise), and how often the image generated from a
    caption's posterior mean has its bright row (the synthetic class marker) at the caption's class."""
    model.eval()
    with torch.no_grad():
        batch = _batch(dataset, tokenizer)
        loss = sum(float(v) for v in model(batch, generator=torch.Generator().manual_seed(0)).terms.values())
        images = model.decode("image", model.encode("text", batch.text).mean)
    model.train()
    accuracy = float((images[:, 0].mean(-1).argmax(-1) == dataset.labels).float().mean())
    return loss, accuracy


@pytest.mark.parametrize("name", FAMILIES)
def test_each_family_trains_and_generates_images_from_captions(tmp_path, data, name):
    train, val, test, tokenizer = data
    model = _build(name, tokenizer)
    loss_before, accuracy_before = _held_out(model, test, tokenizer)
    config = {"epochs": 40, "batch_size": 32, "seed": 0, "quiet": True, "device": "cpu", "num_threads": 1,
              "log_every": 320, "optimizer": {"name": "adam", "lr": 1e-2}}
    started = time.perf_counter()
    TRAINERS.build("annealing", config, model=model, run_dir=tmp_path, tokenizer=tokenizer).fit(train, val)
    seconds = time.perf_counter() - started
    loss_after, accuracy_after = _held_out(model, test, tokenizer)
    print(f"\n{name}: {seconds:.1f} s; held-out loss {loss_before:.1f} -> {loss_after:.1f}, "
          f"text->image class accuracy {accuracy_before:.2f} -> {accuracy_after:.2f} (chance 0.125)")
    records = [json.loads(line) for line in (tmp_path / "metrics" / "validation.jsonl").read_text().splitlines()]
    assert len(records) == 40 and set(model.term_names) <= set(records[0])
    assert loss_after < 0.6 * loss_before
    # untrained, about chance (1/8); trained, a broken family (no cross-modal coupling) stays near it
    assert accuracy_after >= 0.8


@pytest.mark.parametrize("name", FAMILIES)
def test_a_saved_and_reloaded_family_gives_the_same_outputs(tmp_path, data, name):
    train, _, _, tokenizer = data
    config = {"hidden_dim": 16} if name == "jmvae" else {}
    model = _build(name, tokenizer, seed=0, config=config).eval()
    with torch.no_grad():  # move every weight off its initial value
        for parameter in model.parameters():
            parameter.add_(0.01 * torch.randn_like(parameter))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "model.safetensors")
    reloaded = _build(name, tokenizer, seed=1, config=config).eval()
    reloaded.load_state_dict(load_file(tmp_path / "model.safetensors"))
    batch = _batch(train, tokenizer, 8)
    with torch.no_grad():
        outputs = [m(batch, generator=torch.Generator().manual_seed(0)) for m in (model, reloaded)]
        for key in outputs[0].terms:
            assert torch.equal(outputs[0].terms[key], outputs[1].terms[key]), key
        for modality, x in (("image", batch.images), ("text", batch.text)):
            a, b = model.encode(modality, x), reloaded.encode(modality, x)
            assert torch.equal(a.mean, b.mean) and torch.equal(a.logvar, b.logvar)
            assert torch.equal(model.decode(modality, a.mean), reloaded.decode(modality, b.mean))
