"""Runs an exported generator from numpy: `.onnx` with onnxruntime, `.tflite` with LiteRT. Never imports TensorFlow.

    from export.runtime import Generator
    g = Generator.load("generator.onnx")        # or "generator.tflite" (metadata from generator.tflite.json)
    images = g.sample(16, seed=0)               # float32 [16, H, W, C] in g.output_range
    save_png(g.grid(16, seed=0), "samples.png") # save_png from imagegrid
    g.grid_image(16, seed=0, scale=2)           # a PIL image (in Jupyter: shown in the cell)

To embed it in another app, copy this file with export/metadata.py (as a package `export`) and imagegrid/; it
needs numpy, plus onnxruntime for .onnx, ai-edge-litert for .tflite and Pillow to write PNGs. Only .onnx and .tflite
files are loaded: they are data for an interpreter. A SavedModel is a TensorFlow program (it can run any op, file I/O
included), so this module refuses it; load one with TensorFlow, and only from a source you trust.
"""

import json
import os
from pathlib import Path

import numpy as np

from export import metadata
from imagegrid import make_grid, to_image, to_uint8

SUFFIXES = (".onnx", ".tflite")
SAMPLE_CHUNK = 1024  # rows per backend call in Generator.sample
MAX_SIDECAR_BYTES = 1 << 20  # a sidecar is about 500 bytes; 1 MiB holds thousands of class names
MAX_ONNX_BYTES = 1 << 31  # protobuf's limit, so no ONNX file is larger
# onnxruntime session settings, measured in docs/embedding.md#session-settings (python -m benchmarks.export_graph
# --session). Spinning off: on 2 threads it was 1.12x faster at batch 1 (1.85x at 256) but burnt 9.6 ms of CPU per
# call over a 10 ms idle gap (0.75 ms off). "all": 1.6-1.8x faster than any lower level at every batch.
SPINNING = False
OPTIMIZATION = "all"
OPTIMIZATIONS = {
    "all": "ORT_ENABLE_ALL",
    "extended": "ORT_ENABLE_EXTENDED",
    "basic": "ORT_ENABLE_BASIC",
    "disabled": "ORT_DISABLE_ALL",
}


def max_threads() -> int:
    """The most backend threads `Generator.load` accepts: 4 per CPU core (more only adds contention)."""
    return 4 * (os.cpu_count() or 1)


def draw_latents(meta: dict, rng: np.random.Generator, n: int) -> np.ndarray:
    """n latents of the generator described by `meta` (its latent size, distribution and range) from `rng`, drawn
    as float32 (no float64 copy): successive calls continue one stream. The one place exports draw latents."""
    shape = (n, meta["latent_dim"])
    if meta["latent_distribution"] == "uniform":
        lo, hi = meta["latent_range"]
        return (rng.random(shape, dtype=np.float32) * np.float32(hi - lo) + np.float32(lo)).astype(np.float32)
    return rng.standard_normal(shape, dtype=np.float32)


class GeneratorFileError(ValueError):
    """The file cannot be used as a generator: missing, of another kind, or without valid metadata."""


class GeneratorInputError(ValueError):
    """Inputs that do not match the generator's signature; the message states the expected one."""


class Generator:
    """An exported generator: `z` float32 [batch, latent_dim] (+ integer `labels` [batch]) -> float32 images.

    Attributes: `meta` (the export.metadata dict), `latent_dim`, `num_classes` (0: unconditional), `output_range`
    (lo, hi), `image_shape` (H, W, C), `layout` ("NHWC", or "NCHW": the axis order of what `__call__` and `sample`
    return), `variant` ("float32", "float16", "dynamic" or "int8"), `graph` ("optimised" or "plain"), `path`,
    `backend` (e.g. "onnxruntime[CPUExecutionProvider]" or "litert"). Every variant takes float32 z and returns
    float32 images in `output_range`: quantised files convert at their own edges, so nothing here depends on the
    variant.
    A .tflite Generator holds one LiteRT interpreter and is not thread-safe: use one per thread.
    """

    def __init__(self, run, meta: dict, backend: str, *, path: Path):
        self._run = run
        self.meta = meta
        self.path = path
        self.backend = backend
        self.latent_dim = meta["latent_dim"]
        self.num_classes = meta["num_classes"]
        self.output_range = tuple(meta["output_range"])
        self.image_shape = tuple(meta["image_shape"])
        self.layout = meta["layout"]
        self.variant = meta.get("variant", "float32")  # files from before the key existed were all float32
        self.graph = meta.get("graph", "plain")

    @classmethod
    def load(
        cls,
        path,
        *,
        providers: list[str] | None = None,
        threads: int | None = None,
        spinning: bool = SPINNING,
        optimization: str = OPTIMIZATION,
    ) -> "Generator":
        """Opens a .onnx or .tflite file written by export.onnx / export.tflite.

        Args:
          path: the .onnx file (metadata in its metadata_props) or .tflite file (metadata in `<file>.json`).
          providers: onnxruntime execution providers, in order of preference; default CUDA when onnxruntime offers
            it, then CPU. Only for .onnx.
          threads: intra-op threads (onnxruntime) or interpreter threads (LiteRT); default: the library's choice.
          spinning: onnxruntime only: whether idle intra-op threads spin waiting for work (lower latency on several
            threads, but they burn a core between calls); `session.intra_op.allow_spinning`. Measured defaults:
            docs/embedding.md#session-settings.
          optimization: onnxruntime's graph optimisation level, one of OPTIMIZATIONS ("all" by default).
        Returns:
          A Generator.
        Raises:
          GeneratorFileError: the path is missing, is not .onnx/.tflite (a SavedModel directory included), or its
            metadata is missing, invalid, or disagrees with the model's inputs.
          ValueError: `providers` given for a .tflite file, an unknown `optimization`, or `threads` not an integer
            from 1 to max_threads().
        """
        path = Path(path)
        if path.is_dir() or path.suffix not in SUFFIXES:
            kind = "a directory (a SavedModel?)" if path.is_dir() else f"a '{path.suffix}' file"
            raise GeneratorFileError(
                f"{path} is {kind}; the runtime loads only .onnx and .tflite files. A SavedModel is TensorFlow code: "
                "load it with tf.saved_model.load, and only from a source you trust"
            )
        if optimization not in OPTIMIZATIONS:
            raise ValueError(f"unknown optimization {optimization!r} (valid: {', '.join(OPTIMIZATIONS)})")
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= max_threads()
        ):
            raise ValueError(
                f"threads must be an integer from 1 to {max_threads()} (4 per CPU core) or None, got {threads!r}"
            )
        if not path.is_file():
            raise GeneratorFileError(f"{path}: no such file")
        if path.suffix == ".onnx":
            options = session_options(threads=threads, spinning=spinning, optimization=optimization)
            return cls(*_open_onnx(path, providers, options), path=path)
        if providers is not None:
            raise ValueError("providers= applies to .onnx files only; LiteRT runs .tflite files on the CPU")
        return cls(*_open_tflite(path, threads), path=path)

    @property
    def signature(self) -> str:
        """The expected call, e.g. "z float32 [batch, 100], labels integer [batch] in [0, 10)"."""
        z = f"z float32 [batch, {self.latent_dim}]"
        return f"{z}, labels integer [batch] in [0, {self.num_classes})" if self.num_classes else z

    def __repr__(self) -> str:
        lo, hi = self.output_range
        return (
            f"Generator({self.path.name}, {self.variant}, {self.backend}: {self.signature} -> image float32 "
            f"[batch, {', '.join(map(str, self.output_shape))}] ({self.layout}) in [{lo:g}, {hi:g}])"
        )

    @property
    def output_shape(self) -> tuple:
        """The per-image shape `__call__` returns: (H, W, C) for NHWC files, (C, H, W) for NCHW ones."""
        h, w, c = self.image_shape
        return (c, h, w) if self.layout == "NCHW" else (h, w, c)

    def to_nhwc(self, images: np.ndarray) -> np.ndarray:
        """This file's output as NHWC (a transposed view for NCHW files, unchanged for NHWC)."""
        return images.transpose(0, 2, 3, 1) if self.layout == "NCHW" else images

    def __call__(self, z: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Generates images.

        Args:
          z: float32 [batch, latent_dim], batch >= 1. Other dtypes are refused, not cast.
          labels: integer [batch] in [0, num_classes) for a conditional generator (cast to int32); None otherwise.
        Returns:
          float32 [batch, H, W, C] (NCHW files: [batch, C, H, W]) in `output_range`.
        Raises:
          GeneratorInputError: z or labels do not match the signature; checked before the backend runs.
        """
        feeds = {"z": self._check_z(z)}
        if self.num_classes:
            feeds["label"] = self._check_labels(labels, len(feeds["z"]))
        elif labels is not None:
            raise GeneratorInputError(f"this generator is unconditional: call it with {self.signature} and no labels")
        return np.asarray(self._run(feeds))

    def _check_z(self, z) -> np.ndarray:
        z = np.asarray(z)  # never casts: a float64 array stays float64 and is refused below
        if z.dtype != np.float32 or z.ndim != 2 or z.shape[1] != self.latent_dim or z.shape[0] < 1:
            hint = " (batch must be >= 1)" if z.ndim == 2 and z.shape[0] == 0 else ""
            raise GeneratorInputError(f"z must be float32 [batch, {self.latent_dim}], got {_describe(z)}{hint}")
        if not np.isfinite(z).all():
            raise GeneratorInputError(
                f"z holds {np.count_nonzero(~np.isfinite(z))} NaN or infinite values; pass "
                "finite latents (e.g. from Generator.latents)"
            )
        return np.ascontiguousarray(z)

    def _check_labels(self, labels, batch: int) -> np.ndarray:
        want = f"labels must be integer [{batch}] (one per row of z) in [0, {self.num_classes})"
        if labels is None:
            raise GeneratorInputError(f"{want} for this conditional generator, got None")
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer) or labels.shape != (batch,):
            raise GeneratorInputError(f"{want}, got {_describe(labels)}")
        if labels.min() < 0 or labels.max() >= self.num_classes:
            raise GeneratorInputError(f"{want}, got values from {labels.min()} to {labels.max()}")
        return labels.astype(np.int32)  # safe: every value is in [0, num_classes)

    def latents(self, n: int, *, seed: int | None = None) -> np.ndarray:
        """Draws float32 z [n, latent_dim] from the metadata's latent distribution with numpy default_rng(seed)."""
        return self._draw(np.random.default_rng(seed), _count(n))

    def _draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return draw_latents(self.meta, rng, n)

    def sample(self, n: int, *, seed: int | None = None, labels=None) -> np.ndarray:
        """Generates n images from fresh latents.

        Args:
          n: number of images.
          seed: seed for the latents (same seed, same images).
          labels: conditional generators only: integer [n], or one int for all n; None cycles 0..num_classes-1.
        Returns:
          float32 [n, H, W, C] (NCHW files: [n, C, H, W]) in `output_range`.
        Raises:
          GeneratorInputError: as for `__call__`, or n < 1.
        """
        n = _count(n)
        if self.num_classes and labels is None:
            labels = np.arange(n) % self.num_classes
        elif labels is not None and np.ndim(labels) == 0:
            labels = np.full(n, labels)
        if labels is not None and np.shape(labels) != (n,):
            raise GeneratorInputError(
                f"labels must be integer [{n}] (one per image), got {_describe(np.asarray(labels))}"
            )
        # In chunks: the latents and the backend's buffers stay SAMPLE_CHUNK rows whatever n is; only the images
        # returned grow with n. The latent stream is the one `latents(n, seed)` draws, so results do not depend on
        # the chunk size.
        rng, out = np.random.default_rng(seed), None
        for start in range(0, n, SAMPLE_CHUNK):
            rows = min(SAMPLE_CHUNK, n - start)
            images = self(self._draw(rng, rows), None if labels is None else labels[start : start + rows])
            if out is None:
                out = np.empty((n, *images.shape[1:]), np.float32)
            out[start : start + rows] = images
        return out

    def sample_uint8(self, n: int, *, seed: int | None = None, labels=None) -> np.ndarray:
        """`sample` mapped to uint8 [n, H, W, C] (output_range -> 0..255), NHWC whatever the file's layout."""
        return to_uint8(self.to_nhwc(self.sample(n, seed=seed, labels=labels)), self.output_range)

    def grid(
        self, n: int, *, seed: int | None = None, labels=None, cols: int | None = None, pad: int = 2
    ) -> np.ndarray:
        """n samples tiled into one uint8 [H', W', C] image (see imagegrid.make_grid).

        cols defaults to num_classes for a conditional generator sampled with cycled labels (one class per column),
        else ceil(sqrt(n)).
        """
        if cols is None and self.num_classes and labels is None:
            cols = min(self.num_classes, n)
        return make_grid(self.sample_uint8(n, seed=seed, labels=labels), cols=cols, pad=pad)

    def grid_image(
        self,
        n: int = 64,
        *,
        seed: int | None = 0,
        labels=None,
        cols: int | None = None,
        pad: int = 2,
        scale: int = 1,
    ):
        """`grid` as a PIL image, enlarged `scale` times: what engine's `Run.grid` returns (in Jupyter it shows
        itself). Needs Pillow."""
        return to_image(self.grid(n, seed=seed, labels=labels, cols=cols, pad=pad), scale)


def session_options(*, threads: int | None = None, spinning: bool = SPINNING, optimization: str = OPTIMIZATION):
    """onnxruntime SessionOptions for `Generator.load`'s settings (docs/embedding.md#session-settings)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATIONS[optimization])
    return options


def _open_onnx(path: Path, providers, options):
    """(run, meta, backend) of an .onnx file in an onnxruntime session with `options`."""
    import onnxruntime as ort

    if providers is None:
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in ort.get_available_providers()]
    try:
        if path.stat().st_size >= MAX_ONNX_BYTES:
            raise GeneratorFileError(f"{path}: not an ONNX model (2 GiB or larger; protobuf's limit is 2 GiB)")
        data = path.read_bytes()  # read once: the bytes checked are the bytes run
    except OSError as e:
        raise GeneratorFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    external = external_data_tensors(data, path)
    if external:
        raise GeneratorFileError(
            f"{path}: initializer {external[0]!r} keeps its data in another file (ONNX external data); the runtime "
            "refuses such models, since they could read any file (the exporters never write them)"
        )
    try:
        session = ort.InferenceSession(data, options, providers=providers)
    except Exception as e:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...) for a bad file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise GeneratorFileError(f"{path}: onnxruntime cannot load it ({first})") from None
    try:
        meta = metadata.from_props(session.get_modelmeta().custom_metadata_map)
    except (ValueError, RecursionError) as e:  # JSONDecodeError; RecursionError: nesting too deep
        raise GeneratorFileError(f"{path}: metadata_props hold invalid JSON ({_first_line(e)})") from None
    meta = _checked_meta(meta, path)
    _check_io(
        path,
        meta,
        {i.name: i.shape for i in session.get_inputs()},
        [o.name for o in session.get_outputs()],
        {i.name: i.type for i in session.get_inputs()} | {o.name: o.type for o in session.get_outputs()},
    )
    run = lambda feeds: session.run(["image"], feeds)[0]
    return run, meta, f"onnxruntime[{', '.join(session.get_providers())}]"


def _open_tflite(path: Path, threads):
    """(run, meta, backend) of a .tflite file in a LiteRT interpreter (metadata from its sidecar)."""
    from ai_edge_litert.interpreter import Interpreter

    sidecar = metadata.sidecar_path(path)
    if not sidecar.is_file():
        raise GeneratorFileError(
            f"{path}: its metadata file {sidecar.name} is missing (export.tflite writes it "
            "beside the .tflite file; copy both)"
        )
    meta = _checked_meta(read_sidecar_json(sidecar), sidecar)
    try:
        interpreter = Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as e:  # LiteRT's message for a non-TFLite file does not name the file
        raise GeneratorFileError(f"{path}: LiteRT cannot load it ({_first_line(e)})") from None
    try:
        signatures = interpreter.get_signature_list()
        if "serving_default" not in signatures:
            raise GeneratorFileError(f"{path}: no 'serving_default' signature (has {sorted(signatures)})")
        runner = interpreter.get_signature_runner("serving_default")
    except (ValueError, RuntimeError) as e:
        raise GeneratorFileError(f"{path}: LiteRT cannot read its signature ({_first_line(e)})") from None
    details = runner.get_input_details() | runner.get_output_details()
    inputs = {name: list(d["shape_signature"]) for name, d in runner.get_input_details().items()}
    _check_io(
        path,
        meta,
        inputs,
        list(runner.get_output_details()),
        {name: np.dtype(d["dtype"]).name for name, d in details.items()},
    )
    run = lambda feeds: runner(**feeds)["image"]
    return run, meta, "litert"


def read_sidecar_json(sidecar: Path):
    """The JSON value in a sidecar file: at most MAX_SIDECAR_BYTES of UTF-8 (a BOM allowed), nested less deep than
    Python's recursion limit.

    Raises:
      GeneratorFileError: unreadable, too large, not UTF-8, or not JSON, naming the file.
    """
    try:
        with open(sidecar, "rb") as f:
            data = f.read(MAX_SIDECAR_BYTES + 1)
    except OSError as e:
        raise GeneratorFileError(f"{sidecar}: cannot be read ({e.strerror or e})") from None
    if len(data) > MAX_SIDECAR_BYTES:
        raise GeneratorFileError(
            f"{sidecar}: larger than {MAX_SIDECAR_BYTES:,} bytes, so not a metadata sidecar; re-export the generator"
        )
    try:
        return json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise GeneratorFileError(
            f"{sidecar}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); the exporters write UTF-8 "
            "JSON: re-export the generator"
        ) from None
    except RecursionError:
        raise GeneratorFileError(f"{sidecar}: not valid JSON (nested too deeply)") from None
    except ValueError as e:
        raise GeneratorFileError(f"{sidecar}: not valid JSON ({_first_line(e)})") from None


def _first_line(e: BaseException, limit: int = 200) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:limit] if text else type(e).__name__


def _describe(a: np.ndarray) -> str:
    return f"{a.dtype} [{', '.join(map(str, a.shape))}]"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_range(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v) and v[0] < v[1]


def _checked_meta(meta, source: Path) -> dict:
    """`meta` if it has every key of export.metadata with usable values, else GeneratorFileError naming `source`."""
    if not isinstance(meta, dict):
        raise GeneratorFileError(f"{source}: metadata must be a JSON object, got {type(meta).__name__}")
    try:
        metadata.check(meta)
    except ValueError as e:
        raise GeneratorFileError(f"{source}: no valid generator metadata ({e}); re-export the generator") from None
    bad = []
    if not (_is_int(meta["latent_dim"]) and meta["latent_dim"] >= 1):
        bad.append(f"latent_dim={meta['latent_dim']!r}")
    if not (_is_int(meta["num_classes"]) and meta["num_classes"] >= 0):
        bad.append(f"num_classes={meta['num_classes']!r}")
    if meta["latent_distribution"] not in ("normal", "uniform"):
        bad.append(f"latent_distribution={meta['latent_distribution']!r}")
    elif meta["latent_distribution"] == "uniform" and not _is_range(meta["latent_range"]):
        bad.append(f"latent_range={meta['latent_range']!r}")
    if not _is_range(meta["output_range"]):
        bad.append(f"output_range={meta['output_range']!r}")
    shape = meta["image_shape"]
    if not (isinstance(shape, list) and len(shape) == 3 and all(_is_int(d) and d >= 1 for d in shape)):
        bad.append(f"image_shape={shape!r}")
    if meta["layout"] not in metadata.LAYOUTS:
        bad.append(f"layout={meta['layout']!r}")
    variant = meta.get("variant", "float32")
    if not (isinstance(variant, str) and variant in metadata.VARIANTS):  # a name, not a list: VARIANTS is a dict
        bad.append(f"variant={meta['variant']!r}")
    if meta.get("graph", "plain") not in metadata.GRAPHS:
        bad.append(f"graph={meta['graph']!r}")
    if bad:
        raise GeneratorFileError(f"{source}: invalid generator metadata: {', '.join(bad)}")
    return meta


# The calling convention of every variant: onnxruntime type strings and numpy dtype names.
IO_DTYPES = {
    "z": ("tensor(float)", "float32"),
    "label": ("tensor(int32)", "int32"),
    "image": ("tensor(float)", "float32"),
}


def _check_io(path: Path, meta: dict, inputs: dict[str, list], outputs: list[str], dtypes: dict[str, str]) -> None:
    """Refuses a model whose inputs/outputs disagree with its metadata (e.g. a sidecar copied from another model), or
    that uses another calling convention (e.g. int8 inputs from another exporter: this runtime does not quantise)."""
    want = ["label", "z"] if meta["num_classes"] else ["z"]
    if sorted(inputs) != want:
        raise GeneratorFileError(
            f"{path}: inputs {sorted(inputs)} do not match its metadata "
            f"(num_classes={meta['num_classes']} means inputs {want})"
        )
    if "image" not in outputs:
        raise GeneratorFileError(f"{path}: no output named 'image' (outputs: {outputs})")
    wrong = [f"{name} is {dtypes[name]}" for name in [*inputs, "image"] if dtypes.get(name) not in IO_DTYPES[name]]
    if wrong:
        raise GeneratorFileError(
            f"{path}: {', '.join(wrong)}; the runtime expects z float32, label int32 and image "
            "float32 (every variant export.* writes keeps these)"
        )
    # onnxruntime gives a symbolic batch as a str or None, LiteRT as -1; only a fixed width can be compared.
    z_dims = [_as_int(d) for d in inputs["z"]]
    if len(z_dims) != 2 or z_dims[1] not in (None, meta["latent_dim"]):
        shown = ", ".join("?" if d is None else str(d) for d in z_dims)
        raise GeneratorFileError(f"{path}: input z is [{shown}] but its metadata says [batch, {meta['latent_dim']}]")


def _as_int(dim):
    """A fixed dimension as int, or None for a symbolic/dynamic one."""
    if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and dim >= 0:
        return int(dim)
    return None


def _count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GeneratorInputError(f"n must be an integer >= 1, got {n!r}")
    return int(n)


# ONNX protobuf field numbers (onnx/onnx.proto3) on the paths that can hold a TensorProto.
_MODEL_GRAPH, _MODEL_FUNCTIONS, _FUNCTION_NODES = 7, 25, 7
_GRAPH_NODES, _GRAPH_INITIALIZERS, _GRAPH_SPARSE_INITIALIZERS = 1, 5, 15
_NODE_ATTRIBUTES, _SPARSE_VALUES, _SPARSE_INDICES = 5, 1, 2
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _EXTERNAL = 8, 13, 14, 1


def _fields(buf: memoryview):
    """(field number, wire type, value) of one protobuf message: ints for varints, memoryviews for bytes."""
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            if i >= n or shift > 63:
                raise ValueError("truncated varint")
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, wire, varint()
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            yield number, wire, None
        elif wire == 2:
            size = varint()
            if i + size > n:
                raise ValueError("truncated field")
            yield number, wire, buf[i : i + size]
            i += size
        else:
            raise ValueError(f"wire type {wire}")
    if i != n:
        raise ValueError("truncated message")


def _children(buf, wanted: dict):
    """Sub-messages of `buf` whose field number is in `wanted`, each with its kind (`wanted[number]`)."""
    return [(wanted[num], value) for num, wire, value in _fields(buf) if wire == 2 and num in wanted]


def external_data_tensors(data: bytes, path) -> list[str]:
    """Names of the tensors in an ONNX model that point at external data (another file), walking every graph,
    subgraph (If/Loop bodies), function, attribute and sparse tensor. Needs no `onnx` package.

    Raises:
      GeneratorFileError: the bytes are not a protobuf message (not an ONNX file).
    """
    found, stack = [], [("model", memoryview(data))]
    kinds = {
        "model": {_MODEL_GRAPH: "graph", _MODEL_FUNCTIONS: "function"},
        "function": {_FUNCTION_NODES: "node"},
        "graph": {_GRAPH_NODES: "node", _GRAPH_INITIALIZERS: "tensor", _GRAPH_SPARSE_INITIALIZERS: "sparse"},
        "node": {_NODE_ATTRIBUTES: "attribute"},
        "attribute": {
            _ATTR_TENSOR: "tensor",
            _ATTR_GRAPH: "graph",
            _ATTR_TENSORS: "tensor",
            _ATTR_GRAPHS: "graph",
            _ATTR_SPARSE: "sparse",
            _ATTR_SPARSES: "sparse",
        },
        "sparse": {_SPARSE_VALUES: "tensor", _SPARSE_INDICES: "tensor"},
    }
    try:
        while stack:
            kind, buf = stack.pop()
            if kind != "tensor":
                stack.extend(_children(buf, kinds[kind]))
                continue
            fields = list(_fields(buf))
            if any(
                num == _TENSOR_EXTERNAL_DATA or (num == _TENSOR_DATA_LOCATION and value == _EXTERNAL)
                for num, _, value in fields
            ):
                names = [bytes(v).decode(errors="replace") for num, w, v in fields if num == _TENSOR_NAME and w == 2]
                found.append(names[0] if names else "?")
    except ValueError as e:
        raise GeneratorFileError(f"{path}: not an ONNX model ({e})") from None
    return found
