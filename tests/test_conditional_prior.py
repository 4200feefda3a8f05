"""The conditional prior p(z | caption): its KL and draws are right, fitting it recovers the moments of
a caption's image posteriors, it trains nothing else, and it is saved, reloaded and evaluated."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

import remvae
from remvae import experiment
from remvae.core.distributions import FullGaussian, Posterior
from remvae.core.evaluator import EvaluationContext
from remvae.core.model import Batch, CapabilityError
from remvae.core.registry import EVALUATORS, TRAINERS
from remvae.core.runfolder import RunFolder
from remvae.modelspec import ModelSpec
from remvae.playground.models.conditional_prior import ConditionalPrior


def _random_tril(batch: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    lower = torch.randn(batch, dim, dim, generator=generator).tril(-1) * 0.5
    return lower + torch.diag_embed(torch.rand(batch, dim, generator=generator) + 0.3)


def test_kl_from_a_diagonal_posterior_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    posterior = Posterior(torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g))
    prior = FullGaussian(torch.randn(5, 4, generator=g), _random_tril(5, 4, g))
    expected = kl_divergence(
        MultivariateNormal(posterior.mean, scale_tril=torch.diag_embed(posterior.std)),
        MultivariateNormal(prior.mean, scale_tril=prior.scale_tril),
    )
    torch.testing.assert_close(prior.kl_from(posterior), expected)
    same = FullGaussian(posterior.mean, torch.diag_embed(posterior.std))
    torch.testing.assert_close(same.kl_from(posterior), torch.zeros(5), atol=1e-5, rtol=0)


def test_draws_have_the_priors_mean_and_scaled_covariance():
    g = torch.Generator().manual_seed(1)
    tril = _random_tril(1, 3, g)
    prior = FullGaussian(torch.tensor([[1.0, -2.0, 0.5]]).expand(200_000, 3), tril.expand(200_000, 3, 3))
    draws = prior.rsample(torch.Generator().manual_seed(2), scale=0.5)
    torch.testing.assert_close(draws.mean(0), prior.mean[0], atol=0.01, rtol=0)
    torch.testing.assert_close(torch.cov(draws.T), 0.25 * tril[0] @ tril[0].T, atol=0.01, rtol=0)


def test_an_untrained_prior_is_a_unit_gaussian_around_the_text_mean():
    text = Posterior(torch.randn(3, 6), torch.randn(3, 6))
    prior = ConditionalPrior(latent_dim=6, hidden_dim=16)(text)
    torch.testing.assert_close(prior.mean, text.mean)
    torch.testing.assert_close(prior.scale_tril, torch.eye(6).expand(3, 6, 6), atol=1e-3, rtol=0)


def test_fitting_recovers_the_moments_of_each_captions_image_posteriors():
    """Two captions, each describing images whose posteriors form a correlated cloud: minimising the
    expected KL(q_img || p(z|caption)) must give the cloud's mean and E[diag sigma^2] + Cov[mu]."""
    torch.manual_seed(0)
    dim, n = 3, 4096
    centres = torch.tensor([[2.0, 0.0, -1.0], [-2.0, 1.0, 0.0]])
    mixing = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.4, 0.0], [-0.3, 0.2, 0.5]])
    caption = torch.randint(0, 2, (n,))
    image_means = centres[caption] + torch.randn(n, dim) @ mixing.T
    image_logvar = torch.full((n, dim), -2.0)
    text = Posterior(torch.nn.functional.one_hot(caption, dim).float(), torch.zeros(n, dim))
    prior = ConditionalPrior(dim, hidden_dim=32)
    optimizer = torch.optim.Adam(prior.parameters(), lr=1e-2)
    for _ in range(600):
        optimizer.zero_grad()
        prior(text).kl_from(Posterior(image_means, image_logvar)).mean().backward()
        optimizer.step()
    fitted = prior(Posterior(torch.eye(dim)[:2], torch.zeros(2, dim)))
    for c in range(2):
        cloud = image_means[caption == c]
        covariance = torch.cov(cloud.T) + torch.diag(image_logvar[0].exp())
        torch.testing.assert_close(fitted.mean[c], cloud.mean(0), atol=0.05, rtol=0)
        torch.testing.assert_close(fitted.scale_tril[c] @ fitted.scale_tril[c].T, covariance, atol=0.08, rtol=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model with a conditional prior, trained one epoch the way train.py does it."""
    run_dir = tmp_path_factory.mktemp("run")
    train_set, _ = experiment.training_data("bundled_digits", {"image_size": 28}, 1024)
    tokenizer = experiment.fit_tokenizer(train_set)
    spec = ModelSpec("aligned", {"conditional_prior": {"hidden_dim": 32}}, "conv", {"latent_dim": 8, "widths": [8, 16]},
                     "gru", {"latent_dim": 8, "hidden_dim": 32})
    spec.save(RunFolder(run_dir))
    model = spec.build(tokenizer, seed=0)
    trainer = TRAINERS.build(
        "simple", {"epochs": 3, "batch_size": 32, "quiet": True, "device": "cpu", "weights": {"conditional_prior": 1.0},
                   "optimizer": {"name": "adam", "lr": 3e-3}},
        model=model, run_dir=run_dir, tokenizer=tokenizer,
    )
    trainer.fit(train_set)
    test_set = experiment.test_data("bundled_digits", {"image_size": 28}, 64)
    return run_dir, model.eval(), tokenizer, train_set, test_set


def test_the_prior_term_trains_only_the_conditional_prior(trained):
    _, model, tokenizer, train_set, _ = trained
    images = train_set.images[:8].float() / 255
    text = tokenizer.encode_batch(train_set.captions[:8], 16)
    model.zero_grad()
    out = model(Batch(images, text, 8), terms={"conditional_prior"})
    out.terms["conditional_prior"].backward()
    reached = {name for name, p in model.named_parameters() if p.grad is not None and bool(p.grad.abs().sum() > 0)}
    model.zero_grad()
    assert reached and all(name.startswith("prior_net.") for name in reached), reached


def test_training_fits_the_prior_to_the_image_posteriors(trained):
    """After training, each caption's prior is far closer to its images' posteriors than N(0, I) is."""
    _, model, tokenizer, train_set, _ = trained
    images = train_set.images[:256].float() / 255
    text = tokenizer.encode_batch(train_set.captions[:256], 16)
    with torch.no_grad():
        image_posterior = model.encode("image", images)
        fitted = model.conditional_prior(text).kl_from(image_posterior).mean()
        standard = image_posterior.kl().mean()
    assert float(fitted) < 0.5 * float(standard)


def test_a_saved_run_reloads_to_the_same_prior_and_seeded_draws(trained):
    run_dir, model, tokenizer, _, test_set = trained
    loaded = remvae.load(run_dir, checkpoint="last")
    captions = test_set.captions[:6]
    text = tokenizer.encode_batch(captions, loaded.max_length)
    with torch.no_grad():
        expected = model.conditional_prior(text)
        z = expected.rsample(torch.Generator().manual_seed(5), 0.7)
        expected_images = model.decode("image", z)
    prior = loaded.text_prior(captions)
    torch.testing.assert_close(prior.mean, expected.mean)
    torch.testing.assert_close(prior.scale_tril, expected.scale_tril)
    torch.testing.assert_close(loaded.text_to_image(captions, sample=True, seed=5, prior_scale=0.7), expected_images)
    wide = loaded.text_to_image(captions * 8, sample=True, seed=1, prior_scale=1.0)
    narrow = loaded.text_to_image(captions * 8, sample=True, seed=1, prior_scale=0.2)
    assert float(wide.var(0).mean()) > float(narrow.var(0).mean())


def test_evaluators_generate_from_the_prior_and_refuse_a_model_without_one(trained):
    _, model, tokenizer, _, test_set = trained
    context = EvaluationContext(model=model, tokenizer=tokenizer, test_set=test_set, dataset="mnist", seed=0)
    config = {"sample": True, "conditional_prior": True, "prior_scale": 0.7, "top_k": [1]}
    metrics = EVALUATORS.build("cross_modal", config).evaluate(context)
    assert 0.0 <= metrics["text_to_image_top1"] <= 1.0 and metrics["text_to_image_class_fid"] >= 0.0
    fid = EVALUATORS.build("judge_fid", {**{k: v for k, v in config.items() if k != "top_k"},
                                         "sets": ["text_to_image"]}).evaluate(context)
    assert fid["text_to_image_fid"] >= 0.0

    bare_model = ModelSpec("aligned", {}, "conv", {"latent_dim": 8, "widths": [8, 16]}, "gru",
                           {"latent_dim": 8, "hidden_dim": 32}).build(tokenizer)
    bare = EvaluationContext(model=bare_model, tokenizer=tokenizer, test_set=test_set, dataset="mnist", seed=0)
    with pytest.raises(CapabilityError, match="no conditional prior"):
        EVALUATORS.build("cross_modal", config).evaluate(bare)


def test_the_prior_term_exists_only_with_a_prior_and_must_then_be_weighted(tmp_path):
    train_set, _ = experiment.training_data("bundled_digits", {"image_size": 28}, 64)
    tokenizer = experiment.fit_tokenizer(train_set)
    parts = ("conv", {"latent_dim": 8, "widths": [8, 16]}, "gru", {"latent_dim": 8})
    model = ModelSpec("aligned", {}, *parts).build(tokenizer)
    with pytest.raises(ValueError, match=r"weights.conditional_prior: not a loss term of this model"):
        TRAINERS.build("simple", {"weights": {"conditional_prior": 1.0}, "quiet": True}, model=model, run_dir=tmp_path,
                       tokenizer=tokenizer)
    with_prior = ModelSpec("aligned", {"conditional_prior": {}}, *parts).build(tokenizer)
    assert TRAINERS.build("simple", {"quiet": True}, model=with_prior, run_dir=tmp_path,
                          tokenizer=tokenizer).objective.weights["conditional_prior"] == 1.0  # trained by default
    with pytest.raises(ValueError, match=r"weights.conditional_prior: must be positive"):
        TRAINERS.build("simple", {"weights": {"conditional_prior": 0.0}, "quiet": True}, model=with_prior,
                       run_dir=tmp_path, tokenizer=tokenizer)


def test_the_kl_stays_finite_for_extreme_network_outputs():
    """The covariance is A A^T + 0.01^2 I, so L^-1 cannot overflow however ill-conditioned A gets."""
    torch.manual_seed(0)
    prior = ConditionalPrior(latent_dim=32, hidden_dim=16)
    with torch.no_grad():
        prior.net[-1].weight.normal_(0.0, 30.0)
        prior.net[-1].bias.normal_(0.0, 30.0)
    fitted = prior(Posterior(torch.randn(64, 32) * 5, torch.randn(64, 32) * 5))
    kl = fitted.kl_from(Posterior(torch.randn(64, 32) * 10, torch.full((64, 32), -20.0)))
    assert bool(torch.isfinite(kl).all())
