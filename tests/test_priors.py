"""Learned latent priors: the Gaussian mixture matches scikit-learn's EM and the true density, the MAF is an
exact, normalised change of variables that beats a Gaussian on two moons, the VampPrior is the mixture of
its pseudo-inputs' posteriors and owns only them, folders round-trip and reject damage, and the Monte-Carlo
KL is unbiased."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from remvae.core.config import ConfigError
from remvae.core.distributions import FullGaussian, Posterior
from remvae.core.prior import StandardNormal
from remvae.core.registry import UnknownComponentError
from remvae.playground.priors import (
    PRIORS,
    GaussianMixturePrior,
    MaskedAutoregressiveFlowPrior,
    PriorFileError,
    VampPrior,
    fit_gaussian_mixture,
    fit_prior,
    kl_monte_carlo,
    load_prior,
    mean_log_prob,
    save_prior,
)
from remvae.playground.priors.flow import MADE

SMALL_MAF = {"layers": 4, "hidden": 32, "epochs": 60, "batch_size": 200, "lr": 5e-3, "patience": 10}


def _true_mixture(dim: int, seed: int) -> MixtureSameFamily:
    """Three full-covariance Gaussians, weights 0.5 / 0.3 / 0.2, means ~ N(0, 16 I)."""
    g = torch.Generator().manual_seed(seed)
    means = 4 * torch.randn(3, dim, generator=g, dtype=torch.float64)
    lower = 0.3 * torch.randn(3, dim, dim, generator=g, dtype=torch.float64).tril(-1)
    tril = lower + torch.diag_embed(torch.rand(3, dim, generator=g, dtype=torch.float64) + 0.3)
    weights = Categorical(torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64))
    return MixtureSameFamily(weights, MultivariateNormal(means, scale_tril=tril))


def _moons(n: int, seed: int) -> torch.Tensor:
    points, _ = make_moons(n, noise=0.05, random_state=seed)
    return torch.tensor(points, dtype=torch.float32)


def _grid_integral(prior: torch.nn.Module, low: tuple[float, float], high: tuple[float, float]) -> float:
    """Riemann sum of exp(log p) over a 400 x 400 grid on the box [low, high]."""
    xs, ys = torch.linspace(low[0], high[0], 400), torch.linspace(low[1], high[1], 400)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="ij"), dim=-1).reshape(-1, 2)
    with torch.no_grad():
        density = prior.log_prob(grid).double().exp()
    return density.sum().item() * (xs[1] - xs[0]).item() * (ys[1] - ys[0]).item()


# ------------------------------------------------------------------------------------ Gaussian mixture


@pytest.mark.parametrize("dim", [2, 8])
def test_gmm_matches_sklearn_and_the_true_density_and_validation_picks_three(dim):
    torch.manual_seed(dim)
    true = _true_mixture(dim, seed=dim)
    train, val, test = true.sample((3000,)), true.sample((1000,)), true.sample((2000,))
    prior, info = fit_prior("gmm", {"components": [1, 2, 3, 6]}, train.float(), val.float(), seed=0)

    assert info["chosen_components"] == prior.components == 3
    assert set(info["candidates"]) == {"1", "2", "3", "6"}
    scores = {int(k): v["validation_log_likelihood"] for k, v in info["candidates"].items()}
    assert scores[3] == max(scores.values()) == info["validation_log_likelihood"]
    assert scores[3] > scores[2] + 0.1  # one component short costs more than sampling noise (~0.02)

    ours = mean_log_prob(prior, test.float())
    reference = GaussianMixture(3, covariance_type="full", n_init=3, tol=1e-4, max_iter=200, random_state=0)
    sklearn_score = reference.fit(train.numpy()).score(test.numpy())
    truth = true.log_prob(test).mean().item()
    assert abs(ours - sklearn_score) < 0.01, (ours, sklearn_score)  # nats per item: the same optimum
    assert abs(ours - truth) < 0.05, (ours, truth)  # ~ parameters / (2 N) of overfitting, plus noise


def test_gmm_log_prob_is_the_mixture_density_it_samples_from():
    torch.manual_seed(0)
    true = _true_mixture(2, seed=2)
    prior, _ = fit_gaussian_mixture(true.sample((1500,)).float(), 3, seed=1, restarts=2)
    reference = MixtureSameFamily(
        Categorical(logits=prior.log_weights), MultivariateNormal(prior.means, scale_tril=prior.scale_tril)
    )
    z = torch.randn(50, 2) * 4
    torch.testing.assert_close(prior.log_prob(z), reference.log_prob(z), rtol=1e-5, atol=1e-4)
    assert abs(_grid_integral(prior, (-16.0, -16.0), (16.0, 16.0)) - 1.0) < 0.01

    first = prior.sample(20_000, torch.Generator().manual_seed(3))
    assert torch.equal(first, prior.sample(20_000, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, prior.sample(20_000, torch.Generator().manual_seed(4)))
    weights = prior.log_weights.exp()
    mean = weights @ prior.means
    second_moment = torch.einsum("k,kij->ij", weights, prior.scale_tril @ prior.scale_tril.mT)
    second_moment += torch.einsum("k,ki,kj->ij", weights, prior.means, prior.means)
    torch.testing.assert_close(first.mean(0), mean, atol=0.1, rtol=0)
    torch.testing.assert_close(torch.cov(first.T), second_moment - torch.outer(mean, mean), atol=0.3, rtol=0.05)


def test_gmm_config_rejects_bad_candidates():
    with pytest.raises(ConfigError, match="components"):
        fit_prior("gmm", {"components": [3, 3]}, torch.randn(10, 2), torch.randn(5, 2), seed=0)
    with pytest.raises(ValueError, match="cannot fit 20 mixture components to 10 latents"):
        fit_prior("gmm", {"components": [20]}, torch.randn(10, 2), torch.randn(5, 2), seed=0)


# ----------------------------------------------------------------------------------------------- MAF


@pytest.fixture(scope="module")
def moons_maf():
    train, val, test = _moons(2000, 0), _moons(500, 1), _moons(1000, 2)
    prior, info = fit_prior("maf", SMALL_MAF, train, val, seed=0)
    return prior, info, train, val, test


def test_maf_beats_a_gaussian_on_two_moons_and_keeps_its_best_validation_state(moons_maf):
    prior, info, train, val, test = moons_maf
    assert isinstance(prior, MaskedAutoregressiveFlowPrior) and prior.shape() == {"layers": 4, "hidden": 32}
    mean, covariance = train.double().mean(0), torch.cov(train.double().T)
    gaussian = MultivariateNormal(mean, covariance).log_prob(test.double()).mean().item()
    flow = mean_log_prob(prior, test)
    assert flow > gaussian + 1.0, (flow, gaussian)  # measured: -0.48 against -1.89 nats per point
    assert info["validation_log_likelihood"] == pytest.approx(mean_log_prob(prior, val), abs=1e-5)
    assert 1 <= info["best_epoch"] <= info["epochs_run"] <= SMALL_MAF["epochs"]


def test_maf_density_integrates_to_one_and_its_samples_are_reproducible(moons_maf):
    prior = moons_maf[0]
    assert abs(_grid_integral(prior, (-3.0, -2.5), (4.0, 3.0)) - 1.0) < 0.01
    with torch.no_grad():
        samples = prior.sample(500, torch.Generator().manual_seed(0))
        assert torch.isfinite(prior.log_prob(samples)).all()
        assert torch.equal(samples, prior.sample(500, torch.Generator().manual_seed(0)))
        assert not torch.equal(samples, prior.sample(500, torch.Generator().manual_seed(1)))


def test_maf_inverse_is_exact(moons_maf):
    prior, *_, test = moons_maf
    with torch.no_grad():
        u, _ = prior.to_base(test)
        torch.testing.assert_close(prior.from_base(u), test, atol=1e-5, rtol=1e-5)
        base = torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(prior.to_base(prior.from_base(base))[0], base, atol=1e-4, rtol=1e-4)


def test_maf_log_prob_is_the_change_of_variables_with_the_autograd_jacobian(moons_maf):
    prior = copy.deepcopy(moons_maf[0]).double()
    points = moons_maf[4][:5].double()
    expected = []
    for z in points:
        jacobian = torch.autograd.functional.jacobian(lambda x: prior.to_base(x[None])[0][0], z)
        u = prior.to_base(z[None])[0][0]
        log_base = -0.5 * (u.pow(2).sum() + 2 * math.log(2 * math.pi))
        expected.append(log_base + torch.linalg.slogdet(jacobian).logabsdet)
    with torch.no_grad():
        torch.testing.assert_close(prior.log_prob(points), torch.stack(expected), atol=1e-9, rtol=1e-9)


def test_made_output_depends_only_on_earlier_inputs_in_its_order():
    torch.manual_seed(0)
    order = torch.tensor([2, 0, 3, 1])
    made = MADE(4, 64, order)
    nn.init.normal_(made.net[-1].weight)  # the zero start would hide any connection
    position = torch.empty(4, dtype=torch.long)
    position[order] = torch.arange(4)
    allowed = position[None, :] < position[:, None]  # output d may see input e iff e comes before d
    for head in range(2):  # mu, then alpha
        sensitivity = torch.zeros(4, 4)
        for x in torch.randn(10, 4):  # several points, as a ReLU can switch a path off at any one
            sensitivity += torch.autograd.functional.jacobian(lambda x: made(x[None])[head][0], x).abs()
        assert torch.all(sensitivity[~allowed] == 0)
        assert torch.all(sensitivity[allowed] > 0)


def test_maf_training_is_deterministic_given_the_seed():
    train, val = _moons(400, 3), _moons(100, 4)
    config = {"layers": 2, "hidden": 16, "epochs": 3, "batch_size": 100}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        first, _ = fit_prior("maf", config, train, val, seed=5)
        again, _ = fit_prior("maf", config, train, val, seed=5)
        other, _ = fit_prior("maf", config, train, val, seed=6)
    finally:
        torch.set_num_threads(threads)
    for key, value in first.state_dict().items():
        assert torch.equal(value, again.state_dict()[key]), key
    assert not all(torch.equal(v, other.state_dict()[k]) for k, v in first.state_dict().items())
    # The state is the weights and the standardisation; the MADE masks are rebuilt, not stored.
    assert set(first.state_dict()) == {k for k, _ in first.named_parameters()} | {"shift", "log_scale"}


# ------------------------------------------------------------------------------------------ VampPrior


class _LinearEncoder(nn.Module):
    def __init__(self, inputs: int, latent_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(inputs, 2 * latent_dim)

    def forward(self, x: torch.Tensor) -> Posterior:
        mean, logvar = self.linear(x).chunk(2, dim=-1)
        return Posterior(mean, logvar)


def test_vamp_log_prob_is_the_hand_computed_mixture_and_trains_its_pseudo_inputs():
    torch.manual_seed(0)
    encoder = _LinearEncoder(3, 2).double()
    prior = VampPrior(encoder, 2, torch.randn(2, 3, dtype=torch.float64))
    z = torch.randn(4, 2, dtype=torch.float64)

    with torch.no_grad():
        out = encoder.linear(prior.pseudo_inputs)
    expected = []
    for point in z.tolist():
        per_component = []
        for k in range(2):
            mean, logvar = out[k, :2].tolist(), out[k, 2:].tolist()
            terms = [math.log(2 * math.pi) + v + (x - m) ** 2 / math.exp(v) for x, m, v in zip(point, mean, logvar)]
            per_component.append(-0.5 * sum(terms))
        expected.append(math.log(0.5 * (math.exp(per_component[0]) + math.exp(per_component[1]))))
    log_prob = prior.log_prob(z)
    torch.testing.assert_close(log_prob, torch.tensor(expected, dtype=torch.float64), atol=1e-12, rtol=1e-12)

    (-log_prob.mean()).backward()
    assert prior.pseudo_inputs.grad is not None and prior.pseudo_inputs.grad.abs().sum() > 0
    assert torch.isfinite(prior.pseudo_inputs.grad).all()
    assert encoder.linear.weight.grad is not None  # the model's encoder learns through the prior too


def test_vamp_owns_only_its_pseudo_inputs_and_samples_reproducibly():
    encoder = _LinearEncoder(6, 3)
    prior = VampPrior.uniform(encoder, 3, 5, (2, 3), generator=torch.Generator().manual_seed(0), low=-1.0)
    assert list(prior.state_dict()) == ["pseudo_inputs"]
    assert [name for name, _ in prior.named_parameters()] == ["pseudo_inputs"]
    assert prior.pseudo_inputs.shape == (5, 2, 3)
    assert prior.pseudo_inputs.min() >= -1 and prior.pseudo_inputs.max() < 1
    again = VampPrior.uniform(encoder, 3, 5, (2, 3), generator=torch.Generator().manual_seed(0), low=-1.0)
    assert torch.equal(prior.pseudo_inputs, again.pseudo_inputs)

    flat = VampPrior(lambda u: encoder(u.flatten(1)), 3, prior.pseudo_inputs)
    with torch.no_grad():
        samples = flat.sample(40_000, torch.Generator().manual_seed(1))
        assert torch.equal(samples, flat.sample(40_000, torch.Generator().manual_seed(1)))
        components = flat.component_posteriors()
    # The mixture's mean is the mean of its components' means.
    torch.testing.assert_close(samples.mean(0), components.mean.mean(0), atol=0.03, rtol=0)


# ----------------------------------------------------------------------------------------- save / load


@pytest.fixture(scope="module")
def fitted(moons_maf):
    gmm, gmm_info = fit_prior("gmm", {"components": [1, 2]}, _moons(300, 5), _moons(100, 6), seed=0)
    return {"gmm": (gmm, gmm_info), "maf": moons_maf[:2]}


@pytest.mark.parametrize("name", ["gmm", "maf"])
def test_save_load_round_trip_gives_the_same_density_and_draws(fitted, tmp_path, name):
    prior, info = fitted[name]
    folder = save_prior(prior, tmp_path / "prior", info)
    loaded, loaded_info = load_prior(folder)
    assert type(loaded) is type(prior) and loaded_info == json.loads(json.dumps(info))
    assert loaded.config == prior.config
    record = json.loads((folder / "prior.json").read_text())
    assert {k: record[k] for k in ("format", "version", "name", "latent_dim")} == {
        "format": "remvae-prior", "version": 1, "name": name, "latent_dim": 2,
    }
    assert record["shape"] == prior.shape()
    z = _moons(64, 7)
    with torch.no_grad():
        assert torch.equal(loaded.log_prob(z), prior.log_prob(z))
        draws = loaded.sample(32, torch.Generator().manual_seed(9))
        assert torch.equal(draws, prior.sample(32, torch.Generator().manual_seed(9)))

    save_prior(prior, folder, {"again": True})  # replaces the folder, leaves nothing beside it
    assert load_prior(folder)[1] == {"again": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prior"]


def _truncate(folder: Path) -> None:
    path = folder / "prior.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_record(**changes):
    def edit(folder: Path) -> None:
        record = json.loads((folder / "prior.json").read_text())
        record.update(changes)
        (folder / "prior.json").write_text(json.dumps(record))

    return edit


DAMAGE = {
    "truncated tensors": (_truncate, "prior.safetensors: not a readable safetensors file"),
    "no tensors": (lambda f: (f / "prior.safetensors").unlink(), "prior.safetensors: missing"),
    "no record": (lambda f: (f / "prior.json").unlink(), "prior.json: missing"),
    "record not JSON": (lambda f: (f / "prior.json").write_text('{"format": "remvae-prior",'), "prior.json: not JSON"),
    "foreign format": (_edit_record(format="remvae-checkpoint"), "prior.json: format is 'remvae-checkpoint'"),
    "newer version": (_edit_record(version=2), "prior.json: version 2 is not supported"),
    "unknown prior": (_edit_record(name="vamp"), "prior.json: prior 'vamp' is not one of gmm, maf"),
    "tensors of another K": (_edit_record(shape={"components": 3}), "prior.safetensors: tensor 'log_weights'"),
    "another latent_dim": (_edit_record(latent_dim=4), "prior.safetensors: tensor"),
    "bad shape field": (_edit_record(shape={"layers": 2}), "prior.json: latent_dim and shape"),
    "bad config": (_edit_record(config={"components": [0]}), "prior.json: config.components"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_folders_raise_a_one_line_prior_file_error(fitted, tmp_path, damage):
    harm, expected = DAMAGE[damage]
    prior, info = fitted["gmm"]
    folder = save_prior(prior, tmp_path / "prior", info)
    harm(folder)
    with pytest.raises(PriorFileError) as caught:
        load_prior(folder)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    assert expected in message, message


def test_save_refuses_priors_it_cannot_rebuild(tmp_path):
    vamp = VampPrior(_LinearEncoder(3, 2), 2, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="save_prior saves gmm, maf priors, not VampPrior"):
        save_prior(vamp, tmp_path / "prior", {})
    assert not (tmp_path / "prior").exists()


# ----------------------------------------------------------------------------------------- registry, KL


def test_fit_prior_dispatches_through_the_registry():
    assert {"gmm", "maf"} <= set(PRIORS.names())
    assert PRIORS.get("maf").description.startswith("Masked autoregressive flow")
    latents = torch.randn(20, 2)
    with pytest.raises(UnknownComponentError, match="unknown prior 'mof'.*did you mean 'maf'"):
        fit_prior("mof", {}, latents, latents, seed=0)
    with pytest.raises(ConfigError, match="maf.width: unknown key"):
        fit_prior("maf", {"width": 3}, latents, latents, seed=0)
    with pytest.raises(ValueError, match="2-D but validation latents 3-D"):
        fit_prior("gmm", {"components": [1]}, latents, torch.randn(5, 3), seed=0)
    prior, info = fit_prior("gmm", {"components": [1]}, latents, latents, seed=0)
    assert isinstance(prior, GaussianMixturePrior) and info["name"] == "gmm" and info["seconds"] >= 0
    assert info["config"]["components"] == [1] and info["train_items"] == 20


def test_kl_monte_carlo_averages_to_the_analytic_kl():
    g = torch.Generator().manual_seed(0)
    posterior = Posterior(torch.randn(3, 4, generator=g), 0.5 * torch.randn(3, 4, generator=g))
    draws = 50_000
    repeated = Posterior(posterior.mean.repeat(draws, 1), posterior.logvar.repeat(draws, 1))
    z = repeated.rsample(g)

    gaussian = GaussianMixturePrior(4, 1)
    gaussian.means.copy_(torch.randn(1, 4, generator=g))
    gaussian.scale_tril.copy_(torch.eye(4) + 0.3 * torch.randn(4, 4, generator=g).tril(-1))
    analytic = {
        "standard normal": (StandardNormal(4), posterior.kl()),
        "full-covariance Gaussian": (gaussian, FullGaussian(gaussian.means, gaussian.scale_tril).kl_from(posterior)),
    }
    for label, (prior, exact) in analytic.items():
        estimates = kl_monte_carlo(repeated, z, prior).view(draws, 3).double()
        error = (estimates.mean(0) - exact.double()).abs()
        standard_error = estimates.std(0) / math.sqrt(draws)
        assert torch.all(error < 4 * standard_error + 1e-4), (label, error, standard_error)
