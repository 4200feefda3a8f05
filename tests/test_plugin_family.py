"""A model family from outside remvae: the code of docs/adding_a_family.md, installed as a plugin, trains
one step through `remvae run` with no change to remvae."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from conftest import REPO, tiny_args
from plugins import install_plugin


def _guide_code() -> str:
    guide = (REPO / "docs" / "adding_a_family.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", guide, flags=re.S)[0]


def test_a_plugin_family_is_listed_and_trains_through_remvae_run(tmp_path):
    env = install_plugin(tmp_path / "site", "my_family", _guide_code())
    command = [sys.executable, "-m", "remvae.cli"]
    listed = subprocess.run([*command, "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert re.search(r"mean_distance\s+Two VAEs whose posterior means are pulled together", listed)

    args = tiny_args(
        model={"name": "mean_distance"},
        trainer={"name": "annealing", "config": {"epochs": 1, "max_steps": 1, "batch_size": 16, "quiet": True,
                                                 "weights": {"mean_distance": 10.0}}},
        data={"train_length": 64, "validation_length": 16, "test_length": 32},
        evaluators=[{"name": "latent", "config": {"probe": False}}],
    )
    path = tmp_path / "run" / "args.json"
    path.parent.mkdir()
    path.write_text(json.dumps(args), encoding="utf-8")
    result = subprocess.run([*command, "run", str(path), "--quiet", "--until", "eval"], env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    record = json.loads((tmp_path / "run" / "metrics" / "train.jsonl").read_text().splitlines()[-1])
    assert record["step"] == 1 and record["mean_distance"] > 0
    weighted = (record["image_reconstruction"] + record["text_reconstruction"] + 10.0 * record["mean_distance"]
                + record["beta"] * (record["image_kl"] + record["text_kl"]))
    assert abs(record["loss"] - weighted) <= 1e-4 * abs(weighted)
    model = json.loads((tmp_path / "run" / "model.json").read_text())
    assert model["model"]["name"] == "mean_distance"
    evaluation = json.loads((tmp_path / "run" / "metrics" / "eval.json").read_text())
    assert evaluation["evaluators"]["latent"]["metrics"]["latent_dim"] == 8
