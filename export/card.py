"""A model card beside every export: `<file>.md` (what it is, how it was trained and measured, its limits) and
`<file>.png` (a grid of its samples). People read them; the runtime and the web page ignore them."""

import io
import json
from pathlib import Path

import numpy as np

from engine.data.registry import describe
from export.runtime import draw_latents
from imagegrid import make_grid, to_uint8
from safeio import printable, replace_file

GRID_SEED, GRID_COUNT = 0, 64


def card_paths(model_path) -> tuple[Path, Path]:
    """(`<file>.md`, `<file>.png`) beside an exported file or SavedModel directory."""
    p = Path(model_path)
    return p.with_name(p.name + ".md"), p.with_name(p.name + ".png")


def write_card(model_path, generator, meta: dict, parity: dict, *, what: str, run_dir=None, graph_notes=()) -> Path:
    """Writes the card and its sample grid beside `model_path`; returns the card's path.

    Args:
      generator: the Keras generator the export was verified against (draws the grid).
      meta: the export's metadata (export.metadata).
      parity: check_parity's report ({"batch_1": {"max_abs_error": ...}, ...}).
      what: the format and variant, e.g. "ONNX float32".
      run_dir: the run it came from, for the training and evaluation details (None: left out).
      graph_notes: export.optimise's line per change, for an optimised graph.
    """
    md, png = card_paths(model_path)
    drawable = meta["image_shape"][2] in (1, 3)  # PNG: grayscale or RGB
    text = render(
        Path(model_path).name,
        png.name if drawable else None,
        meta,
        parity,
        what=what,
        run=_run_facts(run_dir),
        graph_notes=graph_notes,
    )
    if drawable:
        replace_file(png, _png_bytes(_grid(generator, meta)))
    # A name from a non-UTF-8 file system (a class folder, --data-dir) holds lone surrogates: shown as \xNN.
    replace_file(md, printable(text).encode("utf-8"))
    return md


def _png_bytes(grid: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid).save(buffer, format="PNG")
    return buffer.getvalue()


def _grid(generator, meta: dict) -> np.ndarray:
    rng = np.random.default_rng(GRID_SEED)
    n, classes = GRID_COUNT, meta["num_classes"]
    z = draw_latents(meta, rng, n)
    inputs = [z, (np.arange(n) % classes).astype(np.int32)] if classes else z
    images = np.asarray(generator(inputs, training=False))
    return make_grid(to_uint8(images, meta["output_range"]), cols=classes or None)


def _run_facts(run_dir) -> dict:
    """What the run directory says about training and quality (empty when there is no run)."""
    if run_dir is None:
        return {}
    from engine.run import layout
    from engine.run import reading as runread

    run = Path(run_dir)
    cfg, opts, class_names = runread.read_run(run)
    facts = {"cfg": cfg, "data_dir": opts.data_dir, "class_names": class_names, "run": str(run)}
    records = []
    log = run / layout.METRICS
    if log.exists():
        for line in log.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    timed = [r for r in records if r.get("train_s") is not None]
    if timed:
        facts["train_s"] = timed[-1]["train_s"]
    evaluation = run / "evaluation.json"
    if evaluation.exists():
        facts["evaluation"] = json.loads(evaluation.read_text())
    else:
        scored = [r for r in records if r.get("fid") is not None]
        if scored:
            facts["training_eval"] = scored[-1]
    return facts


def render(name: str, grid_name: str | None, meta: dict, parity: dict, *, what: str, run: dict, graph_notes=()) -> str:
    """The card's markdown (pure: tested on its own)."""
    h, w, c = meta["image_shape"]
    color = {1: "grayscale", 3: "RGB"}.get(c, f"{c}-channel")
    lo, hi = meta["output_range"]
    classes = meta["class_names"] or list(run.get("class_names", ()))
    latent = (
        "N(0, 1)"
        if meta["latent_distribution"] == "normal"
        else f"U[{meta['latent_range'][0]:g}, {meta['latent_range'][1]:g})"
    )
    inputs = f"`z` float32 [batch, {meta['latent_dim']}] drawn from {latent}"
    if meta["num_classes"]:
        inputs += f"; `label` int32 [batch] in [0, {meta['num_classes']})"
    out_shape = f"[batch, {c}, {h}, {w}]" if meta["layout"] == "NCHW" else f"[batch, {h}, {w}, {c}]"
    errors = ", ".join(f"batch {k.split('_')[1]}: {v['max_abs_error']:.1e}" for k, v in parity.items())
    rows = [
        ("file", f"`{name}`: {what}, {meta['layout']}"),
        ("preset", f"`{meta['preset']}` (engine {meta['engine_version']})"),
        ("inputs", inputs),
        ("output", f"`image` float32 {out_shape} in [{lo:g}, {hi:g}] ({color})"),
        ("weights", f"step {meta['step']:,}; checkpoint sha256 `{meta['checkpoint_sha256'][:16]}...`"),
        ("graph", _graph_row(meta, graph_notes)),
        ("parity", f"max abs error against the Keras generator: {errors}"),
    ]
    cfg = run.get("cfg")
    if cfg is not None:
        dataset = describe(cfg.dataset)
        source = f"; read from `{run['data_dir']}`" if run.get("data_dir") else ""
        rows.insert(2, ("dataset", f"`{cfg.dataset}`: {dataset}{source}"))
        recipe = (
            f"{cfg.optimizer} (G lr {cfg.g_lr:g}, D lr {cfg.d_lr:g}), batch {cfg.batch_size}, "
            f"{cfg.update_order} updates, loss {cfg.loss}" + (f", EMA of G {cfg.ema_decay:g}" if cfg.ema_decay else "")
        )
        rows.insert(3, ("recipe", recipe))
        from engine.models import MODELS

        credits = MODELS.get_or_fail(cfg.model).credits
        if credits:  # pretrained weights the networks were trained with: their source and licence
            rows.insert(4, ("pretrained parts", credits))
        trained = f"{meta['step']:,} steps"
        if run.get("train_s") is not None:
            trained += f", {run['train_s'] / 60:.1f} minutes of training"
        rows.insert(5 if credits else 4, ("trained", f"{trained} (run `{run['run']}`)"))
    rows.insert(len(rows) - 1, ("quality", _quality(run)))
    if classes:
        # a class folder's name may hold a newline or a "|": one table cell, one line
        rows.insert(3, ("classes", ", ".join(printable(c, one_line=True).replace("|", "\\|") for c in classes)))
    table = "\n".join(["| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows])
    kind = "images of the classes listed above" if classes else "images like those of its training data"
    return f"""# Model card: {name}

A GAN generator trained with gan-engine and exported by it; checked against the Keras generator before it was
written.

{table}

{f"![{GRID_COUNT} samples, latent seed {GRID_SEED}]({grid_name})" if grid_name else f"(no sample grid: {c} channels)"}

## Intended use and limits

- It draws {h}x{w} {color} {kind}, from random latents: demos, tests of an embedding
  app, data-augmentation experiments. It knows nothing outside its training data, reproduces that data's biases,
  and may draw blurred or mixed shapes; it is not a source of real examples and must not be presented as one.
- Quality figures come from the engine's own evaluator (a small CNN trained on the dataset, shipped with the engine):
  comparable between runs of this engine at the same sample count, not with Inception-based FIDs in papers.
- Load it with `export/runtime.py` (onnxruntime or LiteRT and numpy) or any runtime of its format; the metadata
  the runtime needs is inside the file (ONNX) or in `{name}.json` (TFLite, SavedModel), not in this card.
"""


def _graph_row(meta: dict, notes) -> str:
    if meta.get("graph") == "optimised":
        return "optimised (exact rewrite, `--plain` exports without it): " + "; ".join(notes)
    return "plain: the generator's own layers"


def _quality(run: dict) -> str:
    if "evaluation" in run:
        e = run["evaluation"]
        gen = e.get("generator", {})
        parts = [
            f"{k} {gen[k]:.3g}"
            for k in ("fid", "precision", "recall", "class_entropy", "class_accuracy")
            if isinstance(gen.get(k), (int, float))
        ]
        floor = e.get("floor", {}).get("fid") if isinstance(e.get("floor"), dict) else None
        n = e.get("num_samples", "?")
        return f"{', '.join(parts)} at {n} samples, step {e.get('step', '?')} (`python -m engine.evaluate`)" + (
            f"; floor (real images) FID {floor:.3g}" if isinstance(floor, (int, float)) else ""
        )
    if "training_eval" in run:
        r = run["training_eval"]
        parts = [
            f"{k} {r[k]:.3g}"
            for k in ("fid", "precision", "recall", "class_entropy")
            if isinstance(r.get(k), (int, float))
        ]
        return f"{', '.join(parts)} at step {r['step']:,} (evaluated during training)"
    hint = f" --run-dir {run['run']}" if run.get("run") else ""
    return f"not evaluated; `python -m engine.evaluate{hint}` measures it"
