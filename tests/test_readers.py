"""Readers: the real data sets under ../shared/data when present, the bundled digits always."""

from __future__ import annotations

import functools
import gzip
import http.server
import importlib.util
import os
import threading
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets
from conftest import REPO, shared_dataset

from remvae.core.config import ConfigError
from remvae.core.data import (
    DataNotFoundError,
    ImageDataset,
    ImageTextDataset,
    TextDataset,
)
from remvae.core.registry import READERS
from remvae.playground.readers import (
    CELEBA_ATTRIBUTES,
    CELEBA_GRAMMAR,
    BundledDigits,
    CelebACaptions,
    DataFormatError,
    FashionMNISTCaptions,
    MNISTCaptions,
    cache_dir,
    data_roots,
    read_text_file,
)
from remvae.playground.readers.bundled import bundled_folder
from remvae.playground.readers.celeba import (
    read_attributes,
    read_partition,
    split_indices,
)
from remvae.playground.readers.celeba_captions import EXCLUSIVE, INDEX, MALE, MEN_ONLY
from remvae.text import FASHION_MNIST_GRAMMAR, MNIST_GRAMMAR, Tokenizer

BUNDLED_FILES = (
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
)


def raw_idx(path: Path, header: int) -> np.ndarray:
    """An idx file decoded the plain way, as an independent check of the reader."""
    return np.frombuffer(gzip.decompress(path.read_bytes())[header:], dtype=np.uint8)


def extracted_bundled_root(tmp_path: Path) -> Path:
    """A root with MNIST/raw/ holding the bundled test digits as extracted (not gzipped) idx files."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in BUNDLED_FILES[2:]:
        with bundled_folder().joinpath(name).open("rb") as file:
            (raw / name.removesuffix(".gz")).write_bytes(gzip.decompress(file.read()))
    return tmp_path / "data"


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` with its size and modification time."""
    state = {}
    for directory, _, files in os.walk(folder):
        for name in [".", *files]:
            path = Path(directory, name)
            info = path.stat()
            state[str(path)] = (info.st_size, info.st_mtime_ns)
    return state


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No REMVAE_DATA, and a cache inside tmp_path (returned)."""
    monkeypatch.delenv("REMVAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "remvae" / "data"


# -- registry and the bundled digits (always) ------------------------------------------------------------


def test_every_reader_is_registered_with_a_config_and_a_description():
    assert {"mnist", "fashion_mnist", "celeba", "bundled_digits", "text_file"} <= set(READERS.names())
    for name in ("mnist", "fashion_mnist", "celeba", "bundled_digits", "text_file"):
        entry = READERS.get(name)
        assert entry.description and entry.config.model_fields


@pytest.mark.parametrize("split, size", [("train", 3600), ("validation", 400), ("test", 1000)])
def test_bundled_digits_are_balanced_real_digits_captioned_by_label(split, size):
    data = READERS.build("bundled_digits", {"split": split}, transform=lambda x: x * 2)
    assert isinstance(data, ImageTextDataset) and len(data) == size
    assert data.images.shape == (size, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.labels.shape == (size,) and data.labels.dtype == torch.long
    assert torch.bincount(data.labels).tolist() == [size // 10] * 10
    assert data.images.min() == 0 and data.images.max() == 255
    assert 0.10 < data.images.float().mean() / 255 < 0.17  # MNIST's mean intensity is 0.13
    assert data.grammar is MNIST_GRAMMAR and data.label_names == list(MNIST_GRAMMAR.classes)
    assert [data.grammar.parse(c) for c in data.captions] == data.labels.tolist()
    image, caption = data[3]
    assert image.dtype == torch.float32 and image.max() == 2.0 and caption == data.captions[3]
    assert ImageDataset(data)[3].shape == (1, 28, 28)


def test_the_validation_split_is_fixed_stratified_and_disjoint_from_train():
    """The same held-out items whatever the run's seed; each class gives its share; none is also in train."""
    def pixels(data):
        return {bytes(image.numpy()) for image in data.images}

    validation = READERS.build("bundled_digits", {"split": "validation", "seed": 0})
    again = READERS.build("bundled_digits", {"split": "validation", "seed": 7})
    assert torch.equal(validation.images, again.images) and torch.equal(validation.labels, again.labels)
    assert torch.bincount(validation.labels).tolist() == [40] * 10
    train = READERS.build("bundled_digits", {"split": "train"})
    assert not pixels(validation) & pixels(train)
    everything = READERS.build("bundled_digits", {"split": "train", "validation_size": 0})
    assert pixels(validation) | pixels(train) == pixels(everything)
    uneven = READERS.build("bundled_digits", {"split": "validation", "validation_size": 37})
    counts = torch.bincount(uneven.labels, minlength=10)
    assert int(counts.sum()) == 37 and int(counts.max() - counts.min()) <= 1
    with pytest.raises(ConfigError, match=r"validation_size: 5000 is more than the 4000 items"):
        READERS.build("bundled_digits", {"split": "validation", "validation_size": 5000})


def test_bundled_files_are_package_data_and_small():
    folder = resources.files("remvae.playground.readers").joinpath("bundled")
    sizes = [len(folder.joinpath(name).read_bytes()) for name in BUNDLED_FILES]
    assert all(size > 0 for size in sizes) and sum(sizes) <= 3 * 2**20
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"playground/readers/bundled/*"' in pyproject


def test_template_choice_and_subset_are_seeded():
    first, again, other = (BundledDigits(train=False, seed=seed) for seed in (0, 0, 1))
    assert first.captions == again.captions and first.captions != other.captions
    assert torch.equal(first.images, other.images)  # the seed picks templates, not images, without `length`
    small, small_again, small_other = (BundledDigits(train=False, length=100, seed=seed) for seed in (0, 0, 1))
    assert len(small) == 100 and small.images.shape == (100, 1, 28, 28)
    assert torch.equal(small.images, small_again.images) and small.captions == small_again.captions
    assert not torch.equal(small.images, small_other.images)
    full_rows = {bytes(row) for row in first.images.flatten(1).numpy()}
    assert all(bytes(row) in full_rows for row in small.images.flatten(1).numpy())
    assert [MNIST_GRAMMAR.parse(c) for c in small.captions] == small.labels.tolist()
    with pytest.raises(ConfigError, match=r"length: 1001 is more than the 1000 items"):
        BundledDigits(train=False, length=1001)


@pytest.mark.parametrize("size", [8, 14, 56])
def test_images_are_resized_once_to_image_size(size):
    native = BundledDigits(train=False, length=200)
    resized = READERS.build("bundled_digits", {"split": "test", "length": 200, "image_size": size})
    assert resized.images.shape == (200, 1, size, size) and resized.images.dtype == torch.uint8
    assert resized.captions == native.captions
    # Antialiased resizing keeps the mean brightness of every image within a few grey levels.
    difference = (resized.images.float().mean((1, 2, 3)) - native.images.float().mean((1, 2, 3))).abs()
    assert difference.max() < 4.0


def test_custom_templates_write_and_parse_captions():
    templates = ["digit {x}", "the number {x} in ink"]
    data = BundledDigits(train=False, length=300, templates=templates)
    assert data.grammar.templates == tuple(templates) and data.grammar.classes == MNIST_GRAMMAR.classes
    assert {c.split()[0] for c in data.captions} == {"digit", "the"}
    assert [data.grammar.parse(c) for c in data.captions] == data.labels.tolist()


@pytest.mark.parametrize(
    "reader, config, field",
    [
        ("bundled_digits", {"image_size": 0}, "image_size"),
        ("bundled_digits", {"length": -1}, "length"),
        ("bundled_digits", {"templates": ["a digit"]}, "templates"),
        ("bundled_digits", {"templates": []}, "templates"),
        ("bundled_digits", {"root": "/data"}, "root: unknown key"),
        ("mnist", {"image_size": 7}, "image_size"),
        ("fashion_mnist", {"templates": ["{x} and {y}"]}, "templates"),
        ("celeba", {"crop": 0}, "crop"),
        ("celeba", {"test_fraction": 1.0}, "test_fraction"),
        ("celeba", {"attributes_per_caption": -1}, "attributes_per_caption"),
        ("celeba", {"split": "val"}, "split"),
        ("text_file", {}, "path"),
    ],
)
def test_a_bad_config_is_refused_naming_the_field(reader, config, field):
    with pytest.raises(ConfigError, match=rf"{reader}\.{field}") as error:
        READERS.build(reader, config)
    assert "\n" not in str(error.value)


# -- roots, missing data, downloads ------------------------------------------------------------------------


def test_extracted_idx_files_are_read_like_the_gzipped_ones(tmp_path, clean_environment):
    root = extracted_bundled_root(tmp_path)
    data = MNISTCaptions(root=root, train=False, length=300)
    bundled = BundledDigits(train=False, length=300)
    assert torch.equal(data.images, bundled.images) and data.captions == bundled.captions
    assert data.source_files[0] == root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"


def test_root_comes_from_config_then_environment_then_cache(tmp_path, clean_environment, monkeypatch):
    root = extracted_bundled_root(tmp_path)
    assert data_roots(None) == [clean_environment] == [cache_dir()]
    assert data_roots(None, download=True) == [clean_environment]
    monkeypatch.setenv("REMVAE_DATA", str(root))
    assert data_roots(None) == [root] and data_roots(None, download=True) == [root, clean_environment]
    assert len(MNISTCaptions(train=False)) == 1000  # found through REMVAE_DATA
    monkeypatch.setenv("REMVAE_DATA", str(tmp_path / "elsewhere"))
    assert len(MNISTCaptions(root, train=False)) == 1000  # an explicit root wins


def test_missing_data_gives_one_line_naming_where_it_looked_and_how_to_fix_it(tmp_path, clean_environment, monkeypatch):
    for reader, folder, wanted in (
        ("mnist", "MNIST/raw", "t10k-images-idx3-ubyte"),
        ("fashion_mnist", "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
        ("celeba", "celeba", "list_attr_celeba.txt"),
    ):
        with pytest.raises(DataNotFoundError) as error:
            READERS.build(reader, {"root": str(tmp_path / "empty"), "split": "test"} if reader != "celeba"
                          else {"root": str(tmp_path / "empty")})
        message = str(error.value)
        assert "\n" not in message and str(tmp_path / "empty" / folder) in message and wanted in message
        assert "REMVAE_DATA" in message and "download=True" in message
    monkeypatch.setenv("REMVAE_DATA", str(tmp_path / "from_env"))
    with pytest.raises(DataNotFoundError, match=str(tmp_path / "from_env" / "MNIST" / "raw")):
        MNISTCaptions()
    monkeypatch.delenv("REMVAE_DATA")
    with pytest.raises(DataNotFoundError, match=str(clean_environment / "MNIST" / "raw")):
        MNISTCaptions()


def test_a_failed_download_names_both_folders_and_the_failure(tmp_path, clean_environment, monkeypatch):
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", ["http://127.0.0.1:1/"])  # nothing listens there
    with pytest.raises(DataNotFoundError) as error, pytest.warns(UserWarning, match="read-only"):
        MNISTCaptions(read_only, train=False, download=True)
    message = str(error.value)
    assert "\n" not in message and str(read_only / "MNIST" / "raw") in message
    assert f"download into {clean_environment / 'MNIST' / 'raw'} failed" in message
    assert list(read_only.iterdir()) == []


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # torchvision closes HEAD requests early


def test_download_goes_through_torchvision_into_the_cache_when_root_is_read_only(
    tmp_path, clean_environment, monkeypatch
):
    raw = shared_dataset("MNIST") / "MNIST" / "raw"
    server = _QuietServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(raw)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    read_only = tmp_path / "read_only"
    read_only.mkdir(mode=0o555)
    try:
        with pytest.warns(UserWarning, match="read-only"):
            data = MNISTCaptions(read_only, train=False, download=True)
    finally:
        server.shutdown()
        server.server_close()
    assert len(data) == 10000 and data.labels[0] == 7
    assert data.source_files[0].parent == clean_environment / "MNIST" / "raw"
    assert list(read_only.iterdir()) == []
    # Downloaded once: a second reader finds the cached copy without the server.
    assert len(MNISTCaptions(read_only, train=False, download=True, length=10)) == 10


def test_the_shared_read_only_root_is_never_written(shared_data):
    before = snapshot(shared_data)
    for reader, folder, config in (
        ("mnist", "MNIST", {"split": "test"}),
        ("fashion_mnist", "FashionMNIST", {"split": "test"}),
        ("celeba", "celeba", {"split": "test", "length": 20}),
    ):
        if (shared_data / folder).is_dir():
            READERS.build(reader, {"root": str(shared_data), "download": True, **config})
    assert snapshot(shared_data) == before


# -- MNIST and Fashion-MNIST on the real files -------------------------------------------------------------


def test_mnist_reads_the_original_files():
    root = shared_dataset("MNIST")
    whole = MNISTCaptions(root, train=True, validation_size=0)
    assert whole.images.shape == (60000, 1, 28, 28) and whole.labels[0] == 5
    assert torch.bincount(whole.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    expected = raw_idx(root / "MNIST" / "raw" / "train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    assert np.array_equal(whole.images.numpy(), expected)
    train, validation = MNISTCaptions(root, train=True), MNISTCaptions(root, split="validation")
    assert len(train) == 55000 and len(validation) == 5000
    counts = torch.bincount(validation.labels).tolist()  # each class its share of 5,000: 5000 * n_c / 60000
    assert counts == [494, 562, 496, 511, 487, 452, 493, 522, 487, 496]  # largest remainders, ties in class order
    test = READERS.build("mnist", {"root": str(root), "split": "test", "image_size": 32, "length": 500, "seed": 3})
    assert test.images.shape == (500, 1, 32, 32) and test.images.dtype == torch.uint8
    assert [MNIST_GRAMMAR.parse(c) for c in test.captions] == test.labels.tolist()
    assert all(path.suffix == ".gz" and path.is_relative_to(root) for path in test.source_files)


def test_fashion_mnist_reads_the_original_files():
    root = shared_dataset("FashionMNIST")
    test = FashionMNISTCaptions(root, train=False, image_size=28)
    assert len(test) == 10000 and torch.bincount(test.labels).tolist() == [1000] * 10
    assert test.label_names == list(FASHION_MNIST_GRAMMAR.classes)
    assert [test.grammar.parse(c) for c in test.captions] == test.labels.tolist()
    labels = raw_idx(root / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte.gz", 8)
    assert np.array_equal(test.labels.numpy(), labels)
    assert len(READERS.build("fashion_mnist", {"root": str(root), "length": 64})) == 64


def test_the_bundled_digits_regenerate_byte_identically_from_real_mnist(tmp_path):
    root = shared_dataset("MNIST")
    spec = importlib.util.spec_from_file_location("make_bundled_digits", REPO / "tools" / "make_bundled_digits.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.make(root, tmp_path)
    for name in BUNDLED_FILES:
        assert (tmp_path / name).read_bytes() == bundled_folder().joinpath(name).read_bytes(), name
    real = {bytes(row) for row in MNISTCaptions(root, train=True, validation_size=0).images.flatten(1).numpy()}
    assert all(bytes(row) in real for row in BundledDigits(train=True, validation_size=0).images.flatten(1).numpy())


# -- CelebA ---------------------------------------------------------------------------------------------------


def test_celeba_reads_faces_attributes_and_captions_that_parse_back():
    root = shared_dataset("celeba")
    data = READERS.build("celeba", {"root": str(root), "split": "test"})
    assert isinstance(data, CelebACaptions) and len(data) == 1000
    assert data.images.shape == (1000, 3, 64, 64) and data.images.dtype == torch.uint8
    assert data.labels.shape == (1000, 40) and data.labels.dtype == torch.long
    assert set(data.labels.unique().tolist()) == {0, 1}
    assert data.grammar is None and data.attribute_grammar is CELEBA_GRAMMAR and data.multilabel
    lines = (root / "celeba" / "list_attr_celeba.txt").read_text().splitlines()
    assert data.label_names == lines[1].split()
    rows = {line.split()[0]: [int(v == "1") for v in line.split()[1:]] for line in lines[2:]}
    assert all(rows[f] == label for f, label in zip(data.files, data.labels.tolist()))
    for caption, label in zip(data.captions, data.labels):
        assert CELEBA_GRAMMAR.is_well_formed(caption), caption
        mentioned = CELEBA_GRAMMAR.parse(caption)
        assert torch.all(mentioned <= label), caption  # every attribute a caption names is set
        assert int(mentioned.sum()) - int(mentioned[MALE]) <= 3
        assert caption.split()[-1] != "woman" or not label[MALE]
    assert 60 < data.images.float().mean() < 160 and data.images.float().std() > 30


def test_celeba_splits_follow_the_partition_file_where_it_has_them():
    partition = np.array([0, 0, 1, 2, 0, 1, 2, 0])
    assert split_indices(partition, "train", 0.1, 0.1, 0).tolist() == [0, 1, 4, 7]
    assert split_indices(partition, "validation", 0.1, 0.1, 0).tolist() == [2, 5]
    assert split_indices(partition, "test", 0.1, 0.1, 0).tolist() == [3, 6]


def test_celeba_held_out_splits_are_deterministic_and_disjoint():
    folder = shared_dataset("celeba") / "celeba"
    files, _ = read_attributes(folder / "list_attr_celeba.txt")
    partition = read_partition(folder / "list_eval_partition.txt", files)
    assert len(files) == 10000 and not partition.any()  # the shared subset: all official train
    train, validation, test = (split_indices(partition, split, 0.1, 0.1, 0) for split in ("train", "validation", "test"))
    assert (len(train), len(validation), len(test)) == (8000, 1000, 1000)
    assert not set(train) & set(test) and not set(train) & set(validation) and not set(validation) & set(test)
    assert set(train) | set(validation) | set(test) == set(range(10000))
    assert np.array_equal(test, split_indices(partition, "test", 0.1, 0.1, 0))
    assert not np.array_equal(test, split_indices(partition, "test", 0.1, 0.1, 1))
    assert np.array_equal(test, split_indices(partition, "test", 0.1, 0.0, 0))  # the test faces do not depend on it
    assert len(split_indices(partition, "test", 0.25, 0.1, 0)) == 2500
    data = CelebACaptions(folder.parent, split="test", length=40, image_size=32, crop=1.0, attributes_per_caption=1)
    assert data.images.shape == (40, 3, 32, 32)
    assert set(data.files) <= {files[i] for i in test}
    assert all(int(CELEBA_GRAMMAR.parse(c).sum()) <= 2 for c in data.captions)
    again = CelebACaptions(folder.parent, split="test", length=40, image_size=32, crop=1.0, attributes_per_caption=1)
    assert again.files == data.files and again.captions == data.captions and torch.equal(again.images, data.images)
    with pytest.raises(ConfigError, match="split: 'validation' has no images"):
        CelebACaptions(folder.parent, split="valid", validation_fraction=0)


def test_celeba_grammar_names_every_attribute_and_the_example_reads_naturally():
    caption = CELEBA_GRAMMAR.caption([INDEX["Smiling"], INDEX["Blond_Hair"], INDEX["Eyeglasses"]], male=False)
    assert caption == "a smiling woman with blond hair and eyeglasses"
    for index, name in enumerate(CELEBA_ATTRIBUTES):
        caption = CELEBA_GRAMMAR.caption([index], male=True)
        assert CELEBA_GRAMMAR.parse_strict(caption) == {index, MALE}, (name, caption)
    both = [INDEX[n] for n in ("Wavy_Hair", "Blond_Hair", "Big_Nose", "Pointy_Nose", "Wearing_Hat", "Blurry", "Young")]
    caption = CELEBA_GRAMMAR.caption(both, male=True)
    assert caption == "a blurry photo of a young man with wavy blond hair and a big pointy nose wearing a hat"
    assert CELEBA_GRAMMAR.parse(caption).nonzero().flatten().tolist() == sorted({*both, MALE})


def test_celeba_captions_round_trip_through_the_tokenizer_and_the_parser():
    rows = (np.random.default_rng(0).random((600, 40)) < 0.35).astype(np.int64)
    captions = CELEBA_GRAMMAR.captions(rows, seed=4, attributes_per_caption=3)
    assert captions == CELEBA_GRAMMAR.captions(rows, seed=4, attributes_per_caption=3)
    assert captions != CELEBA_GRAMMAR.captions(rows, seed=5, attributes_per_caption=3)
    tokenizer = Tokenizer.fit(captions)
    decoded = tokenizer.decode_batch(tokenizer.encode_batch(captions).tokens)
    assert decoded == captions  # commas, "o'clock" and "clean-shaven" survive tokenization
    for caption, row in zip(captions, rows):
        mentioned = CELEBA_GRAMMAR.parse_strict(caption)
        assert mentioned is not None and all(row[i] for i in mentioned), caption
        eligible = {i for i in np.flatnonzero(row) if i != MALE and (row[MALE] or i not in MEN_ONLY)}
        distinct = len(eligible - set().union(*EXCLUSIVE)) + sum(bool(eligible & group) for group in EXCLUSIVE)
        assert len(mentioned - {MALE}) == min(3, distinct), caption


@pytest.mark.parametrize(
    "caption",
    ["a smiling woman with", "woman a smiling", "an man", "a woman with blond hair and blond hair",
     "a woman with blond black hair", "a woman with blond hair eyeglasses", "a man wearing a hat with eyeglasses",
     "a woman with blond hair and , eyeglasses", "a blurry photo of", ""],
)
def test_ill_formed_captions_are_recognised(caption):
    assert not CELEBA_GRAMMAR.is_well_formed(caption)


def test_lenient_parsing_finds_attributes_in_broken_captions():
    found = CELEBA_GRAMMAR.parse("man man big nose smiling smiling hat wavy blond hair")
    assert found.nonzero().flatten().tolist() == sorted(
        INDEX[n] for n in ("Male", "Big_Nose", "Smiling", "Wearing_Hat", "Wavy_Hair", "Blond_Hair")
    )
    assert CELEBA_GRAMMAR.parse("a woman").sum() == 0 and CELEBA_GRAMMAR.parse("").shape == (40,)


# -- text files --------------------------------------------------------------------------------------------------


def test_text_file_reader_skips_blank_lines(tmp_path):
    path = tmp_path / "sentences.txt"
    path.write_text("\ufeffthe first sentence\r\n\n   a second one  \n\nüñíçødé too\n", encoding="utf-8")
    data = READERS.build("text_file", {"path": str(path), "split": "all"})
    assert isinstance(data, TextDataset)
    assert list(data) == ["the first sentence", "a second one", "üñíçødé too"]
    assert read_text_file(path).captions == data.captions
    with pytest.raises(ValueError, match="transform"):
        READERS.build("text_file", {"path": str(path), "split": "all"}, transform=lambda x: x)


def test_text_file_reader_errors_name_the_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=f"text file {tmp_path / 'absent.txt'} not found"):
        read_text_file(tmp_path / "absent.txt")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(DataFormatError, match=rf"{bad}: not UTF-8 text \(byte 8, line 2\)"):
        read_text_file(bad)
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    with pytest.raises(DataFormatError, match="no sentences"):
        read_text_file(blank)


def test_corrupt_idx_files_are_reported_by_name(tmp_path, clean_environment):
    root = extracted_bundled_root(tmp_path)
    images = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(DataFormatError, match=rf"{images}: .* bytes where the header's shape \(1000, 28, 28\)"):
        MNISTCaptions(root, train=False)
    images.write_bytes(b"\x00\x00\x0d\x03")
    with pytest.raises(DataFormatError, match="not an unsigned-byte idx file"):
        MNISTCaptions(root, train=False)


def test_plain_classes_validate_their_options_like_the_registry():
    with pytest.raises(ConfigError, match=r"mnist\.imag_size: unknown key"):
        MNISTCaptions(imag_size=3)
    with pytest.raises(ConfigError, match=r"celeba\.crop: .*given: 2"):
        CelebACaptions(crop=2)
    with pytest.raises(ConfigError, match=r"bundled_digits\.seed"):
        BundledDigits(seed="x")
