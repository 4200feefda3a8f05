"""How likely the captions are: under the text VAE itself, under a judge language model, and by grammar.

Intrinsic (``perplexity``), by importance sampling with k draws z_1..z_k ~ q(z|x) and p(z) the model's prior:
    log p(x) ~= logsumexp_j [log p(x|z_j) + log p(z_j) - log q(z_j|x)] - log k,
    perplexity = exp(-sum_x log p(x) / sum_x T_x),  T_x = the tokens after <bos> up to <eos> included;
    ELBO = E_q[log p(x|z)] - KL(q(z|x) || p(z)) (k-sample average of the first term).
Judge LM: exp of a causal LM's mean token NLL of the captions (scored as ``<bos> caption <eos>``), for the
test captions, their reconstructions and image->text captions, with each set's ratio to the test captions':
``caption_perplexity`` under the data set's shipped caption LM (offline), ``lm_perplexity`` under a Hugging
Face causal LM (GPT-2, as the reference measured, when its weights are present).
Validity (``caption_validity``): share of generated captions that are sentences of the data's grammar.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field

from remvae.core.config import ComponentConfig
from remvae.core.distributions import Posterior
from remvae.core.evaluator import EvaluationContext, EvaluationError, Evaluator
from remvae.core.registry import EVALUATORS
from remvae.playground.evaluators.common import (
    caption_grammar,
    image_to_text,
    prior_captions,
    text_reconstructions,
)
from remvae.playground.evaluators.hub import from_pretrained
from remvae.playground.evaluators.judges.caption_lm import (
    CaptionLM,
    CaptionLMError,
    load_caption_lm,
)
from remvae.playground.evaluators.judges.resolve import JUDGE_OF_DATASET


class IntrinsicPerplexityConfig(ComponentConfig):
    """Importance samples per caption."""

    k: int = Field(16, ge=1, le=1024, description="importance samples per caption")


@EVALUATORS.register("perplexity", config=IntrinsicPerplexityConfig)
class IntrinsicPerplexity(Evaluator):
    """The text VAE's own perplexity of the test captions (importance-sampled log p(x)), ELBO and KL.

    Metrics:
        perplexity: exp of the test captions' negative log-likelihood per token under the text VAE itself, with
            log p(x) importance-sampled from k draws of q(z|x); it pays for the information the caption's
            posterior carries (about its KL), so a text VAE with a large KL shows huge values even when it
            reconstructs every caption: compare it between runs, never with a language model's perplexity.
        nll_per_token: that negative log-likelihood per token, in nats (the log of perplexity).
        nll: the negative log-likelihood per caption, in nats.
        elbo: the evidence lower bound per caption, E_q[log p(x|z)] - KL(q(z|x) || p(z)), in nats (at most -nll).
        elbo_perplexity: exp(-ELBO per token), the perplexity the ELBO bounds (at least perplexity).
        reconstruction: -E_q[log p(x|z)] per caption, in nats: how well a caption's posterior decodes back to it.
        kl: KL(q(z|x) || N(0, I)) per caption, in nats: the information a caption's posterior carries.
        k: importance samples per caption.
        tokens: tokens scored over all evaluated captions (after <bos>, up to <eos> included).
    """

    needs: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: IntrinsicPerplexityConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        model, k = ctx.model, self.config.k
        generator = ctx.generator("perplexity", ctx.device)
        log_px, reconstruction, kl, tokens = [], [], [], 0
        rows = max(1, 4 * ctx.batch_size // k)  # captions per batch; k copies of each are decoded together
        full = ctx.text()
        for start in range(0, ctx.n, rows):
            index = slice(start, min(start + rows, ctx.n))
            batch = ctx.text_batch(index)
            posterior = model.encode("text", batch)
            size = len(batch)
            repeated = Posterior(posterior.mean.repeat_interleave(k, 0), posterior.logvar.repeat_interleave(k, 0))
            z = repeated.rsample(generator)
            log_likelihood = -model.nll("text", batch.repeat_interleave(k), z)
            log_w = (log_likelihood + model.prior().log_prob(z) - repeated.log_prob(z)).view(size, k)
            log_px.append((torch.logsumexp(log_w, 1) - math.log(k)).cpu())
            reconstruction.append(-log_likelihood.view(size, k).mean(1).cpu())
            kl.append(posterior.kl().cpu())
            tokens += int((full.lengths[index] - 1).sum())
        log_px_all, rec, kl_all = torch.cat(log_px).double(), torch.cat(reconstruction).double(), torch.cat(kl).double()
        ctx.per_item.update(log_px=log_px_all, tokens=(full.lengths[: ctx.n] - 1).clone())
        elbo = -(rec + kl_all)
        nll_per_token = float(-log_px_all.sum() / tokens)
        return {
            "perplexity": math.exp(nll_per_token),
            "nll_per_token": nll_per_token,
            "nll": float(-log_px_all.mean()),
            "elbo": float(elbo.mean()),
            "elbo_perplexity": math.exp(float(-elbo.sum() / tokens)),
            "reconstruction": float(rec.mean()),
            "kl": float(kl_all.mean()),
            "k": k,
            "tokens": tokens,
        }


TextSet = Literal["original", "reconstruction", "image_to_text"]
TEXT_SETS: tuple[TextSet, ...] = ("original", "reconstruction", "image_to_text")


def caption_sets(ctx: EvaluationContext, names: list[TextSet]) -> dict[str, list[str]]:
    """The captions a judge LM scores: the evaluated test captions, their reconstructions (encoded and decoded
    by the text VAE) and the captions generated from the evaluated images (for a model that has images)."""
    sources = {
        "original": lambda: list(ctx.items.captions),
        "reconstruction": lambda: text_reconstructions(ctx),
        "image_to_text": lambda: image_to_text(ctx),
    }
    return {name: list(sources[name]()) for name in names if name != "image_to_text" or has_images(ctx)}


def has_images(ctx: EvaluationContext) -> bool:
    return "image" in ctx.model.modalities


def perplexity_rows(scored: dict[str, tuple[float, int]]) -> dict[str, Any]:
    """Per caption set: perplexity exp(NLL / tokens), NLL per token, scored tokens, and the perplexity's ratio to
    the original captions' (the reference reads the ratio: a different judge LM changes the absolute values)."""
    metrics: dict[str, Any] = {}
    for name, (total, count) in scored.items():
        metrics[f"{name}_nll_per_token"] = total / count if count else float("nan")
        metrics[f"{name}_perplexity"] = math.exp(total / count) if count else float("nan")
        metrics[f"{name}_tokens"] = count
    if "original" in scored:
        for name in scored:
            if name != "original":
                metrics[f"{name}_ratio_to_original"] = metrics[f"{name}_perplexity"] / metrics["original_perplexity"]
    return metrics


class CaptionPerplexityConfig(ComponentConfig):
    """The caption LM (a shipped offline judge) and the caption sets it scores."""

    lm: str | None = Field(
        None, description="caption LM name or path (default: the data set's shipped LM, e.g. mnist_lm)"
    )
    texts: list[TextSet] = Field(default_factory=lambda: list(TEXT_SETS), min_length=1)


@EVALUATORS.register("caption_perplexity", config=CaptionPerplexityConfig)
class CaptionPerplexity(Evaluator):
    """Perplexity of test, reconstructed and image->text captions under the data set's shipped caption LM (offline).

    Metrics:
        <set>_perplexity: exp of the mean token NLL of a caption set under the shipped caption LM; sets: original
            (the test captions: the floor to read the others against), reconstruction (test captions encoded
            and decoded by the text VAE), image_to_text (captions generated from the test images).
        <set>_nll_per_token: that mean token NLL, in nats.
        <set>_tokens: tokens scored in that set (each caption's words and its end marker).
        <set>_ratio_to_original: the set's perplexity over the original captions': 1 means as fluent as the test
            captions; unlike the absolute values the ratio compares across language models.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: CaptionPerplexityConfig) -> None:
        self.config = config

    def _lm(self, ctx: EvaluationContext) -> CaptionLM:
        def load() -> CaptionLM:
            dataset = JUDGE_OF_DATASET.get(ctx.dataset or "", ctx.dataset)
            name = self.config.lm or f"{dataset}_lm"
            try:
                return load_caption_lm(name, ctx.device)
            except CaptionLMError as error:
                raise EvaluationError(f"caption_perplexity.lm: {error}") from None

        return ctx.cached(f"caption_lm:{self.config.lm}", load)

    def judge_record(self, ctx: EvaluationContext) -> dict[str, Any]:
        lm = self._lm(ctx)
        info = lm.info
        return {"name": info.dataset + "_lm" if info else None, "path": info.path if info else None,
                "validation_perplexity": info.validation_perplexity if info else None}

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        lm = self._lm(ctx)
        scored = {}
        for name, captions in caption_sets(ctx, self.config.texts).items():
            nll, tokens = lm.caption_nll(captions)
            ctx.per_item[f"{name}_nll"], ctx.per_item[f"{name}_tokens"] = nll, tokens
            scored[name] = (float(nll.sum()), int(tokens.sum()))
        return perplexity_rows(scored)


class LMPerplexityConfig(ComponentConfig):
    """The judge language model and the caption sets it scores."""

    model: str = Field("gpt2", min_length=1, description="Hugging Face causal LM id or local folder")
    local_files_only: bool = Field(False, description="never download the LM (use the local copy or fail)")
    when_missing: Literal["fail", "skip"] = Field(
        "fail", description="without the LM's weights: fail the evaluation, or record it as not available"
    )
    batch_size: int = Field(64, ge=1)
    texts: list[TextSet] = Field(default_factory=lambda: list(TEXT_SETS), min_length=1)


def load_causal_lm(name: str, local_files_only: bool, device: torch.device) -> tuple[Any, Any]:
    """``(model, tokenizer)`` of a Hugging Face causal LM in eval mode; one-line error if it cannot be loaded."""
    tokenizer, model = from_pretrained(
        ("AutoTokenizer", "AutoModelForCausalLM"), name, local_files_only, EvaluationError,
        f"lm_perplexity.model: cannot load the causal language model {name!r}",
    )
    return model.to(device).eval(), tokenizer


def lm_token_nll(
    model: Any, tokenizer: Any, texts: list[str], batch_size: int, device: torch.device
) -> tuple[float, int]:
    """Summed token NLL of ``texts`` under the LM and the number of scored tokens.

    Each text is scored as ``<bos> text <eos>`` (the LM's own markers, when it has them): every
    token after the first is predicted, the end marker included, so an empty caption still counts.
    """
    prefix = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    suffix = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    encoded = [prefix + ids + suffix for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
    total, count = 0.0, 0
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(encoded), batch_size):
        rows = [ids for ids in encoded[start : start + batch_size] if len(ids) >= 2]
        if not rows:
            continue
        width = max(len(ids) for ids in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        ids, mask = ids.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
        scored = mask[:, 1:].bool()
        total += float(nll[scored].sum())
        count += int(scored.sum())
    return total, count


@EVALUATORS.register("lm_perplexity", config=LMPerplexityConfig)
class LMPerplexity(Evaluator):
    """Perplexity of test, reconstructed and image->text captions under a Hugging Face causal LM (gpt2).

    Metrics:
        available: whether the language model could be loaded; when false nothing else was measured.
        reason: why the language model could not be loaded.
        <set>_perplexity: as caption_perplexity's, under the Hugging Face LM (GPT-2 by default, as the reference
            measured), for the original, reconstructed and image->text captions.
        <set>_nll_per_token: that mean token NLL, in nats.
        <set>_tokens: tokens scored in that set (the LM's own tokens, end marker included).
        <set>_ratio_to_original: the set's perplexity over the original captions' under the same LM.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: LMPerplexityConfig) -> None:
        self.config = config

    def judge_record(self, ctx: EvaluationContext) -> dict[str, Any]:
        return {"name": self.config.model, "path": self.config.model, "test_accuracy": None}

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        try:
            model, tokenizer = load_causal_lm(self.config.model, self.config.local_files_only, ctx.device)
        except EvaluationError as error:
            if self.config.when_missing == "fail":
                raise
            return {"available": False, "reason": str(error)}
        scored = {
            name: lm_token_nll(model, tokenizer, captions, self.config.batch_size, ctx.device)
            for name, captions in caption_sets(ctx, self.config.texts).items()
        }
        return {"available": True, **perplexity_rows(scored)}


@EVALUATORS.register("caption_validity", config=ComponentConfig)
class CaptionValidity(Evaluator):
    """Share of generated captions (image->text, reconstructions, prior samples) well-formed for the grammar.

    Metrics:
        <set>_valid: share of a caption set that are sentences of the data set's caption grammar; sets:
            image_to_text, reconstruction, prior (decoded from z drawn from the prior) and original (the test
            captions themselves, a check of the grammar).
        image_to_text_distinct: distinct captions among those generated from the test images.
        prior_distinct: distinct captions among those decoded from prior samples.
    """

    needs: ClassVar[frozenset[str]] = frozenset({"text"})

    def __init__(self, config: ComponentConfig) -> None:
        self.config = config

    @torch.no_grad()
    def evaluate(self, ctx: EvaluationContext) -> dict[str, Any]:
        grammar = caption_grammar(ctx)
        sets = {
            "image_to_text": image_to_text(ctx) if has_images(ctx) else None,
            "reconstruction": text_reconstructions(ctx),
            "prior": prior_captions(ctx),
            "original": ctx.items.captions,
        }
        metrics: dict[str, Any] = {}
        for name, captions in sets.items():
            if captions is not None:
                metrics[f"{name}_valid"] = sum(map(grammar.is_well_formed, captions)) / len(captions)
        for name in ("image_to_text", "prior"):
            if sets[name] is not None:
                metrics[f"{name}_distinct"] = len(set(sets[name]))
        return metrics
