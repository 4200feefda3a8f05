"""Judge classifiers: small CNNs trained per data set (shipped in this folder), or any classifier a user plugs in."""

from remvae.playground.evaluators.judges.judge import Judge, JudgeError, resize_images
from remvae.playground.evaluators.judges.network import JudgeCNN, JudgeNetworkConfig
from remvae.playground.evaluators.judges.resolve import (
    check_judge,
    judge_for,
    resolve_judge,
)
from remvae.playground.evaluators.judges.store import (
    load_judge,
    save_judge,
    search_dirs,
)
from remvae.playground.evaluators.judges.training import fit_judge, train_judge

__all__ = [
    "Judge",
    "JudgeCNN",
    "JudgeError",
    "JudgeNetworkConfig",
    "check_judge",
    "fit_judge",
    "judge_for",
    "load_judge",
    "resize_images",
    "resolve_judge",
    "save_judge",
    "search_dirs",
    "train_judge",
]
