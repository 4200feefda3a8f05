"""Tokenizer and caption grammars."""

from remvae.text.batch import TextBatch
from remvae.text.captions import FASHION_MNIST_GRAMMAR, MNIST_GRAMMAR, CaptionGrammar
from remvae.text.tokenizer import Tokenizer

__all__ = ["CaptionGrammar", "FASHION_MNIST_GRAMMAR", "MNIST_GRAMMAR", "TextBatch", "Tokenizer"]
