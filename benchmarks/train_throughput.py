"""Training throughput of the mixed (image conv + text GRU) model on CPU.

    python benchmarks/train_throughput.py [--threads 2] [--steps 100] [--warmup 10] [--data DIR]

For the reference's MNIST configuration (56x56 images, conv widths 32/64/128, latent 30, embedding 64,
hidden 64, context 10, batch 32, GRU) and for the default MNIST configuration, it prints

* the samples/s of the real trainer (``adaptive_annealing``, ``fit`` with ``max_steps``), timed over
  ``--steps`` steps after ``--warmup`` steps, beside the target (2x the reference's ~235 samples/s);
* a breakdown of one step into data (index + uint8->float + text trim), forward (both VAEs, all loss
  terms), backward, and optimizer (gradient norm, finiteness check, fused Adam step), in ms per step, from a
  separately timed loop over the same pieces.

MNIST comes from ``--data`` (default ``../shared/data`` beside the checkout, else ``$REMVAE_DATA``);
without it the bundled digits are used.

``OMP_WAIT_POLICY`` defaults to ``PASSIVE`` here (set ``OMP_WAIT_POLICY=ACTIVE`` to compare): on a CPU
shared with other processes, OpenMP threads that spin while waiting for each other cut 2-thread
throughput by about 10x.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read once, when torch loads OpenMP

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from remvae.core.data import ImageTextDataset  # noqa: E402
from remvae.core.distributed import DistributedContext  # noqa: E402
from remvae.core.multimodal import MultimodalVAE  # noqa: E402
from remvae.core.registry import ARCHITECTURES, READERS, TRAINERS  # noqa: E402
from remvae.core.wrapper import Wrapper  # noqa: E402
from remvae.playground.trainers.batches import TensorData, epoch_batches  # noqa: E402
from remvae.playground.trainers.optim import build_optimizer  # noqa: E402
from remvae.text import Tokenizer  # noqa: E402

REFERENCE_SAMPLES_PER_S = 235.0
TARGET = 2 * REFERENCE_SAMPLES_PER_S

CONFIGS = {
    "reference (56px, conv 32/64/128, z 30, GRU 64/64, ctx 10)": {
        "image": {"image_size": 56, "widths": [32, 64, 128], "latent_dim": 30},
        "text": {"latent_dim": 30, "embedding_dim": 64, "hidden_dim": 64, "max_length": 10},
    },
    "default MNIST (28px, conv and gru defaults)": {
        "image": {"image_size": 28},
        "text": {},
    },
}


def load_mnist(data: Path | None, image_size: int, length: int) -> ImageTextDataset:
    if data is not None and (data / "MNIST").is_dir():
        return READERS.build("mnist", {"root": str(data), "image_size": image_size, "length": length})
    print(f"(MNIST not found under {data}; using the bundled digits)")
    return READERS.build("bundled_digits", {"image_size": image_size})


def build_model(config: dict, tokenizer: Tokenizer) -> MultimodalVAE:
    torch.manual_seed(0)
    image = ARCHITECTURES.build("conv", config["image"])
    text_config = {"latent_dim": image.latent_dim, **config["text"]}
    return MultimodalVAE(image, Wrapper(ARCHITECTURES.build("gru", text_config, tokenizer=tokenizer), word_dropout=0.25))


def trainer_rate(model: MultimodalVAE, dataset: ImageTextDataset, tokenizer: Tokenizer, warmup: int, steps: int) -> float:
    """Samples/s of ``fit`` over the steps after the warm-up, from the per-interval rates it logs."""
    with tempfile.TemporaryDirectory() as run_dir:
        config = {
            "epochs": 1000, "batch_size": 32, "max_steps": warmup + steps, "log_every": warmup, "quiet": True,
            "device": "cpu", "checkpoint": {"keep_best": False}, "schedule": {"name": "linear"},
        }
        trainer = TRAINERS.build("adaptive_annealing", config, model=model, run_dir=run_dir, tokenizer=tokenizer)
        trainer.fit(dataset)
        records = [json.loads(line) for line in (Path(run_dir) / "metrics" / "train.jsonl").read_text().splitlines()]
    intervals = list(zip(records, records[1:]))  # the first record closes the warm-up
    samples = sum((r["step"] - p["step"]) * 32 for p, r in intervals)
    seconds = sum((r["step"] - p["step"]) * 32 / r["samples_per_s"] for p, r in intervals)
    return samples / seconds


def breakdown(model: MultimodalVAE, dataset: ImageTextDataset, tokenizer: Tokenizer, warmup: int, steps: int) -> dict[str, float]:
    """Milliseconds per step in each phase, from a loop built from the trainer's own pieces."""
    trainer = TRAINERS.build("adaptive_annealing", {"device": "cpu", "quiet": True}, model=model,
                             run_dir=tempfile.gettempdir(), tokenizer=tokenizer)
    data = TensorData.from_dataset(dataset, "multimodal", tokenizer, model.text.vae.max_length,
                                   (model.image.channels, model.image.image_size, model.image.image_size))
    batches = epoch_batches(data.size, 32, 0, 0, DistributedContext(), drop_last=True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer("adam", params, lr=1e-3, weight_decay=0.0, options={}, device_type="cpu")
    generator = torch.Generator().manual_seed(0)
    totals = dict.fromkeys(("data", "forward", "backward", "optimizer"), 0.0)
    model.train()
    for i in range(warmup + steps):
        ticks = [time.perf_counter()]
        batch = data.batch(batches[i % len(batches)])
        ticks.append(time.perf_counter())
        terms = trainer.objective.terms("multimodal", model, batch, generator)
        loss = trainer.objective.loss(terms, 0.5)
        ticks.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        ticks.append(time.perf_counter())
        norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        values = torch.stack([loss.detach(), *(t.detach() for t in terms.values()), norm]).tolist()
        assert all(math.isfinite(v) for v in values)
        optimizer.step()
        ticks.append(time.perf_counter())
        if i >= warmup:
            for name, start, end in zip(totals, ticks, ticks[1:]):
                totals[name] += (end - start) * 1000 / steps
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    default_data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("REMVAE_DATA", default_data)))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.steps} timed steps after {args.warmup} warm-up, batch 32")
    header = f"{'configuration':<58} {'samples/s':>9} {'target':>7} {'x ref':>6} {'data':>6} {'fwd':>6} {'bwd':>6} {'opt':>6}  (ms/step)"
    print(header)
    print("-" * len(header))
    for name, config in CONFIGS.items():
        dataset = load_mnist(args.data, config["image"]["image_size"], length=4096)
        tokenizer = Tokenizer.fit(dataset.captions)
        rate = trainer_rate(build_model(config, tokenizer), dataset, tokenizer, args.warmup, args.steps)
        parts = breakdown(build_model(config, tokenizer), dataset, tokenizer, args.warmup, args.steps)
        print(f"{name:<58} {rate:>9.0f} {TARGET:>7.0f} {rate / REFERENCE_SAMPLES_PER_S:>6.2f} "
              + " ".join(f"{parts[k]:>6.2f}" for k in ("data", "forward", "backward", "optimizer")))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
