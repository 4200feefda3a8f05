"""KL annealing schedules (values at known steps) and alignment losses (zero, positive, differentiable)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from remvae.core.config import ConfigError
from remvae.core.distributions import Posterior
from remvae.core.registry import ALIGNMENTS, SCHEDULES


def test_every_schedule_and_alignment_is_registered():
    assert {"constant", "linear", "logistic", "scaled_logistic", "cyclical"} <= set(SCHEDULES.names())
    assert {"reference", "symmetric_kl", "kl"} <= set(ALIGNMENTS.names())


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("constant", {"value": 0.3}, {0: 0.3, 50: 0.3, 100: 0.3}),
        ("linear", {}, {0: 0.0, 25: 0.25, 50: 0.5, 100: 1.0, 150: 1.0}),
        ("linear", {"start": 0.2, "end": 1.0, "warmup": 0.5}, {0: 0.2, 25: 0.6, 50: 1.0, 80: 1.0}),
        ("logistic", {}, {0: 1 / (1 + math.exp(5)), 50: 0.5, 100: 1 / (1 + math.exp(-5))}),
        ("logistic", {"midpoint": 0.2, "steepness": 50}, {20: 0.5, 0: 1 / (1 + math.exp(10))}),
        ("scaled_logistic", {"scale": 2.0}, {50: 1.0, 100: 2 / (1 + math.exp(-5))}),
        # Fu et al.: T = 100, M = 2 cycles of 50 steps, the first R = 0.5 of each (25 steps) rising.
        ("cyclical", {"cycles": 2, "ratio": 0.5}, {0: 0.0, 10: 0.4, 25: 1.0, 49: 1.0, 50: 0.0, 60: 0.4, 99: 1.0}),
        ("cyclical", {"cycles": 4, "ratio": 1.0, "max_beta": 0.5}, {0: 0.0, 5: 0.1, 25: 0.0, 30: 0.1}),
    ],
)
def test_schedule_values_at_known_steps(name, config, expected):
    beta = SCHEDULES.build(name, config)
    for step, value in expected.items():
        assert beta(step, 100) == pytest.approx(value, abs=1e-12), (name, config, step)


def test_logistic_is_monotone_bounded_and_does_not_overflow():
    beta = SCHEDULES.build("scaled_logistic", {"scale": 3.0, "steepness": 5000.0})
    values = [beta(step, 1000) for step in range(0, 1001, 10)]
    assert all(0.0 <= v <= 3.0 for v in values)
    assert values == sorted(values) and values[0] == 0.0 and values[-1] == 3.0


@pytest.mark.parametrize(
    ("name", "config", "field"),
    [("cyclical", {"ratio": 0.0}, "cyclical.ratio"), ("linear", {"warmup": 2}, "linear.warmup"),
     ("scaled_logistic", {"scale": -1}, "scaled_logistic.scale"), ("constant", {"vlaue": 1}, "constant.vlaue")],
)
def test_bad_schedule_configs_name_the_field(name, config, field):
    with pytest.raises(ConfigError, match=field):
        SCHEDULES.build(name, config)


def _posteriors(seed: int, batch: int = 6, dim: int = 5) -> tuple[Posterior, Posterior]:
    g = torch.Generator().manual_seed(seed)
    a = Posterior(torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g))
    b = Posterior(torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g))
    return a, b


@pytest.mark.parametrize("name", ["reference", "symmetric_kl", "kl"])
def test_alignment_is_zero_for_identical_positive_otherwise_and_differentiable(name):
    loss = ALIGNMENTS.build(name)
    a, b = _posteriors(0)
    same = loss(a, Posterior(a.mean.clone(), a.logvar.clone()))
    assert same.shape == (6,) and torch.allclose(same, torch.zeros(6), atol=1e-6)
    assert torch.all(loss(a, b) > 0)
    # only the means differ, or only the variances: still positive
    assert torch.all(loss(a, Posterior(a.mean + 0.1, a.logvar)) > 0)
    assert torch.all(loss(a, Posterior(a.mean, a.logvar + 0.1)) > 0)
    leaves = [t.clone().requires_grad_() for t in (a.mean, a.logvar, b.mean, b.logvar)]
    loss(Posterior(*leaves[:2]), Posterior(*leaves[2:])).sum().backward()
    for leaf in leaves:
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all() and leaf.grad.abs().sum() > 0


def test_reference_alignment_is_the_two_mses():
    a, b = _posteriors(1)
    expected = F.mse_loss(a.mean, b.mean, reduction="none").mean(-1) + F.mse_loss(a.std, b.std, reduction="none").mean(-1)
    torch.testing.assert_close(ALIGNMENTS.build("reference")(a, b), expected)
    # averaged over the batch it equals the reference's nn.MSELoss() calls
    torch.testing.assert_close(ALIGNMENTS.build("reference")(a, b).mean(), F.mse_loss(a.mean, b.mean) + F.mse_loss(a.std, b.std))
    torch.testing.assert_close(ALIGNMENTS.build("reference", {"reduction": "sum"})(a, b), expected * 5)


def test_symmetric_kl_matches_torch_distributions():
    a, b = _posteriors(2)
    qa, qb = (torch.distributions.Normal(p.mean, p.std) for p in (a, b))
    expected = (torch.distributions.kl_divergence(qa, qb) + torch.distributions.kl_divergence(qb, qa)).sum(-1)
    torch.testing.assert_close(ALIGNMENTS.build("symmetric_kl")(a, b), expected)
    torch.testing.assert_close(ALIGNMENTS.build("symmetric_kl")(b, a), expected)
    torch.testing.assert_close(ALIGNMENTS.build("symmetric_kl", {"reduction": "mean"})(a, b), expected / 5)


def test_kl_matches_torch_distributions_in_each_direction():
    a, b = _posteriors(3)
    qa, qb = (torch.distributions.Normal(p.mean, p.std) for p in (a, b))
    forward = torch.distributions.kl_divergence(qa, qb).sum(-1)
    torch.testing.assert_close(ALIGNMENTS.build("kl")(a, b), forward)
    torch.testing.assert_close(ALIGNMENTS.build("kl", {"direction": "text_to_image"})(b, a), forward)
    torch.testing.assert_close(ALIGNMENTS.build("kl", {"reduction": "mean"})(a, b), forward / 5)


def test_kl_alignment_fits_the_text_posterior_to_cover_the_image_posteriors():
    # one caption, many images: minimising KL(q_img || q_txt) over the caption's posterior recovers the
    # moments of the image posteriors' mixture, which is what makes text->image draws diverse
    g = torch.Generator().manual_seed(4)
    images = Posterior(torch.randn(512, 3, generator=g) * 2.0 + 1.0, torch.full((512, 3), math.log(0.25)))
    mean = torch.zeros(1, 3, requires_grad=True)
    logvar = torch.zeros(1, 3, requires_grad=True)
    optimizer = torch.optim.Adam([mean, logvar], lr=0.05)
    for _ in range(1500):
        optimizer.zero_grad()
        ALIGNMENTS.build("kl")(images, Posterior(mean.expand(512, 3), logvar.expand(512, 3))).mean().backward()
        optimizer.step()
    torch.testing.assert_close(mean.detach()[0], images.mean.mean(0), atol=1e-3, rtol=0)
    expected_var = images.variance.mean(0) + images.mean.var(0, unbiased=False)
    torch.testing.assert_close(logvar.detach().exp()[0], expected_var, rtol=2e-2, atol=0)


def test_bad_kl_direction_names_the_field():
    with pytest.raises(ConfigError, match="direction"):
        ALIGNMENTS.build("kl", {"direction": "both"})


@pytest.mark.parametrize("name", ["reference", "symmetric_kl", "kl"])
@pytest.mark.parametrize("detach", ["image", "text"])
def test_a_detached_posterior_gets_no_gradient_and_the_value_is_unchanged(name, detach):
    a, b = _posteriors(5)
    leaves = [t.clone().requires_grad_() for t in (a.mean, a.logvar, b.mean, b.logvar)]
    value = ALIGNMENTS.build(name, {"detach": detach})(Posterior(*leaves[:2]), Posterior(*leaves[2:]))
    torch.testing.assert_close(value, ALIGNMENTS.build(name)(a, b))
    value.sum().backward()
    frozen, trained = (leaves[:2], leaves[2:]) if detach == "image" else (leaves[2:], leaves[:2])
    assert all(leaf.grad is None for leaf in frozen)
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in trained)
