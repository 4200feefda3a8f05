"""The args.json schema: every problem named by its JSON path, all at once; paths and shared values resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import tiny_args as tiny  # noqa: E402

from remvae.args import ArgsError, json_schema, load_experiment, validate_experiment
from remvae.cli import main

BAD_ARGS = Path(__file__).parent / "bad_args"
EXPECTED = json.loads((BAD_ARGS / "expected.json").read_text(encoding="utf-8"))
REPO = Path(__file__).resolve().parents[1]


def write(folder: Path, args: dict) -> Path:
    path = folder / "args.json"
    path.write_text(json.dumps(args), encoding="utf-8")
    return path


def test_every_bad_file_in_the_corpus_has_expectations():
    files = {p.name for p in BAD_ARGS.glob("*.json")} - {"expected.json"}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_args_give_one_line_per_problem_and_exit_2(name, capsys):
    assert main(["validate", str(BAD_ARGS / name)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert lines and all(line.startswith(f"remvae: error: {BAD_ARGS / name}: ") for line in lines), lines
    for expected in EXPECTED[name]:
        assert any(expected in line for line in lines), (expected, lines)
    assert "Traceback" not in captured.err


def test_all_problems_are_reported_at_once():
    with pytest.raises(ArgsError) as caught:
        load_experiment(BAD_ARGS / "many_problems_at_once.json")
    paths = [problem.split(":")[0] for problem in caught.value.problems]
    assert {"colour", "latent_dim", "image.name", "trainer.config.epochs"} <= set(paths)


def test_shared_values_reach_reader_and_both_architectures(tmp_path):
    experiment = load_experiment(write(tmp_path, tiny(latent_dim=12, image_size=32, seed=7)))
    reader, reader_config = experiment.component("reader")
    _, image = experiment.component("image")
    _, text = experiment.component("text")
    _, trainer = experiment.component("trainer")
    assert reader == "bundled_digits"
    assert reader_config["image_size"] == image["image_size"] == 32
    assert image["latent_dim"] == text["latent_dim"] == 12
    assert reader_config["seed"] == trainer["seed"] == 7
    assert trainer["resume"] is True  # experiments resume an interrupted run by default
    assert "train" not in reader_config and "length" not in reader_config  # set per split by the experiment


def test_component_value_equal_to_the_shared_one_is_accepted(tmp_path):
    args = tiny()
    args["text"]["config"]["latent_dim"] = 8
    assert load_experiment(write(tmp_path, args)).component("text")[1]["latent_dim"] == 8


def test_relative_paths_resolve_against_the_args_folder(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    (folder / "data").mkdir(parents=True)
    (folder / "judges").mkdir()
    (folder / "judges" / "mine.json").write_text("{}")
    args = tiny(output="runs/one", data_root="data", evaluation={"judge": "judges/mine.json"})
    args["reader"] = {"name": "mnist"}
    path = write(folder, args)
    monkeypatch.chdir(tmp_path)  # somewhere else entirely
    experiment = load_experiment(Path("exp/args.json"))
    assert experiment.run_dir == folder / "runs" / "one"
    assert experiment.component("reader")[1]["root"] == str(folder / "data")
    assert experiment.spec.evaluation.judge == str(folder / "judges" / "mine.json")
    assert load_experiment(path).resolved() == experiment.resolved()
    del args["data_root"]
    args["reader"]["config"] = {"root": "data"}  # a reader's own root is a path too
    write(folder, args)
    assert load_experiment(Path("exp/args.json")).component("reader")[1]["root"] == str(folder / "data")


def test_data_root_conflicting_with_the_readers_root(tmp_path):
    (tmp_path / "a").mkdir()
    args = tiny(data_root="a", reader={"name": "mnist", "config": {"root": "b"}})
    with pytest.raises(ArgsError, match=r"reader.config.root: .* conflicts with data_root"):
        validate_experiment(args, tmp_path)


def test_default_run_folder_is_the_args_folder(tmp_path):
    assert load_experiment(write(tmp_path, tiny())).run_dir == tmp_path


def test_resolved_config_validates_again_to_the_same_experiment(tmp_path):
    experiment = load_experiment(write(tmp_path, tiny(output="run")))
    resolved = experiment.resolved()
    again = validate_experiment(resolved, Path("/somewhere/else"))
    assert again.resolved() == resolved
    assert resolved["trainer"]["config"]["epochs"] == 1 and resolved["image"]["config"]["kernel_size"] == 4


def test_the_callers_dict_is_not_changed(tmp_path):
    args = tiny()
    before = json.dumps(args, sort_keys=True)
    validate_experiment(args, tmp_path)
    assert json.dumps(args, sort_keys=True) == before


def test_json_schema_lists_every_registered_component_with_its_config():
    schema = json_schema()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    def union(slot):  # an optional slot is "one of the components, or null"
        options = schema["properties"][slot].get("anyOf", [schema["properties"][slot]])
        return next(option for option in options if "discriminator" in option)

    image = union("image")
    assert set(image["discriminator"]["mapping"]) == {"conv", "conv_norm", "linear"}
    assert set(union("text")["discriminator"]["mapping"]) == {"gru", "lstm", "xlstm"}
    assert {"aligned", "image_vae", "text_vae"} <= set(union("model")["discriminator"]["mapping"])
    conv = schema["$defs"][image["discriminator"]["mapping"]["conv"].split("/")[-1]]
    config = schema["$defs"][conv["properties"]["config"]["$ref"].split("/")[-1]]
    assert "widths" in config["properties"] and config["additionalProperties"] is False
    json.dumps(schema)  # serialisable


def test_schema_command_prints_json(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "remvae experiment (args.json)"


def test_args_file_not_found(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.strip() == f"remvae: error: {tmp_path / 'nope.json'}: file not found"


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*/args.json")), ids=lambda p: p.parent.name)
def test_shipped_experiments_validate(path):
    experiment = load_experiment(path)
    assert experiment.run_dir == path.parent


@pytest.mark.parametrize("path", sorted((REPO / "experiments").glob("*/args.json")), ids=lambda p: p.parent.name)
def test_shipped_experiments_build_a_model_that_runs(path):
    import torch

    from remvae.core.model import Batch
    from remvae.text.tokenizer import Tokenizer

    experiment = load_experiment(path)
    _, image_config = experiment.component("image")
    _, text_config = experiment.component("text")
    captions = ["a smiling woman with blond hair", "a photo of a seven"]
    tokenizer = Tokenizer.fit(captions)
    model = experiment.model_spec().build(tokenizer)
    images = text = None
    if image_config is not None:
        size, channels = image_config["image_size"], image_config["channels"]
        images = torch.rand(2, channels, size, size)
    if text_config is not None:
        text = tokenizer.encode_batch(captions, text_config["max_length"])
    with torch.no_grad():
        out = model(Batch(images, text, 2))
    image_outputs = [v for v in out.reconstructions.values() if v.dim() == 4]  # text outputs are logits (B, T, V)
    assert bool(image_outputs) == (images is not None)
    assert all(v.shape == images.shape for v in image_outputs)
    assert out.z and all(z.shape == (2, experiment.spec.latent_dim) for z in out.z.values())
    assert set(out.terms) == set(model.computed_terms(()))
