"""Two precision policies side by side: the engine's training throughput under each, timed in alternating windows.

Run through `python -m benchmarks.train_throughput --precision float32,mixed_bfloat16 [--quick]`. Each
(preset, batch, strategy) gets one child process that builds the engine twice, once per policy (same networks,
seed, batches), warms both up, then times windows in the order A B B A A B ...: a machine that speeds up or slows
down during the row (other jobs on shared cores) weighs on both policies alike. images/s is each policy's median
window; the ratio is their quotient, with the range of the per-round ratios beside it. The matmul rate of each
dtype is measured the same way (alternating) as the hardware's own ceiling on the ratio.
"""

import dataclasses
import json
import statistics
import time
from pathlib import Path

from benchmarks.child import many_steps, run_child
from benchmarks.machine import check_complete, save_results
from benchmarks.throughput_runners import Row, load_images, window_steps
from engine.errors import UserError

ROUNDS = 6  # windows per policy; an even count keeps the A B B A order balanced
WINDOW_IMAGES = {"dcgan_faces": 128}  # ~30 images/s here; the 28x28 presets default to 512
BATCHES = (32, 64, 128, 256)
MATMUL_SIZES = (1024, 2048)


def compare_plan(quick: bool = False) -> list[Row]:
    """The engine rows compared (each run under both policies).

    Full (3.9 minutes on the 2-core AMD EPYC): the throughput benchmark's main preset, dcgan_fashion, at every batch
    (32-256, many steps per call), its other presets at their own batch (alphabet 128, dcgan_faces 64 with one step
    per call), and the default command's setting (`dcgan_fashion_fast`, batch 32, mirrored over 2 logical CPUs,
    10 steps per call). Quick: dcgan_fashion at 64 and 256 and the default command's setting.
    """
    default_command = Row("dcgan_fashion_fast", 32, "engine", steps_per_call=10, strategy="mirrored")
    if quick:
        return [Row("dcgan_fashion", b, "engine", steps_per_call=many_steps(b)) for b in (64, 256)] + [default_command]
    rows = [Row("dcgan_fashion", b, "engine", steps_per_call=many_steps(b)) for b in BATCHES]
    rows += [Row("alphabet", 128, "engine", steps_per_call=many_steps(128)), Row("dcgan_faces", 64, "engine")]
    return rows + [default_command]


def alternate(runs: dict, steps: int, rounds: int, clock=time.perf_counter) -> tuple[dict, dict]:
    """Times `run(steps)` for every entry of `runs`: one warm-up window each, then `rounds` windows each in the
    order A B, B A, A B, ... Returns ({name: warm-up s}, {name: [window s, ...]})."""
    names = list(runs)
    first, times = {}, {name: [] for name in names}
    for name in names:
        start = clock()
        runs[name](steps)
        first[name] = clock() - start
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            start = clock()
            runs[name](steps)
            times[name].append(clock() - start)
    return first, times


def pair_result(row: Row, precisions: list[str], first: dict, times: dict, images: int) -> dict:
    """The comparison record of one row: per policy images/s (median window) and compile s, and the ratio."""
    a, b = precisions
    per = {
        p: {
            "images_per_s": images / statistics.median(times[p]),
            "compile_s": max(0.0, first[p] - statistics.median(times[p])),
            "window_images_per_s": [images / s for s in times[p]],
        }
        for p in precisions
    }
    rounds = [ta / tb for ta, tb in zip(times[a], times[b], strict=True)]  # b's speed over a's in each round
    return {
        **{k: v for k, v in dataclasses.asdict(row).items() if k != "precision"},
        "window_images": images,
        "precisions": per,
        "ratio": per[b]["images_per_s"] / per[a]["images_per_s"],
        "round_ratios": rounds,
    }


def _engine_runner(row: Row, precision: str, strategy):
    """run(steps) for the engine step of `row` under `precision`; blocks until the steps are done."""
    import tensorflow as tf

    from engine.config import with_update_order
    from engine.run.stepper import make_stepper
    from engine.step.gan import GAN

    base, data = load_images(row.preset)
    cfg = dataclasses.replace(with_update_order(base, row.update_order), batch_size=row.batch, precision=precision)
    with strategy.scope():
        gan = GAN(cfg)
    stepper = make_stepper(gan, data, strategy, jit_compile=False)
    n = tf.constant(row.steps_per_call)

    def run(steps):
        for _ in range(steps // row.steps_per_call):
            out = stepper(n)
        out["d_loss"].numpy()  # calls are queued asynchronously; this waits for the last

    return run


def measure_pair(row: Row, precisions: list[str], *, rounds: int, window_images: int, strategy) -> dict:
    runs = {p: _engine_runner(row, p, strategy) for p in precisions}
    steps = window_steps(row.batch, row.steps_per_call, window_images)
    first, times = alternate(runs, steps, rounds)
    return pair_result(row, precisions, first, times, steps * row.batch)


def matmul_rates(dtypes: list[str], sizes=MATMUL_SIZES, repeats: int = 3) -> dict[str, float]:
    """GFLOP/s of a square matmul through TensorFlow per dtype: the best of `repeats` at each size, the dtypes
    alternating call by call."""
    import tensorflow as tf

    fn = tf.function(lambda x, y: tf.reduce_sum(tf.cast(tf.linalg.matmul(x, y), tf.float32)))
    best = dict.fromkeys(dtypes, 0.0)
    for n in sizes:
        pairs = {d: [tf.cast(tf.random.stateless_normal([n, n], seed=[0, i]), d) for i in (1, 2)] for d in dtypes}
        for d in dtypes:
            fn(*pairs[d]).numpy()  # trace and warm up
        for _ in range(repeats):
            for d in dtypes:
                start = time.perf_counter()
                fn(*pairs[d]).numpy()
                best[d] = max(best[d], 2 * n**3 / (time.perf_counter() - start) / 1e9)
    return best


def child_main(payload: dict) -> None:
    """In the child process: the matmul rates, or one group's rows (all of one preset, batch and strategy)."""
    if payload["task"] == "pair_matmul":
        print(json.dumps({"matmul_gflops": matmul_rates(payload["dtypes"])}), flush=True)
        return
    rows = [Row(**r) for r in payload["rows"]]
    from engine.cluster.strategies import (
        make_strategy,  # before any other TensorFlow work: it fixes the logical devices
    )

    strategy = make_strategy(rows[0].strategy, 2)
    for row in rows:
        try:
            result = measure_pair(
                row,
                payload["precisions"],
                rounds=payload["rounds"],
                window_images=payload["window_images"],
                strategy=strategy,
            )
        except Exception as e:  # one failing row must not lose the others
            result = {**dataclasses.asdict(row), "error": f"{type(e).__name__}: {e}"[:300]}
        print(json.dumps(result), flush=True)


def format_table(results: list[dict], precisions: list[str]) -> str:
    a, b = precisions
    lines = [
        f"| preset | batch | strategy | steps/call | {a} images/s | {b} images/s | {b} / {a} | per-round range | "
        f"compile s ({a} / {b}) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        head = f"| {r['preset']} | {r['batch']} | {r['strategy']} | {r['steps_per_call']} | "
        if "error" in r:
            lines.append(head + f"failed: {r['error']} | | | | |")
            continue
        pa, pb = r["precisions"][a], r["precisions"][b]
        lines.append(
            head + f"{pa['images_per_s']:,.0f} | {pb['images_per_s']:,.0f} | **{r['ratio']:.2f}x** | "
            f"{min(r['round_ratios']):.2f}-{max(r['round_ratios']):.2f} | "
            f"{pa['compile_s']:.1f} / {pb['compile_s']:.1f} |"
        )
    return "\n".join(lines)


def cpu_flag_line() -> str:
    from engine.step.precision import NATIVE_BF16_FLAGS, auto_precision, read_cpu_flags

    flags = read_cpu_flags()
    shown = sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
    native = sorted(flags & NATIVE_BF16_FLAGS)
    return (
        f"- CPU flags: {' '.join(shown) or 'none listed'}; native bfloat16: {', '.join(native) or 'no'} "
        f"(`--precision auto` picks {auto_precision(flags)} here)"
    )


def selected(rows: list[Row], presets: str) -> list[Row]:
    """The rows of the presets `--presets` names; an unknown name is refused before any work (UserError)."""
    names = [n.strip() for n in presets.split(",") if n.strip()]
    known = sorted({r.preset for r in rows})
    unknown = [n for n in names or [""] if n not in known]
    if unknown:
        raise UserError(
            f"--presets {presets!r}: {unknown[0]!r} is not a preset of this comparison ({', '.join(known)}); nothing "
            "was measured"
        )
    return [r for r in rows if r.preset in names]


def run(precisions: list[str], quick: bool, presets: str | None, out: Path, log=print) -> list[dict]:
    """Measures every row of the plan under both policies and writes precision_throughput[_quick].md/.json."""
    from benchmarks.machine import describe_machine

    start = time.perf_counter()
    rows = compare_plan(quick)
    if presets is not None:
        rows = selected(rows, presets)
    dtypes = ["float32" if p == "float32" else p.removeprefix("mixed_") for p in precisions]
    matmul = run_child({"task": "pair_matmul", "dtypes": dtypes})[0].get("matmul_gflops", {})
    log(f"matmul GFLOP/s: {matmul}; {len(rows)} rows, each under {' and '.join(precisions)}")
    groups: dict[tuple, list[Row]] = {}
    for row in rows:
        groups.setdefault((row.preset, row.batch, row.strategy), []).append(row)
    results = []
    for (preset, _, _), group in groups.items():
        payload = {
            "task": "pair",
            "rows": [dataclasses.asdict(r) for r in group],
            "precisions": precisions,
            "rounds": 3 if quick else ROUNDS,
            "window_images": 256 if quick else WINDOW_IMAGES.get(preset, 512),
        }
        for result in run_child(payload):
            results.append(result)
            log(format_table([result], precisions).splitlines()[-1])
    check_complete(results, len(rows))
    command = (
        f"python -m benchmarks.train_throughput --precision {','.join(precisions)}"
        + (" --quick" if quick else "")
        + (f" --presets {presets}" if presets else "")
    )
    write(
        out,
        "precision_throughput" + ("_quick" if quick else ""),
        command,
        precisions,
        results,
        matmul,
        time.perf_counter() - start,
        describe_machine(command),
    )
    return results


def write(out: Path, name: str, command: str, precisions, results, matmul, elapsed: float, machine: str) -> None:
    a, b = precisions
    da, db = ("float32" if p == "float32" else p.removeprefix("mixed_") for p in precisions)
    ok = [r["ratio"] for r in results if "error" not in r]
    body = [
        f"# Training throughput: {b} vs {a}\n",
        machine,
        cpu_flag_line(),
        f"- matmul through TensorFlow (best of 3 at {', '.join(f'{n}^3' for n in MATMUL_SIZES)}, dtypes "
        f"alternating): {da} {matmul.get(da, 0):.1f} GFLOP/s, {db} {matmul.get(db, 0):.1f} GFLOP/s"
        + (f" ({matmul[db] / matmul[da]:.2f}x)" if matmul.get(da) and matmul.get(db) else ""),
        f"- total time {elapsed / 60:.1f} min; each row builds the engine's step under both policies in one process "
        "and times whole windows alternately (A B B A ...) after one warm-up window each; images/s = median window; "
        "per-round range = the lowest and highest ratio of one round's two windows",
        f"- ratio {b} / {a}: "
        + (f"median {statistics.median(ok):.2f}x, {min(ok):.2f}x-{max(ok):.2f}x" if ok else "none"),
        "",
        format_table(results, precisions),
        "",
    ]
    record = {
        "command": command,
        "machine": machine,
        "cpu_flags": cpu_flag_line(),
        "precisions": precisions,
        "matmul_gflops": matmul,
        "elapsed_s": round(elapsed, 1),
        "rows": results,
    }
    save_results(out, name, "\n".join(body), record)
