"""The generator: deterministic scripts, user edits kept, no value from args.json can become code."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_args as tiny  # noqa: E402

from remvae.args import load_experiment
from remvae.core.runfolder import RunFolder
from remvae.generator.literals import UnrenderableValue, literal
from remvae.generator.render import SCRIPTS, generate, render

HOSTILE = [
    "__import__('os').system('touch PWNED')",
    "'); __import__('os').system('touch PWNED'); ('",
    '"""; __import__("os").system("touch PWNED"); """',
    "a\nimport os; os.system('touch PWNED')\n",
    "\\'; import os #",
    "{{ evil }} {% raw %} ${HOME} $(touch PWNED) `touch PWNED`",
    "\u2028\u2029\x00\x1b[31m é 字 🙂",
]


def experiment_at(folder: Path, args: dict):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.json").write_text(json.dumps(args), encoding="utf-8")
    return load_experiment(folder / "args.json")


def test_generate_writes_every_script_and_the_resolved_config(tmp_path):
    experiment = experiment_at(tmp_path, tiny())
    assert [r.path.name for r in generate(experiment, dry_run=True)] == [*SCRIPTS, "config.json",
                                                                        ".remvae-generated.json"]
    assert not any(tmp_path.glob("*.py"))  # a dry run writes nothing
    results = generate(experiment)
    assert [r.path.name for r in results] == [*SCRIPTS, "config.json", ".remvae-generated.json"]
    assert all(r.status == "written" for r in results)
    assert generate(experiment, dry_run=True) == [r.__class__(r.path, "unchanged") for r in results[: len(SCRIPTS)]]
    for name in SCRIPTS:
        assert (tmp_path / name).is_file()
    assert os.access(tmp_path / "execute.sh", os.X_OK)
    assert json.loads((tmp_path / "config.json").read_text()) == experiment.resolved()
    assert set(json.loads(RunFolder(tmp_path).generated_manifest.read_text())["files"]) == set(SCRIPTS)
    train = (tmp_path / "train.py").read_text()
    assert 'IMAGE = "conv"' in train and '"widths": [8, 16]' in train and '"epochs": 1' in train


def test_regeneration_is_byte_identical(tmp_path):
    experiment = experiment_at(tmp_path, tiny())
    generate(experiment)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    results = generate(load_experiment(tmp_path / "args.json"))
    assert all(r.status == "unchanged" for r in results)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == mtimes  # nothing rewritten
    # A second folder with the same args gives the same scripts (paths are relative to each script).
    other = experiment_at(tmp_path / "elsewhere", tiny())
    assert render(other) == render(experiment)


def test_edited_scripts_are_kept_unless_forced(tmp_path):
    experiment = experiment_at(tmp_path, tiny())
    generate(experiment)
    train = tmp_path / "train.py"
    edited = train.read_text().replace('"epochs": 1', '"epochs": 5')
    train.write_text(edited)
    changed = experiment_at(tmp_path, tiny(trainer={"name": "simple", "config": {"epochs": 2}}))
    statuses = {r.path.name: r.status for r in generate(changed)}
    assert statuses["train.py"] == "kept" and train.read_text() == edited
    assert statuses["eval.py"] == "unchanged"
    assert json.loads((tmp_path / "config.json").read_text())["trainer"]["config"]["epochs"] == 2
    # Still kept on the next run: the manifest remembers what was generated, not what is there.
    assert {r.path.name: r.status for r in generate(changed)}["train.py"] == "kept"
    statuses = {r.path.name: r.status for r in generate(changed, force=True)}
    assert statuses["train.py"] == "overwritten" and '"epochs": 2' in train.read_text()


def test_a_script_that_was_not_generated_here_is_not_overwritten(tmp_path):
    (tmp_path / "train.py").write_text("print('mine')\n")
    statuses = {r.path.name: r.status for r in generate(experiment_at(tmp_path, tiny()))}
    assert statuses["train.py"] == "kept"
    assert (tmp_path / "train.py").read_text() == "print('mine')\n"


def test_changed_args_regenerate_unedited_scripts(tmp_path):
    generate(experiment_at(tmp_path, tiny()))
    statuses = {r.path.name: r.status for r in generate(experiment_at(tmp_path, tiny(latent_dim=4)))}
    assert statuses["train.py"] == "written" and '"latent_dim": 4' in (tmp_path / "train.py").read_text()


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_stay_inert_data(tmp_path, hostile):
    args = tiny(name=hostile, description=hostile)
    args["reader"]["config"] = {"templates": [hostile.replace("{", "(").replace("}", ")") + " {x}"]}
    args["trainer"]["config"]["optimizer"] = {"name": "adam", "options": {}}
    args["trainer"]["config"]["device"] = "cpu"
    experiment = experiment_at(tmp_path, args)
    files = render(experiment)
    template = args["reader"]["config"]["templates"][0]
    for name, source in files.items():
        if not name.endswith(".py"):
            assert hostile not in source
            continue
        tree = ast.parse(source)
        calls = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            for node in ast.walk(tree) if isinstance(node, ast.Call)
        }
        assert not calls & {"system", "__import__", "eval", "exec", "popen"}
        imports = {alias.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                   for alias in node.names}
        assert "os" not in imports
    train = files["train.py"]
    namespace: dict = {}
    module = ast.parse(train)
    constants = [node for node in module.body if isinstance(node, ast.Assign) and node.targets[0].id == "READER_CONFIG"]
    exec(compile(ast.Module(constants, []), "train.py", "exec"), {"HERE": tmp_path}, namespace)
    assert namespace["READER_CONFIG"]["templates"] == [template]
    assert not (tmp_path / "PWNED").exists()


def test_hostile_component_names_never_reach_a_script(tmp_path):
    args = tiny()
    args["image"]["name"] = "conv'); __import__('os').system('touch PWNED'); ('"
    (tmp_path / "args.json").write_text(json.dumps(args))
    with pytest.raises(ValueError, match="unknown architecture"):
        load_experiment(tmp_path / "args.json")


def test_generated_scripts_compile_and_run_from_another_directory(tmp_path):
    experiment = experiment_at(tmp_path / "exp", tiny())
    generate(experiment)
    # Importing train.py from elsewhere runs nothing but defines paths relative to its own folder.
    code = (
        "import runpy, sys; ns = runpy.run_path(sys.argv[1], run_name='not_main'); "
        "print(ns['RUN'].root); print(ns['TRAIN_LENGTH'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "exp" / "train.py")], cwd=tmp_path, capture_output=True,
        text=True, check=True,
    ).stdout.split()
    assert out == [str(tmp_path / "exp"), "None"]


def test_paths_inside_the_run_folder_are_written_relative_to_the_script(tmp_path):
    (tmp_path / "data").mkdir()
    experiment = experiment_at(tmp_path, tiny(data_root="data", reader={"name": "mnist"}))
    train = render(experiment)["train.py"]
    assert '"root": str(HERE / "data")' in train
    assert str(tmp_path) not in train


def test_literals_round_trip_and_refuse_other_objects():
    values = [None, True, 0, -3, 1.5, float("inf"), "it's \"quoted\"\n", [1, [2, {"a": None}]], {"k": (1, 2)}, ("one",)]
    for value in values:
        assert eval(literal(value), {"__builtins__": {"float": float}}) == value  # noqa: S307 - our own literal
    with pytest.raises(UnrenderableValue):
        literal(object())
    with pytest.raises(UnrenderableValue):
        literal({(1, 2): 3})
