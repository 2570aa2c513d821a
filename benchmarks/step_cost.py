"""What the engine's alternating step spends beyond the networks: each part toggled, timed in alternated rounds.

Usage: python -m benchmarks.step_cost [--preset dcgan_fashion] [--batches 32,128] [--rounds 5] [--images 2048]
                                      [--out benchmarks/results]

One process, one batch at a time: every variant below is built once (its own networks, its own data iterator),
then timed round after round in a rotating order (A B C.., B C.. A, ...), so a busy spell of the machine hits every
variant alike. A timing is `--images` images of whole calls of `many_steps(batch)` steps (as the throughput
benchmark's "many steps per call" rows). Each variant's ratio to the engine as shipped is the median of its
per-round ratios; images/s is the median round. Writes step_cost.md/.json.

Variants (dcgan_fashion is alternating, D's fakes drawn with G in inference mode, Dropout 0.3 in D):
- engine: the alternating step as shipped (guard on, one device-side loop per call).
- guard off: no finiteness check, no statistics snapshot, no tf.cond around the updates (measurement only).
- D's fakes in training mode: `d_fakes_inference=False` (G's BatchNorm on batch statistics for D's fakes).
- no Dropout: `dropout=0` in D (what drawing and applying the masks costs).
- 1 step per call: the same steps, one Python call each (what the device-side loop saves).
- Keras fit: benchmarks.baselines.FitGAN on the engine's networks, `steps_per_execution` = the engine's steps per
  call (the throughput benchmark's fit row), timed as its compiled train function on one kept iterator.
- Keras fit, keras-io networks: the same FitGAN on Sequential networks written as the tutorial writes them
  (keras.layers.Dropout) and a `tf.data` pipeline from the arrays (the issue's independent check).
- engine simultaneous: the engine's own step (one forward pass of G feeds both losses; fewer FLOPs per image),
  the best engine row of the throughput benchmark, against which the issue sets `fit`'s best.
`--variants` times a subset (the engine as shipped is always one: the ratios are to it).
"""

import argparse
import dataclasses
import os
import statistics
import time

from benchmarks.machine import describe_machine, save_results
from engine.errors import UserError, run_cli

VARIANTS = (
    "engine",
    "guard off",
    "D's fakes in training mode",
    "no Dropout",
    "1 step per call",
    "Keras fit",
    "Keras fit, keras-io networks",
    "engine simultaneous",
)


def many_steps(batch: int) -> int:
    """Steps per call: as many as fill 1024 images, at most 32 (benchmarks.train_throughput's 'many' rows)."""
    return max(1, min(32, 1024 // batch))


def keras_io_networks(cfg):
    """dcgan_fashion's G and D as a tutorial writes them: keras.Sequential, Keras's own Dropout."""
    import keras
    from keras import layers

    h, w, c = cfg.image_shape
    g = keras.Sequential(
        [
            keras.Input((cfg.latent_dim,)),
            layers.Dense((h // 4) * (w // 4) * 128),
            layers.Reshape((h // 4, w // 4, 128)),
            layers.BatchNormalization(),
            layers.Conv2DTranspose(64, 5, strides=2, padding="same", activation="selu"),
            layers.BatchNormalization(),
            layers.Conv2DTranspose(c, 5, strides=2, padding="same", activation="tanh"),
        ]
    )
    d = keras.Sequential(
        [keras.Input(cfg.image_shape)]
        + [
            x
            for f in (64, 128)
            for x in (layers.Conv2D(f, 5, strides=2, padding="same"), layers.LeakyReLU(0.2), layers.Dropout(0.3))
        ]
        + [layers.Flatten(), layers.Dense(1)]
    )
    return g, d


def build_variants(preset: str, batch: int, images: int) -> dict:
    """{variant: run()} where run() trains `images` images (whole calls) and returns when the work is done."""
    import numpy as np
    import tensorflow as tf

    from benchmarks.baselines import make_fit_gan
    from benchmarks.throughput_runners import load_images
    from engine.config import with_update_order
    from engine.data.pipeline import make_dataset
    from engine.step.gan import GAN
    from engine.step.traced import make_train_fn

    base, data = load_images(preset)
    base = dataclasses.replace(base, batch_size=batch)
    k = many_steps(batch)
    calls = max(1, round(images / (batch * k)))
    strategy = tf.distribute.get_strategy()

    def dataset(cfg):
        return make_dataset(data, global_batch_size=batch, output_range=cfg.output_range, seed=0)

    def engine(cfg=base, guard=True, per_call=k):
        gan = GAN(cfg)
        fn = make_train_fn(gan, strategy, jit_compile=False, guard=guard)
        it, n = iter(dataset(cfg)), tf.constant(per_call)

        def run():
            for _ in range(calls * k // per_call):
                out = fn(it, n)
            out["d_loss"].numpy()  # calls are queued asynchronously: wait for the last

        return run

    def fit(model, images_ds):
        # What `fit` runs per execution (its compiled train function, `k` steps) on one iterator kept across
        # timings: a `fit` call per timing would add its set-up, and here some calls stalled for whole seconds.
        model.make_train_function()
        it = iter(images_ds)

        def run():
            for _ in range(calls):
                logs = model.train_function(it)
            float(logs["d_loss"])  # waits for the last step

        return run

    gan = GAN(base)
    g, d = keras_io_networks(base)
    plain = make_fit_gan(g, d, base, jit_compile=False, steps_per_execution=k)
    x = data.images.astype(np.float32).reshape((-1, *base.image_shape)) / 127.5 - 1.0
    arrays = tf.data.Dataset.from_tensor_slices(x).shuffle(1000).batch(batch, drop_remainder=True).repeat()
    return {
        "engine": engine(),
        "guard off": engine(guard=False),
        "D's fakes in training mode": engine(dataclasses.replace(base, d_fakes_inference=False)),
        "no Dropout": engine(dataclasses.replace(base, dropout=0.0)),
        "1 step per call": engine(per_call=1),
        "Keras fit": fit(
            make_fit_gan(gan.generator, gan.discriminator, base, jit_compile=False, steps_per_execution=k),
            dataset(base).map(lambda b: b["image"]),
        ),
        "Keras fit, keras-io networks": fit(plain, arrays),
        "engine simultaneous": engine(with_update_order(base, "simultaneous")),
    }, calls * k * batch


def measure(preset: str, batch: int, rounds: int, images: int, variants=VARIANTS, log=print) -> dict:
    """{variant: {images_per_s, ratio, rounds}} at `batch`: rotating order, one warm-up run of each first."""
    runs, per_timing = build_variants(preset, batch, images)
    names = [n for n in runs if n == "engine" or n in variants]
    for name in names:  # tracing, the first batches
        runs[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
        log(f"batch {batch} round {r + 1}: " + ", ".join(f"{n} {per_timing / times[n][-1]:.0f}" for n in names))
    out = {}
    for name in names:
        ratios = [e / t for e, t in zip(times["engine"], times[name], strict=True)]
        out[name] = {
            "images_per_s": per_timing / statistics.median(times[name]),
            "ratio": statistics.median(ratios),
            "round_images_per_s": [per_timing / t for t in times[name]],
        }
    return out


def table(results: dict) -> str:
    lines = [
        "| batch | variant | images/s (median round) | x engine (median of rounds) | step ms | vs engine, ms/step |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for batch, rows in results.items():
        engine_ms = 1e3 * int(batch) / rows["engine"]["images_per_s"]
        for name, r in rows.items():
            ms = 1e3 * int(batch) / r["images_per_s"]
            diff = engine_ms * (1 / r["ratio"] - 1)
            lines.append(
                f"| {batch} | {name} | {r['images_per_s']:,.0f} | {r['ratio']:.3f} | {ms:.1f} | "
                + ("" if name == "engine" else f"{diff:+.2f}")
                + " |"
            )
    return "\n".join(lines)


def parse_variants(text: str) -> list[str]:
    """--variants: names from VARIANTS separated by commas; a name may hold a comma itself ("Keras fit, keras-io
    networks"), so the longest run of pieces that makes a known name is taken first.

    Raises:
      UserError: a piece that is no variant's name (nothing is measured).
    """
    pieces, names, i = [p.strip() for p in text.split(",")], [], 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            if ", ".join(pieces[i:j]) in VARIANTS:
                names.append(", ".join(pieces[i:j]))
                i = j
                break
        else:
            if pieces[i]:
                raise UserError(f"--variants: unknown variant {pieces[i]!r}; valid: {'; '.join(VARIANTS)}")
            i += 1
    if not names:
        raise UserError(f"--variants {text!r} names no variant; valid: {'; '.join(VARIANTS)}")
    return names


def parse_batches(text: str) -> list[int]:
    """--batches: whole numbers >= 1 separated by commas. Raises UserError otherwise."""
    try:
        batches = [int(b) for b in text.split(",")]
    except ValueError:
        batches = []
    if not batches or min(batches) < 1:
        raise UserError(f"--batches {text!r}: expected whole numbers >= 1 separated by commas, e.g. 32,128")
    return batches


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.step_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="dcgan_fashion")
    parser.add_argument("--batches", default="32,128")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=2048, help="images per timing (whole calls)")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated, from: " + ", ".join(VARIANTS))
    parser.add_argument("--name", default="step_cost", help="the results files' name: NAME.md, NAME.json")
    args = parser.parse_args()
    variants = parse_variants(args.variants)
    batches = parse_batches(args.batches)
    load = [os.getloadavg()]
    results = {}
    for batch in batches:
        results[batch] = measure(args.preset, batch, args.rounds, args.images, variants)
        load.append(os.getloadavg())
    command = (
        f"python -m benchmarks.step_cost --preset {args.preset} --batches {args.batches} --rounds {args.rounds} "
        f"--images {args.images}"
        + (f" --variants '{args.variants}'" if variants != list(VARIANTS) else "")
        + (f" --name {args.name}" if args.name != "step_cost" else "")
    )
    md = "\n".join(
        [
            "# The alternating step's cost, part by part\n",
            describe_machine(command),
            "- load average (1, 5, 15 min) at the start and after each batch: "
            + "; ".join(", ".join(f"{x:.2f}" for x in la) for la in load),
            "- each variant's own networks and iterator in one process, timed in rotating order; ratio = the "
            "engine's time / the variant's over the same round (> 1: the variant is faster); 'vs engine, ms/step' = "
            "what the variant saves (-) or adds (+) per step",
            "",
            table(results),
            "",
        ]
    )
    save_results(args.out, args.name, md, {"command": command, "load_average": load, "results": results})
    print(md)


if __name__ == "__main__":
    run_cli(main)
