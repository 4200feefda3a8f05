"""remvae serve: the JSON API and its limits (FastAPI's in-process test client), the server's binding, the CLI
hook, and the page driven in a real headless Chromium, all against one tiny run trained here."""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import re
import struct
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import tiny_args
from PIL import Image

import remvae
from remvae import cli, experiment
from remvae.core.runfolder import RunFolderError
from remvae.serve import DEFAULT_HOST, Limits
from remvae.serve.cli import configure_parser, serve_command

try:
    from starlette.testclient import TestClient

    from remvae.serve import build_server, create_app
    from remvae.serve.app import STATIC
except (ImportError, RuntimeError) as missing:  # starlette's test client raises RuntimeError without httpx2
    if os.environ.get("CI"):
        raise
    pytest.skip(f"remvae serve's dependencies are missing ({missing}): pip install -e '.[serve,test]'",
                allow_module_level=True)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SIZE = 28  # tiny_args' image size


# Images and answers.


def png_bytes(image: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format)
    return buffer.getvalue()


def data_url(raw: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64," + base64.b64encode(raw).decode("ascii")


def decoded(url: str) -> Image.Image:
    """A PNG data URL as a loaded Pillow image (failing on anything else)."""
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix), url[:40]
    image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix):], validate=True)))
    assert image.format == "PNG"
    image.load()
    return image


def pixels(url: str) -> np.ndarray:
    return np.asarray(decoded(url), dtype=np.int16)


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """Model output ``[1, H, W]`` in [0, 1] as the server's PNGs hold it."""
    return (images[0].clamp(0, 1) * 255).round().to(torch.uint8).numpy().astype(np.int16)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` and whose pixel data is cut short: refused by size
    (413) only if the server reads the header before decoding; decoding it first fails as damaged (400)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)[:20])


def assert_refused(response: Any, status: int, field: str, allowed: str = "") -> None:
    """One line of JSON naming ``field`` (and saying ``allowed``), with ``status``."""
    assert response.status_code == status, response.text
    assert "\n" not in response.text.strip()
    body = response.json()
    assert set(body) == {"error", "field"} and body["field"] == field
    assert body["error"].startswith(f"{field}: ") and "\n" not in body["error"]
    assert allowed in body["error"]


def noise_png(side: int) -> bytes:
    """A PNG of uniform noise (about ``side * side`` bytes: it does not compress)."""
    return png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side), dtype=np.uint8)))


BLANK = data_url(png_bytes(Image.new("L", (SIZE, SIZE))))
GIF = data_url(png_bytes(Image.new("L", (SIZE, SIZE)), "GIF"), "image/gif")


# The run, the model, the servers.


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run trained one epoch and evaluated by ``remvae run`` (serving needs no figures or report)."""
    folder = tmp_path_factory.mktemp("served-run")
    args = folder / "args.json"
    args.write_text(json.dumps(tiny_args(trainer={"name": "simple", "config": {"epochs": 1, "quiet": True}})))
    assert cli.main(["run", str(args), "--quiet", "--until", "eval"]) == 0
    return folder


def local_client(app: Any) -> TestClient:
    """An in-process client addressing the app as a browser on this machine does (``Host: 127.0.0.1``)."""
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture(scope="session")
def model(run_dir: Path) -> remvae.LoadedModel:
    return remvae.load(run_dir)


@pytest.fixture(scope="module")
def client(model: remvae.LoadedModel) -> TestClient:
    return local_client(create_app(model))


@pytest.fixture(scope="module")
def digit(model: remvae.LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.Tensor]:
    """The first digit of the run's test data, as a PNG file and as the uint8 tensor ``[1, H, W]`` it holds."""
    reader = model.run.recorded_config()["reader"]
    image = experiment.test_data(reader["name"], reader["config"], 1).images[0]
    path = tmp_path_factory.mktemp("digit") / "digit.png"
    Image.fromarray(image[0].numpy()).save(path)
    return path, image


@pytest.fixture(scope="module")
def live_server(model: remvae.LoadedModel) -> Any:
    """The real uvicorn server on its default host and a free port, in a thread."""
    server = build_server(model, port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield server
    server.should_exit = True
    thread.join(10)


# The API's happy paths.


def test_info_names_the_run_its_checkpoint_features_and_limits(client: TestClient, model: remvae.LoadedModel):
    info = client.get("/api/info").json()
    assert info["name"] == "tiny" and info["modalities"] == ["image", "text"]
    assert (info["image_size"], info["channels"], info["latent_dim"]) == (SIZE, 1, 8)
    assert info["checkpoint"] == model.identity and info["has_conditional_prior"] is False
    assert info["features"] == {
        "caption_to_images": True, "image_to_caption": True, "interpolate": True, "prior_samples": True,
        "transfer": True,
    }
    assert info["limits"]["max_samples"] == Limits().max_samples
    assert info["limits"]["max_request_bytes"] == Limits().max_request_bytes


def test_caption_to_images_gives_the_mean_and_seeded_samples(client: TestClient, model: remvae.LoadedModel):
    request = {"captions": ["a photo of a seven", "one"], "samples": 3, "seed": 7}
    results = client.post("/api/caption-to-images", json=request).json()["results"]
    assert [r["caption"] for r in results] == request["captions"] and all(len(r["samples"]) == 3 for r in results)
    for result in results:
        for url in [result["mean"], *result["samples"]]:
            assert decoded(url).size == (SIZE, SIZE) and decoded(url).mode == "L"
        expected = as_uint8(model.text_to_image([result["caption"]]))
        assert np.abs(pixels(result["mean"]) - expected).max() <= 1
    again = client.post("/api/caption-to-images", json=request).json()["results"]
    assert again == results
    other = client.post("/api/caption-to-images", json={**request, "seed": 8}).json()["results"]
    assert other[0]["samples"] != results[0]["samples"] and other[0]["mean"] == results[0]["mean"]


def test_image_to_caption_reads_png_and_jpeg_uploads(client: TestClient, model: remvae.LoadedModel, digit):
    path, image = digit
    answer = client.post("/api/image-to-caption", json={"image": data_url(path.read_bytes()), "samples": 4}).json()
    assert answer["greedy"] == model.image_to_text(image)[0] and answer["greedy"].strip()
    assert len(answer["sampled"]) == 4 and all(isinstance(text, str) for text in answer["sampled"])
    assert np.array_equal(pixels(answer["input"]), image[0].numpy())
    bigger = Image.fromarray(image[0].numpy()).resize((3 * SIZE, 2 * SIZE)).convert("RGB")
    jpeg = client.post("/api/image-to-caption", json={"image": data_url(png_bytes(bigger, "JPEG"), "image/jpeg")})
    assert jpeg.status_code == 200 and jpeg.json()["greedy"].strip()
    assert decoded(jpeg.json()["input"]).size == (SIZE, SIZE)


def test_interpolation_walks_from_a_caption_to_an_image(client: TestClient, model: remvae.LoadedModel, digit):
    path, _ = digit
    request = {"a": {"caption": "a photo of a one"}, "b": {"image": data_url(path.read_bytes())}, "steps": 5}
    frames = client.post("/api/interpolate", json=request).json()["frames"]
    assert len(frames) == 5 and all(isinstance(frame["caption"], str) for frame in frames)
    assert all(decoded(frame["image"]).size == (SIZE, SIZE) for frame in frames)
    assert np.abs(pixels(frames[0]["image"]) - as_uint8(model.text_to_image(["a photo of a one"]))).max() <= 1


def test_prior_samples_are_seeded_images_with_captions(client: TestClient):
    first = client.post("/api/prior-samples", json={"n": 4, "seed": 3, "temperature": 0.5}).json()["samples"]
    assert len(first) == 4 and all(decoded(s["image"]).size == (SIZE, SIZE) and s["caption"] for s in first)
    assert client.post("/api/prior-samples", json={"n": 4, "seed": 3, "temperature": 0.5}).json()["samples"] == first


class Seen:
    """The tiny model seen through fewer modalities: what the app detects."""

    def __init__(self, model: remvae.LoadedModel, modalities: tuple[str, ...] = ("image", "text")) -> None:
        self._model = model
        self.modalities = modalities

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


class WithoutTransfer(Seen):
    """A model of both modalities that has no ``transfer`` method."""

    def __getattr__(self, name: str) -> Any:
        if name == "transfer":
            raise AttributeError(name)
        return super().__getattr__(name)


def test_transfer_redraws_the_image_with_the_caption(client: TestClient, model: remvae.LoadedModel, digit):
    path, image = digit
    answer = client.post("/api/transfer", json={"image": data_url(path.read_bytes()), "caption": "a seven"})
    assert answer.status_code == 200 and decoded(answer.json()["image"]).size == (SIZE, SIZE)
    expected = as_uint8(model.transfer(model.prepare_images(image), ["a seven"]))
    assert np.abs(pixels(answer.json()["image"]) - expected).max() <= 1


def test_transfer_is_offered_only_by_models_that_have_it(model: remvae.LoadedModel):
    app = local_client(create_app(WithoutTransfer(model)))  # type: ignore[arg-type]
    assert app.get("/api/info").json()["features"]["transfer"] is False
    assert_refused(app.post("/api/transfer", json={"image": BLANK, "caption": "seven"}), 404, "/api/transfer")


@pytest.mark.parametrize("modalities", [("image",), ("text",)])
def test_single_modality_models_offer_only_what_applies(model: remvae.LoadedModel, modalities: tuple[str, ...]):
    app = local_client(create_app(Seen(model, modalities)))  # type: ignore[arg-type]
    info = app.get("/api/info").json()
    assert info["features"] == {
        "caption_to_images": False, "image_to_caption": False, "interpolate": True, "prior_samples": True,
        "transfer": False,
    }
    assert (info["image_size"] is None) == (modalities == ("text",))
    assert_refused(app.post("/api/caption-to-images", json={"captions": ["seven"]}), 404, "/api/caption-to-images")
    assert_refused(app.post("/api/image-to-caption", json={"image": BLANK}), 404, "/api/image-to-caption")
    missing = "caption" if modalities == ("image",) else "image"
    end = {"caption": "one"} if missing == "caption" else {"image": BLANK}
    other = {"image": BLANK} if missing == "caption" else {"caption": "one"}
    assert_refused(app.post("/api/interpolate", json={"a": end, "b": other}), 400, f"a.{missing}", "reads no")


# Every bound, refused in one line naming the field and what is allowed.

CAPTION = "/api/caption-to-images"
IMAGE = "/api/image-to-caption"
REFUSALS: list[tuple[str, str, Any, int, str, str]] = [
    ("no captions", CAPTION, {"captions": []}, 400, "captions", "1 to 8 captions"),
    ("nine captions", CAPTION, {"captions": ["seven"] * 9}, 400, "captions", "1 to 8 captions"),
    ("a long caption", CAPTION, {"captions": ["x" * 201]}, 400, "captions[0]", "1 to 200 characters"),
    ("a blank caption", CAPTION, {"captions": ["seven", "  "]}, 400, "captions[1]", "not only spaces"),
    ("a caption not text", CAPTION, {"captions": [7]}, 400, "captions[0]", "string"),
    ("captions not a list", CAPTION, {"captions": "seven"}, 400, "captions", "list"),
    ("too many samples", CAPTION, {"captions": ["seven"], "samples": 17}, 400, "samples", "from 0 to 16"),
    ("negative samples", CAPTION, {"captions": ["seven"], "samples": -1}, 400, "samples", "from 0 to 16"),
    ("a seed too large", CAPTION, {"captions": ["seven"], "seed": 2**32}, 400, "seed", "from 0 to 4294967295"),
    ("a negative seed", CAPTION, {"captions": ["seven"], "seed": -1}, 400, "seed", "from 0 to 4294967295"),
    ("a seed not a number", CAPTION, {"captions": ["seven"], "seed": "x"}, 400, "seed", "valid integer"),
    ("a prior scale, no prior", CAPTION, {"captions": ["seven"], "prior_scale": 1}, 400, "prior_scale",
     "no conditional prior"),
    ("an unknown field", CAPTION, {"captions": ["seven"], "path": "/etc/passwd"}, 400, "path", "not a field"),
    ("invalid JSON", CAPTION, b'{"captions": [', 400, "body", "not valid JSON"),
    ("NaN temperature", IMAGE, b'{"image": "%s", "temperature": NaN}' % BLANK.encode(), 400, "temperature",
     "finite number from 0 to 5"),
    ("infinite temperature", IMAGE, b'{"image": "%s", "temperature": Infinity}' % BLANK.encode(), 400,
     "temperature", "finite number from 0 to 5"),
    ("overflowing temperature", IMAGE, b'{"image": "%s", "temperature": 1e999}' % BLANK.encode(), 400,
     "temperature", "finite number"),
    ("'nan' temperature", IMAGE, {"image": BLANK, "temperature": "nan"}, 400, "temperature", "finite number"),
    ("negative temperature", IMAGE, {"image": BLANK, "temperature": -0.5}, 400, "temperature", "from 0 to 5"),
    ("a hot temperature", IMAGE, {"image": BLANK, "temperature": 6}, 400, "temperature", "from 0 to 5"),
    ("no image", IMAGE, {"temperature": 1}, 400, "image", "required"),
    ("a URL for an image", IMAGE, {"image": "https://example.com/seven.png"}, 400, "image", "data URL"),
    ("a path for an image", IMAGE, {"image": "/etc/passwd"}, 400, "image", "data URL"),
    ("bad base64", IMAGE, {"image": "data:image/png;base64,@@@@"}, 400, "image", "base64"),
    ("a GIF", IMAGE, {"image": GIF}, 415, "image", "PNG or JPEG"),
    ("text renamed .png", IMAGE, {"image": data_url(b"just some text\n")}, 415, "image", "PNG or JPEG"),
    ("a truncated PNG", IMAGE, {"image": data_url(noise_png(SIZE)[:400])}, 400, "image",
     "damaged PNG"),
    ("too many pixels", IMAGE, {"image": data_url(png_header_only(5000, 40))}, 413, "image", "2048x2048"),
    ("a decompression bomb", IMAGE, {"image": data_url(png_header_only(60000, 60000))}, 413, "image", "2048x2048"),
    ("no prior samples", "/api/prior-samples", {"n": 0}, 400, "n", "from 1 to 16"),
    ("too many prior samples", "/api/prior-samples", {"n": 17}, 400, "n", "from 1 to 16"),
    ("one step", "/api/interpolate", {"a": {"caption": "one"}, "b": {"caption": "two"}, "steps": 1}, 400, "steps",
     "from 2 to 16"),
    ("too many steps", "/api/interpolate", {"a": {"caption": "one"}, "b": {"caption": "two"}, "steps": 17}, 400,
     "steps", "from 2 to 16"),
    ("an end with both", "/api/interpolate", {"a": {"caption": "one", "image": BLANK}, "b": {"caption": "two"}}, 400,
     "a", "exactly one"),
    ("an end with neither", "/api/interpolate", {"a": {"caption": "one"}, "b": {}}, 400, "b", "exactly one"),
    ("an end's bad image", "/api/interpolate", {"a": {"caption": "one"}, "b": {"image": GIF}}, 415, "b.image",
     "PNG or JPEG"),
    ("a wrong method", "/api/prior-samples", None, 405, "/api/prior-samples", "Method Not Allowed"),
]


@pytest.mark.parametrize(("path", "body", "status", "field", "allowed"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_every_bound_is_refused_in_one_line_naming_the_field(client, path, body, status, field, allowed):
    if body is None:
        response = client.get(path)
    elif isinstance(body, bytes):
        response = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert_refused(response, status, field, allowed)


def test_uploads_over_the_byte_limit_are_refused(model: remvae.LoadedModel):
    small = local_client(create_app(model, Limits(max_upload_bytes=2000)))
    assert_refused(small.post(IMAGE, json={"image": data_url(noise_png(64))}), 413, "image", "at most 2,000 are allowed")
    assert small.post(IMAGE, json={"image": BLANK}).status_code == 200


@pytest.mark.parametrize("chunked", [False, True], ids=["declared length", "chunked"])
def test_request_bodies_over_the_limit_are_refused_before_parsing(model: remvae.LoadedModel, chunked: bool):
    limits = Limits(max_upload_bytes=2000)
    body = json.dumps({"image": data_url(b"\0" * limits.max_request_bytes)}).encode()
    content = iter([body[i:i + 4096] for i in range(0, len(body), 4096)]) if chunked else body
    response = local_client(create_app(model, limits)).post(IMAGE, content=content)
    assert_refused(response, 413, "body", f"larger than the {limits.max_request_bytes:,} bytes allowed")


# The page, the server and the command.


def test_the_page_and_its_files_load_nothing_from_elsewhere(client: TestClient):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    for section in ("caption", "image", "interpolate", "sample", "transfer"):
        assert f'id="{section}-section"' in page.text and f'id="{section}-go"' in page.text
    for name in ("index.html", "page.js", "page.css"):
        assert not re.search(r"https?:|//[\w.-]+\.[a-z]{2,}/|@import", (STATIC / name).read_text()), name
    assert client.get("/static/page.js").headers["content-type"].startswith("text/javascript")


def test_the_server_listens_on_loopback_by_default(live_server: Any):
    host, port = live_server.servers[0].sockets[0].getsockname()[:2]
    assert host == DEFAULT_HOST == "127.0.0.1"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/info", timeout=10) as response:
        assert json.load(response)["name"] == "tiny"


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost", "LOCALHOST:80", "[::1]:8000"])
def test_requests_addressed_to_a_loopback_name_are_answered(model: remvae.LoadedModel, host: str):
    assert TestClient(create_app(model)).get("/api/info", headers={"host": host}).status_code == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8000", "127.0.0.1.attacker.example",
                                  "[::2]:8000", ""])
def test_requests_addressed_to_another_name_are_refused(model: remvae.LoadedModel, host: str):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name, which the Host header still carries."""
    response = TestClient(create_app(model)).get("/api/info", headers={"host": host})
    assert_refused(response, 400, "Host", "is not a name this server answers to")
    assert TestClient(create_app(model, allowed_hosts=None)).get("/api/info", headers={"host": host}).status_code == 200


def test_the_real_server_refuses_a_rebound_name(live_server: Any):
    port = live_server.servers[0].sockets[0].getsockname()[1]
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/info", headers={"Host": f"attacker.example:{port}"})
        response = connection.getresponse()
        assert response.status == 400 and json.load(response)["field"] == "Host"
    finally:
        connection.close()


def test_the_command_defaults_to_loopback_and_reports_bad_runs(tmp_path: Path):
    args = configure_parser(argparse.ArgumentParser()).parse_args([str(tmp_path)])
    assert (args.host, args.port, args.checkpoint, args.device) == ("127.0.0.1", 8000, "best", "cpu")
    with pytest.raises(SystemExit):
        configure_parser(argparse.ArgumentParser()).parse_args([str(tmp_path), "--port", "70000"])
    with pytest.raises(RunFolderError, match="model.json"):  # remvae's CLI turns it into exit status 2
        serve_command(args)


# A real browser.


def chromium_driver() -> Any:
    """Playwright's ``sync_playwright``, when it and Debian's chromium are here; otherwise a skip, or under CI
    (``$CI`` set) a failure."""
    missing = [] if CHROMIUM.exists() else [f"{CHROMIUM} (apt-get install -y chromium)"]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("playwright (pip install playwright; never `playwright install`)")
    if missing:
        message = f"the browser test needs {' and '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return sync_playwright


def test_the_page_in_a_real_browser(live_server: Any, model: remvae.LoadedModel, digit):
    sync_playwright = chromium_driver()
    port = live_server.servers[0].sockets[0].getsockname()[1]
    origin = f"http://127.0.0.1:{port}/"
    requested, problems = [], []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.goto(origin)
            page.wait_for_selector("body[data-ready='true']")
            assert page.is_visible("#caption-section") and page.is_visible("#image-section")
            assert page.is_visible("#transfer-section") and page.is_hidden("#caption-prior-label")

            page.fill("#caption-text", "a photo of a seven")
            page.click("#caption-go")
            page.wait_for_selector("#caption-results img")
            sources = page.eval_on_selector_all("#caption-results img", "images => images.map(image => image.src)")
            assert len(sources) == 1 + 4  # the mean and the page's default 4 samples
            assert all(decoded(source).size == (SIZE, SIZE) for source in sources)

            path, image = digit
            page.set_input_files("#image-file", str(path))
            page.click("#image-go")
            page.wait_for_selector("#image-results:not([hidden])")  # the page's CSP forbids wait_for_function's eval
            assert page.text_content("#image-greedy") == model.image_to_text(image)[0]
            assert page.text_content("#image-greedy").strip()
            assert page.text_content("#image-error") == ""
        finally:
            browser.close()
    assert not problems
    assert all(url.startswith((origin, "data:")) for url in requested), requested
