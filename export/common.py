"""What the exporters share: the input signature, the export sequence (written safely by export.target) and the
command line."""

import argparse
import contextlib
import dataclasses
import importlib
import os
import pkgutil
from collections.abc import Callable
from pathlib import Path

from engine.errors import UserError, run_cli
from engine.quiet import quiet_tensorflow
from engine.run.layout import CHECKPOINTS, EXPORT
from export import metadata
from export.target import check_target, publish, staged_path, staging_dir
from safeio import fd2_without, printable


def input_signature(meta: dict) -> list:
    """tf.TensorSpecs of the exported inputs: `z` float32 [None, latent] (+ `label` int32 [None])."""
    import tensorflow as tf

    spec = [tf.TensorSpec((None, meta["latent_dim"]), tf.float32, name="z")]
    if meta["num_classes"]:
        spec.append(tf.TensorSpec((None,), tf.int32, name="label"))
    return spec


def exportable(generator):
    """`generator` with each nearest-neighbour UpSampling2D replaced by the equivalent Resizing layer.

    Keras 3 builds UpSampling2D from `repeat`, which loses the static height, and the TFLite converter then cannot
    lower the next Conv2D ("'tf.Conv2D' op is neither a custom op nor a flex op"). Both layers are weightless and
    give the same pixels; every export is still checked against the original generator.
    """
    import keras

    from export.optimise import resizing_for

    def swap(layer):
        if isinstance(layer, keras.layers.UpSampling2D) and layer.interpolation == "nearest":
            return resizing_for(layer)
        return layer.__class__.from_config(layer.get_config())

    if not any(isinstance(layer, keras.layers.UpSampling2D) for layer in generator.layers):
        return generator
    clone = keras.models.clone_model(generator, clone_function=swap)
    clone.set_weights(generator.get_weights())
    return clone


def serving_fn(generator, meta: dict) -> Callable:
    """`fn(z[, label]) -> {"image": ...}` calling the generator in inference mode (BatchNorm moving stats)."""
    if meta["num_classes"]:
        return lambda z, label: {"image": generator([z, label], training=False)}
    return lambda z: {"image": generator(z, training=False)}


# What an export writes, and what --force may replace. An export at OUT writes OUT (a file, or a SavedModel
# directory) and three companions beside it; each is written in a private staging folder first and moved into
# place (a rename: never through an existing path or symlink) only once the export is verified.
def say(line: str) -> None:
    """Prints an exporter's line (file names from any bytes included)."""
    print(printable(line), flush=True)


@contextlib.contextmanager
def litert_quiet(*also: bytes):
    """Holds back LiteRT's own `INFO: ...` lines (e.g. "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
    printed on file descriptor 2 at the first invoke), and lines starting with `also`, when TF_CPP_MIN_LOG_LEVEL
    hides TensorFlow's INFO lines, as the CLIs set it; every other line written meanwhile is passed on."""
    try:
        level = int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") or 0)
    except ValueError:
        level = 0
    if level < 1:
        yield
        return
    with fd2_without(b"INFO: ", *also):
        yield


def make_parser(
    fmt: str, default_name: str, extra_args: Callable | None = None, parser_class=argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """The command line of `python -m export.<fmt>`: --run-dir, --out, --force, --verbose, --plain and the format's
    own options (`extra_args(parser)` adds them). `parser_class`: engine.options.RaisingParser for Python calls."""
    parser = parser_class(
        prog=f"python -m export.{fmt}", description=f"Export a trained generator to {fmt}, verified against Keras."
    )
    parser.add_argument("--run-dir", default=None, help="run directory (default: runs/latest)")
    parser.add_argument("--out", default=None, help=f"output path (default: <run-dir>/{EXPORT}/{default_name})")
    parser.add_argument("--force", action="store_true", help="replace a previous export at --out")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines (hidden by default)")
    parser.add_argument(
        "--plain",
        action="store_true",
        help="convert the generator's own layers, not the optimised graph (docs/export.md)",
    )
    if extra_args:
        extra_args(parser)
    return parser


def export_request(export_fn: Callable, args: argparse.Namespace) -> Path:
    """What the command does with its parsed arguments: TensorFlow quiet unless --verbose, then the export, saying
    which weights it took and what it wrote. Returns the path written."""
    from engine.run.reading import resolve

    resolve(args.run_dir)  # a missing run is refused before TensorFlow starts (seconds)
    quiet_tensorflow(args.verbose)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("run_dir", "out", "force", "verbose")}
    return export_fn(args.run_dir, args.out, force=args.force, verbose=True, **kwargs)


def main(fmt: str, export_fn: Callable, default_name: str, extra_args: Callable | None = None, argv=None) -> None:
    """The shared CLI: `python -m export.<fmt> [--run-dir DIR] [--out PATH] [--force]` (`argv`: default sys.argv)."""

    def run() -> None:
        export_request(export_fn, make_parser(fmt, default_name, extra_args).parse_args(argv))

    run_cli(run)


@dataclasses.dataclass(frozen=True)
class Command:
    """An exporter's command, `python -m export.<fmt>`, for the command line (`main`) and for Python (`call`: what
    engine's `Run.export` reaches by the module's name), through one parser, so the two cannot drift."""

    fmt: str
    export_fn: Callable
    default_name: str  # as the help shows it, e.g. "generator[_fp16|_dynamic][_nchw].onnx"
    extra_args: Callable | None = None

    def main(self, argv=None) -> None:
        main(self.fmt, self.export_fn, self.default_name, self.extra_args, argv)

    def call(self, run_dir, out=None, *, force: bool = False, verbose: bool = False, **variant) -> Path:
        """The command with these arguments (`variant`: its own options by name, e.g. fp16=True, quantize="int8",
        plain=True), printing what it prints; returns the path written.

        Raises:
          UserError: as the command's `error:` line (an unknown option, a bad value, a refused export).
        """
        from engine.options import RaisingParser, to_argv

        parser = make_parser(self.fmt, self.default_name, self.extra_args, RaisingParser)
        keywords = {"run_dir": run_dir, "out": out, "force": force, "verbose": verbose, **variant}
        return export_request(self.export_fn, parser.parse_args(to_argv(parser, keywords, who=f"export({self.fmt!r})")))


def load_for_export(run_dir, out, default_name: str, force: bool, fmt: "Format"):
    """(generator, meta, checkpoint prefix, output path) for a run, refusing to overwrite without force.

    The weights are the run's best checkpoint by FID when it kept one (trained with --eval-every), else the newest.
    """
    from engine.run import reading as runread

    run_path = runread.resolve(run_dir)
    out_path = Path(out) if out else run_path / EXPORT / default_name
    # TensorFlow opens paths as UTF-8: the run's checkpoints always, and the staging folder beside --out when the
    # export goes through a SavedModel.
    for what, path in [("run directory", run_path)] + [("--out", out_path)] * fmt.tensorflow_opens_out:
        try:
            os.fsdecode(path).encode("utf-8")
        except UnicodeEncodeError:
            raise UserError(
                f"the {what} {printable(os.fsdecode(path))} has a name that is not UTF-8, which TensorFlow cannot "
                "open; rename it (or pass a UTF-8 path that links to it)"
            ) from None
    check_target(out_path, force, fmt.kind)
    generator, meta, prefix = runread.load_generator(run_path)
    return generator, meta, prefix, out_path


def run_of(prefix: str) -> Path:
    """The run directory a checkpoint prefix belongs to (RUN/checkpoints[/best]/ckpt-N)."""
    path = Path(prefix)
    return next((p.parent for p in path.parents if p.name == CHECKPOINTS), path.parent)


def source_line(prefix: str) -> str:
    """ "exporting ckpt-N, <best by FID at step S (FID x) | latest (step S)>, of RUN": which weights were taken."""
    from engine.run import reading as runread

    return f"exporting {Path(prefix).name}, {runread.checkpoint_label(prefix)}, of {run_of(prefix)}"


def verified(check: Callable[[], dict], meta: dict) -> dict:
    """`check()` (a parity check), naming `--plain` in its error when the file holds the optimised graph."""
    try:
        return check()
    except UserError as e:
        if meta.get("graph") != "optimised":
            raise
        raise UserError(f"{e} (optimised graph: `--plain` exports the generator's own layers)") from None


def parity_line(what: str, path: Path, parity: dict) -> str:
    errors = ", ".join(f"batch {k.split('_')[1]}: {v['max_abs_error']:.2e}" for k, v in parity.items())
    return f"{what}: wrote {path} (verified against Keras, max abs error {errors})"


@dataclasses.dataclass(frozen=True)
class Offer:
    """One file a format writes, as write_export's arguments: the benchmarks export and time each one.

    Attributes:
      variant: its numeric variant (a name declared in export.metadata.VARIANTS).
      layout: the layout of its `image` output ("NHWC", "NCHW").
      options: the format's keyword arguments to its `convert` for this file.
      note: shown after its label in the benchmarks' tables, e.g. the option that asks for it where the variant's
        name does not say it ("--fp16").
    """

    variant: str = "float32"
    layout: str = "NHWC"
    options: dict = dataclasses.field(default_factory=dict)
    note: str = ""

    def label(self, fmt: "Format") -> str:
        """ "ONNX float16 (--fp16)": the format, the variant, a layout other than NHWC, and the note."""
        words = [fmt.name, self.variant] + [self.layout] * (self.layout != "NHWC")
        return " ".join(words) + (f" ({self.note})" if self.note else "")


@dataclasses.dataclass(frozen=True)
class Format:
    """One export format: what `write_export` needs of it. A new format is a module under export/ defining one of
    these, registering it (register_format) and its export.target.Kind (how --force tells a previous export of it).

    Attributes:
      kind: the name of its registered export.target.Kind ("onnx", "tflite", "savedmodel").
      name: the format in the lines and the model card ("ONNX").
      convert: `(generator, graph, meta, *, scratch, staged, **options) -> bytes | Path`: `graph` (the model to
        convert; `generator` is the Keras original) as the file's bytes in `meta["variant"]` and `meta["layout"]`,
        written at `staged` once verified, or as `staged` itself when it writes there (a SavedModel directory).
        `scratch` is the staging folder.
      runner: `(model, meta) -> run(inputs) -> image` (NHWC): what `convert` returned, run for the parity check.
      offers: the files it writes (the variants it offers, each once at least), in the benchmarks' order; the
        lines of a format with one variant do not name it (its card does).
      quiet: a context manager factory held around the parity check.
      tensorflow_opens_out: TensorFlow opens (a staging folder beside) `--out`, so its name must be UTF-8.
    """

    kind: str
    name: str
    convert: Callable
    runner: Callable
    offers: tuple[Offer, ...] = (Offer(),)
    quiet: Callable = contextlib.nullcontext
    tensorflow_opens_out: bool = True

    @property
    def variants(self) -> tuple[str, ...]:
        """The numeric variants it writes, in the order of its offers."""
        return tuple(dict.fromkeys(offer.variant for offer in self.offers))


FORMATS: dict[str, Format] = {}  # kind -> Format, filled by each format's module (register_format)


def register_format(fmt: Format) -> Format:
    """Registers a format under its kind, so the benchmarks find it (formats())."""
    # Set, as export.target.register_kind: a format's module runs again as `python -m export.onnx` beside its
    # imported copy, and registers the same format again.
    FORMATS[fmt.kind] = fmt
    return fmt


def formats() -> dict[str, Format]:
    """Every registered format by kind, sorted: export/'s own modules are imported first, so a format's module is
    all there is to it; formats registered from outside export/ are included."""
    import export

    for module in pkgutil.iter_modules(export.__path__):
        importlib.import_module(f"export.{module.name}")
    return dict(sorted(FORMATS.items()))


def write_export(
    fmt: Format,
    generator,
    meta: dict,
    path,
    *,
    variant: str = "float32",
    layout: str = "NHWC",
    options: dict | None = None,
    plain: bool = False,
    force: bool = False,
    log=None,
    run_dir=None,
) -> Path:
    """Writes a verified export of `generator` at `path`, its metadata sidecar and its model card, in the one order
    every format follows: check the target, optimise the graph, set the variant's metadata, stage, convert, check
    parity, write, sidecar, card, publish, log.

    The file holds the optimised graph (export.optimise) unless `plain`; either way it is checked against
    `generator` itself. All its files are staged and published together (publish); `force` replaces a previous
    export's files, and nothing else.

    Args:
      variant, layout: the file's numeric variant and `image` layout, for its metadata.
      log: called with the closing line; run_dir: the run it came from, for the card.
      options: the format's own keyword arguments to `fmt.convert`.
    Raises:
      UserError: the file disagrees with Keras beyond its variant's budget (export.verify), or one of the paths
        exists (without `force`) or is not a previous export's (with it); nothing is written.
      ValueError: a variant the format does not offer.
    """
    from export.card import write_card
    from export.optimise import for_export
    from export.verify import budget_for, check_parity

    path = Path(path)
    if variant not in fmt.variants:
        raise ValueError(f"{fmt.name} offers no variant {variant!r} (it offers {', '.join(fmt.variants)})")
    check_target(path, force, fmt.kind)
    graph, notes = for_export(generator, plain, fmt.kind)
    meta = metadata.for_variant(meta, variant=variant, layout=layout, graph="optimised" if notes else "plain")
    shown = [layout] * (layout != "NHWC")
    what = " ".join([fmt.name] + [variant] * (len(fmt.variants) > 1) + shown)  # "ONNX float16 NCHW"
    with staging_dir(path) as tmp:
        staged = staged_path(tmp, path)
        model = fmt.convert(generator, graph, meta, scratch=Path(tmp), staged=staged, **(options or {}))
        budget = budget_for(variant, meta["output_range"])
        with fmt.quiet():
            check = lambda: check_parity(generator, fmt.runner(model, meta), meta, what=what, budget=budget)
            parity = verified(check, meta)
        if isinstance(model, bytes):
            staged.write_bytes(model)
        metadata.write_sidecar(staged, meta)
        titled = " ".join([fmt.name, variant] + shown)
        write_card(staged, generator, meta, parity, what=titled, run_dir=run_dir, graph_notes=notes)
        publish(staged, path, force=force, kind=fmt.kind)
    if log:
        log(parity_line(what, path, parity))
    return path


def export_run(fmt: Format, write: Callable, run_dir, out, default_name: str, *, force, verbose, **options) -> Path:
    """`write(generator, meta, out, ...)` over a run's generator (load_for_export), saying which weights when
    `verbose`; `options` go to `write`."""
    generator, meta, prefix, out = load_for_export(run_dir, out, default_name, force, fmt)
    if verbose:
        say(source_line(prefix))
    log = say if verbose else None
    return write(generator, meta, out, force=force, log=log, run_dir=run_of(prefix), **options)
