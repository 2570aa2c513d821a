// Runs an exported generator.onnx with onnxruntime-web (wasm backend) and draws a grid of samples.
// Query string: ?model=URL (default model/generator.onnx), &meta=URL (default <model>.json, written by export.onnx).
// Test hook: window.generate(zFlat, batch, labels) -> Promise<Float32Array> (the `image` output as the file lays it
// out); window.ready = true once the model is loaded and the first grid drawn (window.loadError on failure).
"use strict";

const params = new URLSearchParams(location.search);
const MODEL_URL = params.get("model") || "model/generator.onnx";
const META_URL = params.get("meta") || MODEL_URL + ".json";
const SAMPLES = 16;   // cells in the grid (rounded up to whole rows)
const PAD = 2;        // black pixels between and around cells, as export/grid.py
const DISPLAY = 512;  // on-screen width the grid is scaled up towards, in CSS pixels

ort.env.wasm.wasmPaths = new URL("node_modules/onnxruntime-web/dist/", location.href).href;
ort.env.wasm.numThreads = 1;  // no SharedArrayBuffer, so no cross-origin isolation headers needed

const $ = (id) => document.getElementById(id);
let session, meta;
let queue = Promise.resolve();  // one session.run at a time
let seed = 1, cols = 4, n = SAMPLES, labels = [], a, b;

/** Runs the model on z (batch * latent_dim numbers, row-major) and labels (batch ints; conditional models only). */
function generate(zFlat, batch, labelList) {
  const run = async () => {
    const feeds = {z: new ort.Tensor("float32", Float32Array.from(zFlat), [batch, meta.latent_dim])};
    if (meta.num_classes > 0) feeds.label = new ort.Tensor("int32", Int32Array.from(labelList), [batch]);
    return (await session.run(feeds)).image.data;
  };
  const result = queue.then(run);
  queue = result.catch(() => {});
  return result;
}

/** A seeded uniform PRNG in [0, 1): mulberry32. */
function mulberry32(state) {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** count latents from the metadata's distribution: standard normal (Box-Muller) or uniform in latent_range. */
function latents(rand, count) {
  const z = new Float64Array(count * meta.latent_dim);
  if (meta.latent_distribution === "uniform") {
    const [lo, hi] = meta.latent_range;
    for (let i = 0; i < z.length; i++) z[i] = lo + (hi - lo) * rand();
    return z;
  }
  for (let i = 0; i < z.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())), angle = 2 * Math.PI * rand();
    z[i] = r * Math.cos(angle);
    if (i + 1 < z.length) z[i + 1] = r * Math.sin(angle);
  }
  return z;
}

/** Row by row from za to zb at t: slerp for normal latents (as export/sample.py), linear for uniform ones. */
function interpolate(za, zb, t) {
  const d = meta.latent_dim, out = new Float32Array(za.length);
  for (let start = 0; start < za.length; start += d) {
    let dot = 0, na = 0, nb = 0;
    for (let j = start; j < start + d; j++) { dot += za[j] * zb[j]; na += za[j] * za[j]; nb += zb[j] * zb[j]; }
    const omega = Math.acos(Math.min(1, Math.max(-1, dot / Math.sqrt(na * nb))));
    const slerp = meta.latent_distribution === "normal" && omega > 1e-6;  // parallel ends: lerp is the same path
    const wa = slerp ? Math.sin((1 - t) * omega) / Math.sin(omega) : 1 - t;
    const wb = slerp ? Math.sin(t * omega) / Math.sin(omega) : t;
    for (let j = start; j < start + d; j++) out[j] = wa * za[j] + wb * zb[j];
  }
  return out;
}

/** Grid shape and labels: one class per column for "all classes", else one class (or none) everywhere. */
function layout() {
  const choice = $("class").value;
  const all = meta.num_classes > 0 && choice === "all";
  cols = all ? Math.min(meta.num_classes, SAMPLES) : Math.ceil(Math.sqrt(SAMPLES));
  n = cols * Math.ceil(SAMPLES / cols);
  labels = Array.from({length: n}, (_, i) => (all ? i % meta.num_classes : Number(choice) || 0));
  const rand = mulberry32(seed);
  a = latents(rand, n);
  b = latents(rand, n);
}

/** Draws n images (output_range -> 0..255, NHWC or NCHW) as a grid of `cols` columns on the canvas. */
function draw(images, n, cols) {
  const [h, w, c] = meta.image_shape, [lo, hi] = meta.output_range;
  const width = cols * (w + PAD) + PAD, height = (n / cols) * (h + PAD) + PAD;
  const canvas = $("grid"), pixels = new ImageData(width, height);
  for (let i = 3; i < pixels.data.length; i += 4) pixels.data[i] = 255;
  const nchw = meta.layout === "NCHW", scale = 255 / (hi - lo);
  for (let k = 0; k < n; k++) {
    const x0 = PAD + (k % cols) * (w + PAD), y0 = PAD + Math.floor(k / cols) * (h + PAD);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = ((y0 + y) * width + x0 + x) * 4;
        for (let ch = 0; ch < 3; ch++) {
          const src = c < 3 ? 0 : ch;
          const i = nchw ? ((k * c + src) * h + y) * w + x : ((k * h + y) * w + x) * c + src;
          pixels.data[at + ch] = (images[i] - lo) * scale;  // Uint8ClampedArray: rounds, clips, NaN -> 0
        }
      }
    }
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(pixels, 0, 0);
  const zoom = Math.max(1, Math.floor(DISPLAY / width));
  canvas.style.width = `${width * zoom}px`;
  canvas.style.height = `${height * zoom}px`;
}

let rendering = false, pending = false;

/** Generates and draws the grid at the slider's t; input arriving meanwhile is coalesced into one more render. */
async function render() {
  if (rendering) { pending = true; return; }
  rendering = true;
  try {
    do {
      pending = false;
      const t = Number($("t").value);
      $("t-value").textContent = t.toFixed(2);
      const start = performance.now();
      const count = n, columns = cols;  // layout() may change them while the model runs
      draw(await generate(interpolate(a, b, t), count, labels), count, columns);
      const [h, w, c] = meta.image_shape;
      $("status").textContent = `${MODEL_URL}: ${meta.preset}, step ${meta.step}, ${h}x${w}x${c}, ` +
        `latent ${meta.latent_dim} ${meta.latent_distribution}, seed ${seed}, ` +
        `${n} images in ${(performance.now() - start).toFixed(0)} ms (onnxruntime-web ${ort.env.versions.web}, wasm)`;
    } while (pending);
  } catch (e) {
    $("status").textContent = `error: ${e.message}`;
  } finally {
    rendering = false;
  }
}

async function main() {
  const response = await fetch(META_URL);
  if (!response.ok) throw new Error(`${META_URL}: HTTP ${response.status} (export.onnx writes it beside the model)`);
  meta = await response.json();
  session = await ort.InferenceSession.create(MODEL_URL, {executionProviders: ["wasm"]});
  if (meta.num_classes > 0) {
    const select = $("class");
    select.add(new Option("all classes", "all"));
    meta.class_names.forEach((name, i) => select.add(new Option(name, String(i))));
    $("class-box").hidden = false;
  }
  window.meta = meta;
  window.generate = generate;
  layout();
  await render();
  $("new").disabled = false;
  $("new").onclick = () => { seed += 1; layout(); render(); };
  $("class").onchange = () => { layout(); render(); };
  $("t").oninput = render;
  window.ready = true;
}

main().catch((e) => {
  window.loadError = String(e && e.message ? e.message : e);
  $("status").textContent = `error: ${window.loadError}`;
});
