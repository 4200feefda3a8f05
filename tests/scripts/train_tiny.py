"""Train the tiny multimodal model (tests/scripts/tinyvae.py) in a subprocess, for resume and DDP tests.

    python train_tiny.py RUN_DIR [--resume] [--sleep S] [--every N]
    torchrun --nproc_per_node=2 train_tiny.py RUN_DIR --hashes   # each rank writes rank-<r>.sha256

``--sleep`` slows every forward pass (a hook; the numerics are unchanged) so a test can kill the
process mid-run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tinyvae import synthetic_pairs, tiny_multimodal, tokenizer_for  # noqa: E402

from remvae.core.registry import TRAINERS  # noqa: E402


def state_hash(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build(run_dir: Path, resume: bool = False, every: int | None = None, sleep: float = 0.0, epochs: int = 3,
          batch: int = 32):
    """The trainer, data and model of this script's run (also used in-process by the tests)."""
    train, val = synthetic_pairs(256, seed=0), synthetic_pairs(64, seed=1)
    tokenizer = tokenizer_for(train)
    model = tiny_multimodal(tokenizer, seed=123)
    if sleep:
        model.register_forward_pre_hook(lambda module, inputs: time.sleep(sleep))
    config = {
        "epochs": epochs, "batch_size": batch, "seed": 7, "num_threads": 1, "quiet": True, "log_every": 2,
        "resume": resume, "device": "cpu",
        "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.01},
        "lr_scheduler": {"name": "cosine"},
        "schedule": {"name": "cyclical", "config": {"cycles": 2}},
        "checkpoint": {"every_steps": every, "keep_last": 2},
    }
    trainer = TRAINERS.build("adaptive_annealing", config, model=model, run_dir=run_dir, tokenizer=tokenizer)
    return trainer, train, val


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--every", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32, help="batch size per process")
    parser.add_argument("--hashes", action="store_true")
    args = parser.parse_args()
    trainer, train, val = build(args.run_dir, args.resume, args.every, args.sleep, args.epochs, args.batch)
    trainer.fit(train, val)
    if args.hashes:
        rank = int(os.environ.get("RANK", 0))
        (args.run_dir / f"rank-{rank}.sha256").write_text(state_hash(trainer.model) + "\n")


if __name__ == "__main__":
    main()
