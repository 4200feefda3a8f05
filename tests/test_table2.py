"""tools/table2.py: the nine Table 2 configurations derived per recipe, each a valid args.json."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import REPO

from remvae.args import load_experiment

sys.path.insert(0, str(REPO / "tools"))
import table2  # noqa: E402

ARCHITECTURE = ("latent_dim", "image_size", "channels", "reader", "image", "data", "evaluation", "evaluators")


@pytest.mark.parametrize("name", table2.CONFIGURATIONS)
def test_the_remvae_recipe_trains_the_same_networks_as_celeba_gru_is_trained(name, tmp_path):
    reference = table2.derived_args(name, "cpu", None)
    remvae = table2.derived_args(name, "cpu", 4, "remvae")
    recipe = table2.read_args("celeba_gru")
    shipped = table2.read_args(name)
    shipped["trainer"]["config"]["device"] = "cpu"
    assert reference == shipped  # the reference recipe is the shipped args.json, on the device asked for
    assert {key: remvae[key] for key in ARCHITECTURE} == {key: reference[key] for key in ARCHITECTURE}
    assert remvae["text"]["name"] == reference["text"]["name"]
    assert remvae["text"]["config"] == {**reference["text"]["config"], "word_dropout": 0.25}
    assert remvae["model"] == recipe["model"] and remvae["prior"] == recipe["prior"]
    trainer = {**recipe["trainer"]["config"], "epochs": 4, "device": "cpu"}
    assert remvae["trainer"] == {"name": recipe["trainer"]["name"], "config": trainer}
    assert remvae["name"] == f"{name}-remvae-4ep" and "Shortened to 4 of its 12 epochs" in remvae["description"]
    path = tmp_path / "args.json"
    path.write_text(json.dumps(remvae), encoding="utf-8")
    assert load_experiment(path).name == remvae["name"]  # validates
