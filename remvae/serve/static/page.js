// remvae serve: reads /api/info, shows the sections this model offers, and wires each form to its endpoint.
// Images come back as PNG data URLs and are shown as <img>; captions are set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SECTIONS = {
  caption_to_images: "caption-section",
  image_to_caption: "image-section",
  interpolate: "interpolate-section",
  prior_samples: "sample-section",
  transfer: "transfer-section",
};

// POST `body` as JSON (GET without one); the server's one-line error becomes the thrown message.
async function api(path, body) {
  const options = body === undefined ? {} :
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${path}: HTTP ${response.status}`);
  return data;
}

// The chosen file of a file input as a data URL, or null when none is chosen.
function readFile(input) {
  const file = input.files[0];
  if (!file) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error(`${input.id}: cannot read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

// A number input's value, or undefined when empty (so the server's default applies).
function number(id) {
  const value = $(id).value.trim();
  return value === "" ? undefined : Number(value);
}

// A <figure> with an image (when `src` is given) and a caption (when `caption` is a string).
function figure(src, caption) {
  const element = document.createElement("figure");
  if (src) {
    const image = document.createElement("img");
    image.src = src;
    image.alt = caption || "generated image";
    element.append(image);
  }
  if (typeof caption === "string") {
    const text = document.createElement("figcaption");
    text.textContent = caption;
    element.append(text);
  }
  return element;
}

// Run `work` when the section's form is submitted: button disabled meanwhile, errors shown under the form.
function action(name, work) {
  const form = $(`${name}-form`), button = $(`${name}-go`), error = $(`${name}-error`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      await work();
    } catch (problem) {
      error.textContent = problem.message;
    } finally {
      button.disabled = false;
    }
  });
}

function captionToImages() {
  action("caption", async () => {
    const data = await api("/api/caption-to-images", {
      captions: [$("caption-text").value],
      samples: number("caption-samples"),
      seed: number("caption-seed"),
      prior_scale: number("caption-prior-scale"),
    });
    $("caption-results").replaceChildren(...data.results.map((result) => {
      const row = document.createElement("div");
      row.className = "row";
      const title = document.createElement("h3");
      title.textContent = result.caption;
      row.append(title, figure(result.mean, "mean"), ...result.samples.map((src, i) => figure(src, `sample ${i + 1}`)));
      return row;
    }));
  });
}

function imageToCaption() {
  action("image", async () => {
    const image = await readFile($("image-file"));
    if (!image) throw new Error("image: choose a PNG or JPEG file");
    const data = await api("/api/image-to-caption", {
      image,
      samples: number("image-samples"),
      temperature: number("image-temperature"),
      seed: number("image-seed"),
    });
    $("image-input").src = data.input;
    $("image-greedy").textContent = data.greedy;
    $("image-sampled").replaceChildren(...data.sampled.map((caption) => {
      const item = document.createElement("li");
      item.textContent = caption;
      return item;
    }));
    $("image-results").hidden = false;
  });
}

function interpolate(modalities) {
  // One end: the chosen image if there is one, else the caption (for a model that reads text).
  async function end(which) {
    const image = modalities.includes("image") ? await readFile($(`interpolate-${which}-file`)) : null;
    if (image) return { image };
    if (modalities.includes("text")) return { caption: $(`interpolate-${which}-text`).value };
    throw new Error(`${which}: choose an image file`);
  }
  for (const which of ["a", "b"]) {
    $(`interpolate-${which}-clear`).addEventListener("click", () => { $(`interpolate-${which}-file`).value = ""; });
  }
  action("interpolate", async () => {
    const ends = { a: await end("a"), b: await end("b") };
    const data = await api("/api/interpolate", { ...ends, steps: number("interpolate-steps") });
    $("interpolate-results").replaceChildren(...data.frames.map((frame) => figure(frame.image, frame.caption)));
  });
}

function priorSamples() {
  action("sample", async () => {
    const data = await api("/api/prior-samples", {
      n: number("sample-n"), seed: number("sample-seed"), temperature: number("sample-temperature"),
    });
    $("sample-results").replaceChildren(...data.samples.map((sample) => figure(sample.image, sample.caption)));
  });
}

function transfer() {
  action("transfer", async () => {
    const image = await readFile($("transfer-file"));
    if (!image) throw new Error("image: choose a PNG or JPEG file");
    const data = await api("/api/transfer", { image, caption: $("transfer-text").value });
    $("transfer-results").replaceChildren(figure(data.image, $("transfer-text").value));
  });
}

// The run's description, the sections and inputs this model offers, and the inputs' bounds.
function describe(info) {
  const checkpoint = info.checkpoint;
  const size = info.image_size ? ` · images ${info.image_size}×${info.image_size}×${info.channels}` : "";
  $("run-info").textContent = `${info.name} · ${info.modalities.join(" + ")}${size} · latent ${info.latent_dim}` +
    ` · checkpoint ${checkpoint.name} (step ${checkpoint.step}, epoch ${checkpoint.epoch})`;
  for (const [feature, id] of Object.entries(SECTIONS)) $(id).hidden = !info.features[feature];
  for (const modality of ["image", "text"]) {
    for (const element of document.querySelectorAll(`.needs-${modality}`)) {
      element.hidden = !info.modalities.includes(modality);
    }
  }
  $("caption-prior-label").hidden = !info.has_conditional_prior;
  const limits = info.limits;
  for (const id of ["caption-text", "interpolate-a-text", "interpolate-b-text", "transfer-text"]) {
    $(id).maxLength = limits.max_caption_chars;
  }
  for (const id of ["caption-samples", "image-samples", "sample-n"]) $(id).max = limits.max_samples;
  for (const id of ["caption-seed", "image-seed", "sample-seed"]) $(id).max = limits.max_seed;
  for (const id of ["image-temperature", "sample-temperature"]) $(id).max = limits.max_temperature;
  $("caption-prior-scale").max = limits.max_prior_scale;
  $("interpolate-steps").max = limits.max_steps;
}

async function start() {
  let info;
  try {
    info = await api("/api/info");
  } catch (problem) {
    $("status").textContent = problem.message;
    return;
  }
  describe(info);
  captionToImages();
  imageToCaption();
  interpolate(info.modalities);
  priorSamples();
  transfer();
  document.body.dataset.ready = "true";
}

start();
