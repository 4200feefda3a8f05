"""Figures and report.pdf on a tiny run trained, evaluated and drawn in-process by its generated scripts.

The PDF checks read the text back with ``pdftotext`` and render pages with ``pdftoppm`` (Debian's
poppler-utils); without them a test is skipped locally and fails under CI. The helpers :func:`stage` and
:func:`tiny_run` also build the runs of ``test_compare.py``.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import missing
from PIL import Image

from remvae.args import load_experiment
from remvae.core.data import ImageTextDataset
from remvae.core.evaluator import EvaluationContext, run_evaluators
from remvae.core.registry import ARCHITECTURES, EVALUATORS, MODELS
from remvae.generator.render import generate
from remvae.playground.evaluators.common import IMAGE_SETS
from remvae.playground.evaluators.judges import Judge, JudgeCNN, JudgeNetworkConfig
from remvae.playground.evaluators.perplexity import perplexity_rows
from remvae.report import VisualOptions, visualize, write_report
from remvae.report.catalog import FIGURES, OPTIONAL_FIGURES
from remvae.report.configdiff import changed_settings
from remvae.report.figures import (
    CurveSet,
    curves_figure,
    image_to_text_figure,
    text_to_image_figure,
)
from remvae.report.figures.curves import ema
from remvae.report.figures.latent import colour_labels
from remvae.report.glossary import GlossaryError, define, definitions, parse_metrics
from remvae.report.headline import headline_rows
from remvae.report.layout import (
    FOOTER,
    MARGIN,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    Column,
    Document,
)
from remvae.report.notes import NOTES
from remvae.report.runfolder import flatten
from remvae.report.style import save_png, text_width, wrap
from remvae.report.subject import Subject
from remvae.report.values import format_value
from remvae.text import Tokenizer

UNICODE = "ünïcødé — 漢字"
ARGS = {
    "name": f"tiny {UNICODE}",
    "description": "A tiny run for the report tests.",
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
    "evaluators": [
        {"name": "cross_modal"}, {"name": "cross_modal", "key": "cross_modal_sampled", "config": {"sample": True}},
        {"name": "reconstruction"}, {"name": "caption_validity"}, {"name": "perplexity", "config": {"k": 4}},
        {"name": "caption_perplexity"}, {"name": "latent"}, {"name": "judge_fid"},
        {"name": "lm_perplexity", "config": {"model": "no-such/lm", "local_files_only": True, "when_missing": "skip"}},
        {"name": "transfer", "config": {"limit": 32, "strengths": [0.5, 1.0]}},
    ],
}
SMALL = VisualOptions(images=8, per_caption=4, steps=5, latent_points=64)


def needs(tool: str) -> None:
    if shutil.which(tool) is None:
        missing(f"{tool} not installed (apt-get install poppler-utils)")


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    needs("pdftotext")
    pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
    return subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", *pages, str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def flat_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    return " ".join(pdf_text(path, first, last).split())


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", path.read_bytes()))


def stage(script: Path) -> None:
    """Run a generated stage script in this process (as ``python script`` would), failing on a non-zero exit."""
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        assert not exit_.code, f"{script.name} exited with {exit_.code}"


def tiny_run(folder: Path, args: dict[str, Any], draw: bool = True) -> Path:
    """args.json → generated scripts → train, eval (and figures with ``draw``) in-process; the run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "args.json").write_text(json.dumps(args, ensure_ascii=False), encoding="utf-8")
    experiment = load_experiment(folder / "args.json")
    generate(experiment)
    stage(experiment.run_dir / "train.py")
    stage(experiment.run_dir / "eval.py")
    if draw:
        visualize(experiment.run_dir, options=SMALL)
    return experiment.run_dir


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy machine spinning threads cost many times over."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run with every offline evaluator (judged by the shipped MNIST judge), its figures and report."""
    run_dir = tiny_run(tmp_path_factory.mktemp("report") / "run", ARGS)
    write_report(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def evaluation(run: Path) -> dict[str, Any]:
    return json.loads((run / "metrics" / "eval.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def bare_run(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same run with only its configuration and training logs: no checkpoints, figures or evaluation."""
    bare = tmp_path_factory.mktemp("bare") / "run"
    (bare / "metrics").mkdir(parents=True)
    for name in ("config.json", "environment.json", "metrics/train.jsonl", "metrics/validation.jsonl"):
        shutil.copy(run / name, bare / name)
    return bare


def test_every_figure_is_a_png_of_sensible_size(run: Path) -> None:
    manifest = json.loads((run / "figures" / "figures.json").read_text(encoding="utf-8"))["figures"]
    for spec in (*FIGURES, *OPTIONAL_FIGURES):  # an image-text model draws the optional transfer figure too
        path = run / "figures" / spec.file
        assert manifest[spec.name]["status"] == "written", manifest[spec.name]
        with Image.open(path) as image:
            assert image.format == "PNG"
            width, height = image.size
            pixels = np.asarray(image.convert("L"))
        assert 600 <= width <= 3000 and 300 <= height <= 5000, (spec.name, image.size)
        assert pixels.std() > 10, f"{spec.name} looks blank"


def test_page_one_shows_the_headline_table_checkpoint_prior_and_one_figure(run: Path, evaluation: dict) -> None:
    page = flat_text(run / "report.pdf", 1, 1)
    assert ARGS["name"] in page  # the Unicode name survives (missing glyphs are drawn as boxes, the text is kept)
    assert "Results" in page and "Figure 1. Text → image" in page and "Figure 2" not in page
    assert "Trained: family aligned: image VAE conv, text VAE gru, latent size 8; data bundled_digits" in page
    checkpoint, selection = evaluation["checkpoint"], json.loads(
        (run / "metrics" / "train_summary.json").read_text(encoding="utf-8"))["selection"]
    assert (f"Numbers from checkpoint best = epoch {checkpoint['epoch']} of {selection['epochs']}, step "
            f"{checkpoint['step']} (lowest validation loss") in page
    assert "drawn from standard_normal, the standard normal N(0, I)" in page
    judge = evaluation["evaluators"]["cross_modal"]["judge"]
    judged = f"mnist: {judge['accuracy'] * 100:.2f}% / {judge['test_accuracy'] * 100:.2f}%"
    text_to_image = evaluation["evaluators"]["cross_modal"]["metrics"]["text_to_image_top1"]
    # the row: metric, value, chance (1/10 classes, from the judge's label names), N and split, judge
    assert re.search(rf"text → image accuracy {text_to_image * 100:.2f}% chance 10\.00% 64 test "
                     rf"{re.escape(judged)}", page), page
    for label in ("image → text accuracy vs true", "image → text accuracy vs judge",
                  "joint coherence (prior samples)", "text exact match (reconstruction)", "image → text caption PPL", "judge FID: reconstructions",
                  "judge FID: prior samples"):
        assert label in page, label
    prior_fid = evaluation["evaluators"]["judge_fid"]["metrics"]["prior_fid"]
    assert re.search(rf"judge FID: prior samples {re.escape(format_value(prior_fid))} — 64 test", page)


def test_every_metric_is_printed_with_its_glossary_definition(run: Path, evaluation: dict) -> None:
    text = pdf_text(run / "report.pdf")
    flat = " ".join(text.split())
    for key, entry in evaluation["evaluators"].items():
        name = "cross_modal" if key == "cross_modal_sampled" else key
        assert f"N = {entry['n']} test items" in flat
        for metric, value in flatten(entry["metrics"]).items():
            definition = define(name, metric)
            assert definition, (key, metric)
            if metric.startswith("class_fid.") or isinstance(value, str):
                continue  # one table for both cross_modal entries, below; a text value (a reason) wraps
            assert re.search(rf"{re.escape(metric)}\s+{re.escape(format_value(value))}", text), (key, metric)
            if key == name:
                assert " ".join(definition.split()[:6]) in flat, (key, metric)
    assert flat.count("Per-class judge FID, text → image") == 1 and "class_fid.zero" not in flat
    assert "missing" not in flat[:flat.index("Appendix")].lower()  # every stage's files were read


def test_raw_values_are_explained(run: Path, evaluation: dict) -> None:
    flat = flat_text(run / "report.pdf")
    kl = evaluation["evaluators"]["perplexity"]["metrics"]["kl"]
    assert f"here a KL of {kl:.1f} nats per caption" in flat and "never with a language model's perplexity" in flat
    coherence = evaluation["evaluators"]["cross_modal"]["metrics"]["joint_coherence"]
    assert f"Joint coherence {coherence * 100:.2f}% against a chance level of 10.00% (1 of 10 classes)" in flat
    ratio = evaluation["evaluators"]["latent"]["metrics"]["distance_ratio"]
    assert f"distance_ratio {ratio:.3f}: a caption's posterior lies" in flat
    assert "The linear probes were fitted on train-set posterior means" in flat
    assert "lm_perplexity ran" not in flat  # only the reference pages mention a missing GPT-2 ...
    assert "The language model was not available: lm_perplexity.model: cannot load" in flat  # ... the notes say why


def test_glossary_covers_every_metric_a_shipped_evaluator_writes(evaluation: dict) -> None:
    names = {"cross_modal_sampled": "cross_modal"}
    produced = {(names.get(key, key), metric) for key, entry in evaluation["evaluators"].items()
                for metric in flatten(entry["metrics"])}
    assert {name for name, _ in produced} >= set(EVALUATORS.names()) - {"fid"}  # all but Inception (needs weights)
    produced |= {("fid", "n"), *(("fid", f"{which}_fid") for which in IMAGE_SETS)}  # the same keys as judge_fid's
    produced |= {("lm_perplexity", m) for m in perplexity_rows({"original": (1.0, 2), "image_to_text": (2.0, 3)})}
    produced |= {("cross_modal", metric) for metric in flatten(attribute_metrics())}  # CelebA's branch
    undefined = sorted(pair for pair in produced if define(*pair) is None)
    assert not undefined, f"metrics without a glossary line (add them to the evaluator's Metrics: section): {undefined}"
    assert all(definitions(name) for name in EVALUATORS.names())


def attribute_metrics() -> dict[str, Any]:
    """cross_modal's metrics on multi-label (CelebA-like) data: 40 attributes, an untrained model and judge."""
    from remvae.playground.readers.celeba_captions import (
        CELEBA_ATTRIBUTES,
        CELEBA_GRAMMAR,
    )

    generator = torch.Generator().manual_seed(0)
    labels = (torch.rand(16, 40, generator=generator) < 0.3).long()
    captions = CELEBA_GRAMMAR.captions(labels.numpy(), seed=0)
    images = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8, generator=generator)
    data = ImageTextDataset(images, captions, labels, CELEBA_ATTRIBUTES, CELEBA_GRAMMAR)
    tokenizer = Tokenizer.fit(captions)
    image = ARCHITECTURES.build("linear", {"latent_dim": 4, "hidden_dims": [16], "channels": 3, "image_size": 16})
    text = ARCHITECTURES.build("gru", {"latent_dim": 4, "embedding_dim": 8, "hidden_dim": 8, "max_length": 40},
                               tokenizer=tokenizer)
    network = JudgeNetworkConfig(image_size=16, channels=3, num_outputs=40, multilabel=True, widths=[4], hidden=8)
    judge = Judge(JudgeCNN(network), name="attributes", multilabel=True, image_size=16, channels=3,
                  label_names=CELEBA_ATTRIBUTES)
    model = MODELS.build("aligned", {}, image=image, text=text).eval()
    context = EvaluationContext(model, tokenizer, data, judge=judge)
    return run_evaluators(context, {"cross_modal": EVALUATORS.build("cross_modal")}, None)["evaluators"][
        "cross_modal"]["metrics"]


def test_celeba_joint_coherence_is_set_beside_the_same_share_for_text_to_image(tmp_path: Path) -> None:
    metrics = attribute_metrics()
    (tmp_path / "metrics").mkdir()
    entry = {"split": "test", "n": 16, "metrics": metrics}
    (tmp_path / "metrics" / "eval.json").write_text(json.dumps({"evaluators": {"cross_modal": entry}}),
                                                    encoding="utf-8")
    rows = {row.label: row for row in headline_rows(Subject(tmp_path), "celeba")}
    joint = rows["joint coherence (prior samples)"]
    assert joint.value == f"{metrics['joint_coherence'] * 100:.2f}%"
    assert joint.baseline == f"text → image {metrics['text_to_image_recall_micro'] * 100:.2f}%"
    assert rows["text → image attribute agreement"].baseline.startswith("majority ")
    gap = abs(metrics["joint_coherence"] - metrics["text_to_image_recall_micro"]) * 100
    assert any(f"joint generation is {gap:.1f} points" in note for note in NOTES["cross_modal"](metrics, None, 16))


def test_glossary_convention_is_parsed_and_enforced() -> None:
    doc = """First line.

    Metrics:
        exact_name: one definition
            continued here.
        <set>_fid: a pattern.
        score_{a,b}: alternatives.

    Not part of it: x.
    """
    parsed = parse_metrics(doc)
    assert [(d.name, d.text) for d in parsed] == [("exact_name", "one definition continued here."),
                                                 ("<set>_fid", "a pattern."), ("score_{a,b}", "alternatives.")]
    assert parsed[1].matches("prior_fid") and not parsed[1].matches("prior_fid.x")
    assert parsed[2].matches("score_b") and not parsed[2].matches("score_c")
    with pytest.raises(GlossaryError, match="not 'name: definition'"):
        parse_metrics("Title.\n\n    Metrics:\n        just words without a colon\n")
    assert define("cross_modal", "text_to_image_class_fid") != define("cross_modal", "text_to_image_top1")


def test_config_appendix_lists_only_settings_changed_from_their_defaults(run: Path) -> None:
    text = pdf_text(run / "report.pdf")
    appendix = " ".join(text[text.index("Configuration: what differs from the defaults"):].split())
    config = json.loads((run / "config.json").read_text(encoding="utf-8"))
    changed = {setting.key for setting in changed_settings(config)}
    assert {"trainer.config.batch_size", "trainer.config.epochs", "text.config.embedding_dim", "reader.name",
            "evaluators.cross_modal_sampled.config.sample", "evaluators.perplexity.config.k"} <= changed
    assert "trainer.config.batch_size 64 32" in appendix  # value, then the trainer config's default
    for key in set(flatten(config)) - changed:
        assert not re.search(rf"(^|\s){re.escape(key)}\s", appendix), f"{key} has its default value but is listed"


def test_training_curves_show_the_validation_curve(run: Path) -> None:
    validation = [json.loads(line) for line in (run / "metrics" / "validation.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (run / "metrics" / "train.jsonl").read_text().splitlines()]
    figure = curves_figure([CurveSet("run", [train], [validation])])
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["training (moving average)", "validation (β = 1)"]
    loss_panel = next(ax for ax in figure.axes if ax.get_title(loc="left") == "total loss")
    marked = [line for line in loss_panel.get_lines() if line.get_marker() not in ("None", None, "")]
    assert len(marked) == 1 and len(marked[0].get_xdata()) == len(validation) == 2
    flat = flat_text(run / "report.pdf")
    assert f"Training curves {len(train)} logged steps and {len(validation)} validation epochs" in flat.replace(
        "Figure 10. ", "")


def test_no_page_but_the_last_is_nearly_empty(run: Path, tmp_path: Path) -> None:
    needs("pdftoppm")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(run / "report.pdf"), str(tmp_path / "page")], check=True)
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pdf_pages(run / "report.pdf") >= 5
    for path in rendered[:-1]:
        with Image.open(path) as image:
            ink = np.asarray(image.convert("L")) < 200
        height = ink.shape[0]
        top, bottom = MARGIN / PAGE_HEIGHT * height, (1 - (FOOTER + 0.1) / PAGE_HEIGHT) * height
        rows = np.flatnonzero(ink[: int(bottom)].any(axis=1))
        filled = (rows.max() - top) / (bottom - top)
        assert filled > 0.25, f"{path.name} is only {filled:.0%} full"


def test_pages_render_within_the_margins(run: Path, tmp_path: Path) -> None:
    needs("pdftoppm")
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(run / "report.pdf"), str(tmp_path / "page")], check=True)
    for path in sorted(tmp_path.glob("page-*.png")):
        with Image.open(path) as image:
            assert abs(image.size[0] / image.size[1] - PAGE_WIDTH / PAGE_HEIGHT) < 0.01
            ink = np.asarray(image.convert("L")) < 128
        assert ink.any(), f"{path.name} is blank"
        columns = np.flatnonzero(ink.any(axis=0))  # nothing may be drawn in the outer 2% of the page
        assert columns.min() > 0.02 * ink.shape[1] and columns.max() < 0.98 * ink.shape[1], path.name


def test_missing_stages_are_listed_not_fatal(bare_run: Path) -> None:
    written = visualize(bare_run, options=SMALL)
    assert [path.name for path in written] == ["training_curves.png"]
    manifest = json.loads((bare_run / "figures" / "figures.json").read_text(encoding="utf-8"))["figures"]
    assert manifest["reconstructions"]["status"] == "missing"
    assert "no trained model" in manifest["reconstructions"]["reason"]
    flat = flat_text(write_report(bare_run))
    assert "No evaluation results (metrics/eval.json: missing" in flat
    assert "Text → image: missing" in flat and "Evaluation results missing" in flat
    assert "training missing" in flat and "metrics/train_summary.json: missing" in flat
    assert "Missing figures" in flat and re.search(r"Reconstructions no trained model", flat)
    assert "Training curves" in flat and "Training curves: missing" not in flat


def test_reference_pages_put_the_published_tables_beside_ours(run: Path, evaluation: dict, tmp_path: Path) -> None:
    def as_reader(reader: str, image_size: int) -> str:
        copy = tmp_path / reader
        shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "report.pdf"))
        config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
        config["reader"]["name"], config["image_size"] = reader, image_size
        (copy / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return flat_text(write_report(copy))

    ours = evaluation["evaluators"]["cross_modal"]["metrics"]
    mnist = as_reader("mnist", 28)
    assert "Beside the reference: Table 1" in mnist and "https://github.com/ricardocardn/Re-MVAE" in mnist
    assert f"text → image accuracy 76.18% 64.06% {ours['text_to_image_top1'] * 100:.2f}%" in mnist
    assert f"image → text accuracy 82.13% 70.25% {ours['image_to_text_vs_judge'] * 100:.2f}%" in mnist
    assert "original text PPL 272.18 492.34" in mnist and "image → text PPL / original 1.003 1.012" in mnist
    assert "makes absolute perplexities incomparable" in mnist
    assert "no GPT-2 column" in mnist  # lm_perplexity ran without its LM
    celeba = as_reader("celeba", 56)
    assert "Beside the reference: Table 2" in celeba
    assert "GRU 56×56 ◀ this run's configuration 102.02 111.31 9.29" in celeba
    assert "xLSTM 32×32 102.71 106.82 4.11" in celeba and "LSTM 128×128 not given not given not given" in celeba
    fid = evaluation["evaluators"]["judge_fid"]["metrics"]
    assert (f"remvae, this run (GRU 56×56), judge features {format_value(fid['reconstruction_fid'])} "
            f"{format_value(fid['prior_fid'])} {format_value(fid['prior_fid'] - fid['reconstruction_fid'])}") in celeba


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
