"""Core interfaces: registries (and extension by user code), configs, posteriors, tokenizer."""

from __future__ import annotations

import json

import pytest
import torch

from remvae.core.config import ComponentConfig, ConfigError
from remvae.core.distributions import Posterior
from remvae.core.registry import ALL_REGISTRIES, Registry, UnknownComponentError
from remvae.text import FASHION_MNIST_GRAMMAR, MNIST_GRAMMAR, CaptionGrammar, Tokenizer
from remvae.text.tokenizer import TokenizerError


class WidthConfig(ComponentConfig):
    width: int = 4


def test_registry_extension_by_user_component():
    registry: Registry[object] = Registry("widget", "test widgets")

    @registry.register("wide", config=WidthConfig)
    def build_wide(config: WidthConfig, scale: int = 1) -> int:
        """A widget as wide as its config says."""
        return config.width * scale

    assert registry.build("wide", {"width": 3}, scale=2) == 6
    assert registry.get("wide").description == "A widget as wide as its config says."
    with pytest.raises(ConfigError, match=r"wide.width: .*given: 'x'"):
        registry.build("wide", {"width": "x"})
    with pytest.raises(ConfigError, match=r"wide.height: unknown key"):
        registry.build("wide", {"height": 3})
    with pytest.raises(UnknownComponentError, match=r"unknown widget 'wdie' \(did you mean 'wide'\?\); registered: wide"):
        registry.build("wdie")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("wide")(build_wide)


def test_builtin_components_are_registered_through_the_entry_point():
    kinds = {registry.kind: registry.names() for registry in ALL_REGISTRIES}
    assert set(kinds) == {"model", "architecture", "reader", "trainer", "schedule", "alignment", "evaluator", "prior"}
    assert {"aligned", "image_vae", "text_vae"} <= set(kinds["model"]) and {"gmm", "maf"} <= set(kinds["prior"])
    assert {"linear", "conv", "conv_norm", "lstm", "gru", "xlstm"} <= set(kinds["architecture"])


def test_posterior_kl_matches_closed_form_and_torch():
    mean, logvar = torch.randn(5, 3), torch.randn(5, 3)
    posterior = Posterior(mean, logvar)
    reference = torch.distributions.kl_divergence(
        torch.distributions.Normal(mean, (0.5 * logvar).exp()), torch.distributions.Normal(0.0, 1.0)
    ).sum(-1)
    torch.testing.assert_close(posterior.kl(), reference)
    assert posterior.kl().shape == (5,)
    assert torch.all(Posterior(torch.zeros(2, 3), torch.zeros(2, 3)).kl() == 0)
    z = posterior.rsample(torch.Generator().manual_seed(0))
    expected = torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    torch.testing.assert_close(posterior.log_prob(z), expected)


def test_tokenizer_is_deterministic_and_round_trips(tmp_path):
    texts = ["a photo of a seven", "a clothing item: t-shirt", "seven", "ankle boot in a picture"]
    tok = Tokenizer.fit(texts)
    assert tok.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert tok.itos[4] == "a"  # most frequent word first
    assert Tokenizer.fit(list(reversed(texts))) == tok
    for text in texts:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("a zebra")[2] == tok.unk_id
    batch = tok.encode_batch(texts)
    assert batch.tokens.dtype == torch.long and batch.tokens.shape == (4, 7)
    assert batch.lengths.tolist() == [7, 7, 3, 7]
    assert tok.decode_batch(batch.tokens) == texts
    assert tok.decode([tok.bos_id, tok.stoi["seven"], tok.eos_id, tok.stoi["a"]]) == "seven"
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    assert json.loads(path.read_text())["vocabulary"] == tok.itos
    assert Tokenizer.load(path) == tok
    path.write_text("{\"format\": \"something else\"}")
    with pytest.raises(TokenizerError, match="not a remvae tokenizer"):
        Tokenizer.load(path)
    path.write_text("{truncated")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        Tokenizer.load(path)


def test_tokenizer_cuts_long_sequences_keeping_eos():
    tok = Tokenizer.fit(["one two three four five"])
    batch = tok.encode_batch(["one two three four five"], max_length=4)
    assert batch.tokens[0].tolist() == [tok.bos_id, tok.stoi["one"], tok.stoi["two"], tok.eos_id]


def test_caption_grammars_write_and_parse_every_caption():
    for grammar in (MNIST_GRAMMAR, FASHION_MNIST_GRAMMAR):
        labels = list(range(len(grammar.classes))) * 20
        captions = grammar.captions(labels, seed=3)
        assert captions == grammar.captions(labels, seed=3)
        assert captions != grammar.captions(labels, seed=4)
        assert [grammar.parse(c) for c in captions] == labels
        assert [grammar.mentioned_label(c) for c in captions] == labels
    assert FASHION_MNIST_GRAMMAR.parse("a fashion item called shirt") == 6
    assert FASHION_MNIST_GRAMMAR.parse("a fashion item called t-shirt") == 0
    assert FASHION_MNIST_GRAMMAR.parse("a fashion item shirt") is None
    assert MNIST_GRAMMAR.mentioned_label("a photo of a seven seven") == 6 + 1
    assert MNIST_GRAMMAR.mentioned_label("a photo of a seven and a two") is None
    with pytest.raises(ValueError, match="exactly once"):
        CaptionGrammar(("a",), ("no placeholder",))
