"""Figures, report.pdf and run comparisons, on a tiny run trained, judged and evaluated through the public pieces.

The PDF checks read the text back with ``pdftotext`` and render pages with ``pdftoppm`` (Debian's
poppler-utils); they are skipped when those tools are absent.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import missing
from PIL import Image

import remvae
from remvae import experiment as experiments
from remvae.args import load_experiment
from remvae.core.evaluator import EvaluationContext, run_evaluators
from remvae.core.registry import READERS
from remvae.generator.render import generate
from remvae.playground.evaluators.judges.judge import Judge
from remvae.playground.evaluators.judges.network import JudgeNetworkConfig
from remvae.playground.evaluators.judges.training import fit_judge
from remvae.report import VisualOptions, compare, visualize, write_report
from remvae.report.catalog import FIGURES
from remvae.report.figures import image_to_text_figure, text_to_image_figure
from remvae.report.figures.curves import ema
from remvae.report.figures.latent import colour_labels
from remvae.report.layout import PAGE_HEIGHT, PAGE_WIDTH, Column, Document
from remvae.report.references import find_ours, references_for
from remvae.report.style import save_png, text_width, wrap
from remvae.report.values import format_share, format_value

UNICODE = "ünïcødé — 漢字"
ARGS = {
    "name": f"tiny {UNICODE}",
    "description": "A tiny run for the report tests.",
    "output": "run",
    "latent_dim": 8,
    "image_size": 28,
    "seed": 0,
    "device": "cpu",
    "data": {"train_length": 256, "test_length": 64},
    "reader": {"name": "bundled_digits", "config": {}},
    "image": {"name": "conv", "config": {"widths": [8, 16]}},
    "text": {"name": "gru", "config": {"embedding_dim": 16, "hidden_dim": 32}},
    "trainer": {"name": "annealing", "config": {"epochs": 2, "batch_size": 64, "log_every": 1, "quiet": True,
                                                "num_threads": 1}},
    "evaluators": [{"name": "cross_modal", "config": {"class_fid": False}}, {"name": "reconstruction"},
                   {"name": "caption_validity"}],
}
SMALL = VisualOptions(images=8, per_caption=4, steps=5, latent_points=64)


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        missing(f"{tool} not installed (apt-get install poppler-utils)")


def pdf_text(path: Path) -> str:
    needs("pdftotext")
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def tiny_judge() -> Judge:
    """A small CNN trained briefly on bundled digits: a real judge with its own measured test accuracy."""
    train = READERS.build("bundled_digits", {"split": "train", "length": 256})
    test = READERS.build("bundled_digits", {"split": "test", "length": 128})
    network_config = JudgeNetworkConfig(widths=[8, 16], convs_per_stage=1, hidden=32)
    network, accuracy = fit_judge(train, test, network_config, {"epochs": 2, "batch_size": 64}, log=lambda _: None)
    return Judge(network, name="tiny digits judge", image_size=28, channels=1, label_names=train.label_names,
                 test_accuracy=accuracy)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy machine spinning threads cost many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """args.json → generated train.py (trained in-process) → evaluation with a judge → figures → report.pdf."""
    root = tmp_path_factory.mktemp("report")
    (root / "args.json").write_text(json.dumps(ARGS, ensure_ascii=False), encoding="utf-8")
    experiment = load_experiment(root / "args.json")
    generate(experiment)
    run_dir = experiment.run_dir
    runpy.run_path(str(run_dir / "train.py"), run_name="__main__")
    loaded = remvae.load(run_dir)
    reader = experiment.component("reader")
    test_set = experiments.test_data(*reader, ARGS["data"]["test_length"])
    context = EvaluationContext(loaded.model, loaded.tokenizer, test_set, dataset=reader[0], judge=tiny_judge())
    run_evaluators(context, experiments.build_evaluators(experiment.evaluators()), run_dir / "metrics" / "eval.json")
    visualize(run_dir, model=loaded, options=SMALL)
    write_report(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def bare_run(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run with only its configuration and training log: no checkpoints, figures or evaluation."""
    bare = tmp_path_factory.mktemp("bare") / "run"
    bare.mkdir()
    for name in ("config.json", "environment.json"):
        shutil.copy(run / name, bare / name)
    (bare / "metrics").mkdir()
    shutil.copy(run / "metrics" / "train.jsonl", bare / "metrics" / "train.jsonl")
    return bare


def test_every_figure_is_a_png_of_sensible_size(run: Path) -> None:
    manifest = json.loads((run / "figures" / "figures.json").read_text(encoding="utf-8"))["figures"]
    for spec in FIGURES:
        path = run / "figures" / spec.file
        assert manifest[spec.name]["status"] == "written", manifest[spec.name]
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            pixels = np.asarray(image.convert("L"))
        assert 600 <= width <= 3000 and 300 <= height <= 5000, (spec.name, image.size)
        assert pixels.std() > 10, f"{spec.name} looks blank"


def test_report_holds_sections_configuration_and_every_metric(run: Path) -> None:
    text = pdf_text(run / "report.pdf")
    flat = " ".join(text.split())
    for section in ("Summary", "Stages", "Configuration", "Training", "Environment", "Training curves", "Figures",
                    "Evaluation"):
        assert section in text, section
    assert ARGS["name"] in flat  # the Unicode name survives (missing glyphs are drawn as boxes, text kept)
    for key, value in (("trainer.config.batch_size", "64"), ("image.config.widths", "[8, 16]"),
                       ("reader.name", "bundled_digits"), ("text.config.hidden_dim", "32")):
        assert re.search(rf"{re.escape(key)}\s+{re.escape(value)}", text), key
    environment = json.loads((run / "environment.json").read_text(encoding="utf-8"))
    if environment.get("git_commit"):
        assert environment["git_commit"] in flat
    summary = json.loads((run / "metrics" / "train_summary.json").read_text(encoding="utf-8"))
    assert f"{summary['steps']} steps" in flat and format_value(summary["samples_per_s"]) in flat
    evaluation = json.loads((run / "metrics" / "eval.json").read_text(encoding="utf-8"))
    for name, entry in evaluation["evaluators"].items():
        assert f"N = {entry['n']} test items" in flat
        for metric, value in entry["metrics"].items():
            assert re.search(rf"{re.escape(metric)}\s+{re.escape(format_value(value))}", text), (name, metric)
    judge = evaluation["evaluators"]["cross_modal"]["judge"]
    assert f"tiny digits judge (own test accuracy {format_share(judge['test_accuracy'])})" in flat
    for spec in FIGURES:
        assert spec.title in text
    assert "missing" not in flat.lower()


def test_missing_stages_are_listed_not_fatal(bare_run: Path) -> None:
    written = visualize(bare_run, options=SMALL)
    assert [path.name for path in written] == ["training_curves.png"]
    manifest = json.loads((bare_run / "figures" / "figures.json").read_text(encoding="utf-8"))["figures"]
    assert manifest["reconstructions"]["status"] == "missing"
    assert "no trained model" in manifest["reconstructions"]["reason"]
    flat = " ".join(pdf_text(write_report(bare_run)).split())
    assert "evaluation missing" in flat and "metrics/eval.json: missing" in flat
    assert "training missing" in flat and "metrics/train_summary.json: missing" in flat
    assert "Reconstructions: missing" in flat and "no trained model" in flat
    assert "Training curves" in flat and "Training curves: missing" not in flat


def test_pages_render_readably(run: Path, tmp_path: Path) -> None:
    needs("pdftoppm")
    pages = pdf_pages(run / "report.pdf")
    assert pages >= 6
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", str(pages), str(run / "report.pdf"),
                    str(tmp_path / "page")], check=True)
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pages
    for path in rendered:
        with Image.open(path) as image:
            assert abs(image.size[0] / image.size[1] - PAGE_WIDTH / PAGE_HEIGHT) < 0.01
            ink = np.asarray(image.convert("L")) < 128
        assert ink.any(), f"{path.name} is blank"
        columns = np.flatnonzero(ink.any(axis=0))  # nothing may be drawn in the outer 2% of the page
        assert columns.min() > 0.02 * ink.shape[1] and columns.max() < 0.98 * ink.shape[1], path.name


def test_unicode_long_and_dollar_captions_render(tmp_path: Path) -> None:
    images = torch.rand(3, 1, 28, 28)
    captions = [UNICODE, "costs $5 and $6 " + "very long words " * 20, "x" * 200]
    path = save_png(image_to_text_figure(images, captions, [True, False, None]), tmp_path / "captions.png")
    with Image.open(path) as image:
        assert image.size[0] > 300
    save_png(text_to_image_figure(captions, [images, images, images]), tmp_path / "rows.png")
    for line in wrap(" ".join(captions), 2.0):
        assert text_width(line) <= 2.0 * 72


def test_tables_paginate_with_repeated_header(tmp_path: Path) -> None:
    rows = [(f"row {i}", "value " * (i % 7 + 1) + UNICODE) for i in range(150)]
    with Document(tmp_path / "table.pdf", footer="table test") as doc:
        doc.new_page()
        doc.table([Column("setting", 0), Column("value", 1)], rows)
    text = pdf_text(tmp_path / "table.pdf")
    pages = pdf_pages(tmp_path / "table.pdf")
    assert pages >= 3
    assert text.count("setting") == pages  # the header starts every page
    assert all(f"row {i}\n" in text or f"row {i} " in text for i in (0, 75, 149))


def test_compare_writes_pdf_and_markdown(run: Path, bare_run: Path, tmp_path: Path) -> None:
    out = compare([run, bare_run], tmp_path / "comparison.pdf")
    markdown = out.with_suffix(".md").read_text(encoding="utf-8")
    header = markdown.splitlines()[2].split(" | ")
    # the same experiment name twice: told apart by folder
    assert header[1:] == [f"{ARGS['name']} ({run.parent.name}/run)", f"{ARGS['name']} ({bare_run.parent.name}/run) |"]
    evaluation = json.loads((run / "metrics" / "eval.json").read_text(encoding="utf-8"))
    mse = format_value(evaluation["evaluators"]["reconstruction"]["metrics"]["image_mse"])
    assert re.search(rf"\| reconstruction\.image_mse \| {re.escape(mse)} \| missing \|", markdown)
    flat = " ".join(pdf_text(out).split())
    assert "Comparison of 2 runs" in flat and "Training curves" in flat and "reconstruction.image_mse" in flat


def test_reference_numbers_sit_beside_ours(run: Path, tmp_path: Path) -> None:
    assert references_for("bundled_digits") == []
    metrics = {"cross_modal": {"text_to_image_top1": 0.97, "image_to_text_vs_judge": 0.9}}
    assert [find_ours(r, metrics) for r in references_for("mnist")] == [
        ("cross_modal.text_to_image_top1", 0.97), ("cross_modal.image_to_text_vs_judge", 0.9)]
    mnist = tmp_path / "run"
    shutil.copytree(run, mnist, ignore=shutil.ignore_patterns("checkpoints", "figures", "report.pdf"))
    config = json.loads((mnist / "config.json").read_text(encoding="utf-8"))
    config["reader"]["name"] = "mnist"
    (mnist / "config.json").write_text(json.dumps(config), encoding="utf-8")
    ours = json.loads((mnist / "metrics" / "eval.json").read_text(encoding="utf-8"))["evaluators"]["cross_modal"]
    ours = {key: format_share(value) for key, value in ours["metrics"].items()}
    flat = " ".join(pdf_text(write_report(mnist)).split())
    assert "Beside the reference" in flat
    assert f"text → image accuracy 76.18% {ours['text_to_image_top1']}" in flat
    assert f"image → text accuracy (vs judge) 82.13% {ours['image_to_text_vs_judge']}" in flat


def test_ema_is_bias_corrected() -> None:
    values = np.array([4.0, 4.0, 4.0])
    assert np.allclose(ema(values, 0.9), values)
    assert ema(np.array([1.0, 3.0]), 0.5)[0] == 1.0


def test_multilabel_latent_colours_by_one_attribute() -> None:
    labels = torch.tensor([[1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 0, 1]])
    classes, names, description = colour_labels(labels, ["Smiling", "Male", "Blond_Hair"])
    assert classes.tolist() == [1, 0, 1, 0] and names == ["not Male", "Male"] and "Male" in description
    classes, names, _ = colour_labels(labels, ["a", "b", "c"])  # no preferred one: the most balanced
    assert names == ["not b", "b"] and classes.tolist() == [1, 0, 1, 0]
