"""The frozen MobileNetV2 features: nsfwjs' TF.js package converted once into the cache (here a stand-in package
encoded the way nsfwjs is, from a random-init Keras model, served from a file:// URL), checked by checksum, refused
with one line offline; the built model is frozen and lets gradients through to its input. The real package: -m slow.
"""

import base64
import io
import json
import tarfile
import urllib.request
from http.client import HTTPException

import keras
import numpy as np
import pytest
import tensorflow as tf

from engine.errors import UserError
from engine.models.backbones import mobilenet_v2, weights

ALL_STRIDES = ("block_1_project_BN", "block_2_add", "block_5_add", "block_10_project_BN")


def wrap(var: str, arg: str, literal: str) -> str:
    """`literal` as browserify's module 1 exports it in nsfwjs' files (the loader cut short)."""
    loader = f'!function(e){{"object"==typeof exports?module.exports=e():this.{var}=e()}}(function(){{return function'
    return f"{loader} e(a,n,i){{return a}}({{1:[function(e,{arg},n){{{arg}.exports={literal}}},{{}}]}},{{}},[1])(1)}});"


FINE_TUNED = {
    "name": "block_11_expand",
    "class_name": "Conv2D",
    "config": {"name": "block_11_expand", "trainable": True},
}


def js(value) -> str:
    """`value` as a minified JavaScript literal, as nsfwjs writes it: bare keys, !0 / !1, numbers like .5."""
    if isinstance(value, bool):
        return "!0" if value else "!1"
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value).replace("0.", ".", 1) if abs(value) < 1 and value != 0 else repr(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{js(v)}" for k, v in value.items()) + "}"
    return "[" + ",".join(js(v) for v in value) + "]"


def quantize(value: np.ndarray) -> tuple[dict, bytes]:
    low, high = float(value.min()), float(value.max())
    scale = (high - low) / 255 or 1.0
    q = np.clip(np.round((value - low) / scale), 0, 255).astype(np.uint8)
    return {"min": low, "scale": scale, "dtype": "uint8"}, q.tobytes()


def encode_package(model: keras.Model) -> bytes:
    """A .tgz with nsfwjs' two MobileNetV2 members, holding `model`'s layers in its TF.js format, plus one fine-tuned
    layer after LAST_LAYER that the conversion must leave alone."""
    layers, specs, chunks = [], [], []
    for layer in model.layers:
        config = {k: v for k, v in layer.get_config().items() if k in weights._SAME}
        layers.append(
            {"name": layer.name, "class_name": type(layer).__name__, "config": {**config, "trainable": False}}
        )
    layers.append(FINE_TUNED)
    tensors = {f"{FINE_TUNED['name']}/kernel": np.ones((1, 1, 96, 576), np.float32)}
    for layer in model.layers:
        for v in layer.weights:
            name = weights._RENAMED.get(type(layer).__name__, {}).get(v.name, v.name)
            tensors[f"{layer.name}/{name}"] = keras.ops.convert_to_numpy(v)
    for name in sorted(tensors):  # nsfwjs' manifest is sorted by name, not in layer order
        quantization, data = quantize(tensors[name])
        specs.append(
            {"name": name, "shape": list(tensors[name].shape), "dtype": "float32", "quantization": quantization}
        )
        chunks.append(data)
    topology = {"modelTopology": {"model_config": {"class_name": "Model", "config": {"layers": layers}}}}
    topology["weightsManifest"] = [{"paths": ["group1-shard1of1"], "weights": specs}]
    members = {
        weights.TOPOLOGY: wrap("model", "a", js(topology)),
        weights.MODEL_DIR + "group1-shard1of1.min.js": wrap(
            "group1_shard1of1", "h", js(base64.b64encode(b"".join(chunks)).decode())
        ),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


@pytest.fixture(scope="module")
def source():
    """A random-init backbone with random BatchNorm statistics (fresh ones are constant: 1, 0, 0, 1)."""
    model = weights.backbone(32)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n), rng.normal(0, 0.1, n), rng.uniform(0.5, 2, n)]
            )
    return model


@pytest.fixture(scope="module")
def package(source, tmp_path_factory):
    """(file:// URL, integrity) of the stand-in tarball."""
    path = tmp_path_factory.mktemp("registry") / "nsfwjs-4.4.0.tgz"
    path.write_bytes(encode_package(source))
    return path.as_uri(), weights.digest(path.read_bytes())


@pytest.fixture(scope="module")
def converted(package, tmp_path_factory):
    url, integrity = package
    return weights.ensure(url, cache=tmp_path_factory.mktemp("cache"), integrity=integrity)


def files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_the_js_literal_parser_reads_minified_javascript():
    text = 'x={a:!0,b:[.5,-0,1e-3,-.25,null,[]],"c d":\'it\\\'s "q"\',e:{},f:"\\x41\\n"};'
    value, end = weights.parse_js(text, 2)
    assert value == {"a": True, "b": [0.5, 0, 1e-3, -0.25, None, []], "c d": 'it\'s "q"', "e": {}, "f": "A\n"}
    assert text[end:] == ";"
    with pytest.raises(ValueError):
        weights.parse_js("{a:function(){}}")


def test_conversion_reproduces_the_weights_within_quantization_error(source, converted):
    assert converted == weights.cached_path(converted.parents[1])
    assert files(converted.parents[1]) == [converted]  # no temporary file left
    model = mobilenet_v2.build(32, ("block_10_project_BN",), weights=converted)
    ours = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    assert len(ours) == len(source.weights) == 165
    for v in source.weights:
        value = keras.ops.convert_to_numpy(v)
        step = (value.max() - value.min()) / 255
        assert np.abs(ours[v.path] - value).max() <= step / 2 + 1e-6 * max(1, np.abs(value).max()), v.path


def test_a_second_call_does_not_fetch_again(package, converted, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("fetched again")

    before = converted.stat().st_mtime_ns
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    assert weights.ensure(package[0], cache=converted.parents[1], integrity=package[1]) == converted
    assert converted.stat().st_mtime_ns == before


def test_a_checksum_mismatch_is_refused_and_nothing_is_cached(package, tmp_path):
    with pytest.raises(UserError) as caught:
        weights.ensure(package[0], cache=tmp_path)  # the real package's checksum
    message = str(caught.value)
    assert "\n" not in message and weights.INTEGRITY in message and package[1] in message
    assert files(tmp_path) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/nsfwjs-4.4.0.tgz", "file:///nonexistent/nsfwjs-4.4.0.tgz"])
def test_offline_is_one_line_naming_the_missing_file_and_the_fix(url, tmp_path):
    with pytest.raises(UserError) as caught:
        weights.ensure(url, cache=tmp_path)
    message = str(caught.value)
    assert "\n" not in message and str(weights.cached_path(tmp_path)) in message and url in message
    assert "python -m engine.models.backbones.weights" in message and "GAN_ENGINE_CACHE" in message
    assert files(tmp_path) == []


def test_a_package_that_does_not_match_keras_is_refused(source, tmp_path):
    model = keras.Model(source.input, source.get_layer("block_9_add").output)  # block_10 missing
    path = tmp_path / "short.tgz"
    path.write_bytes(encode_package(model))
    cache = tmp_path / "cache"
    with pytest.raises(UserError, match="no layer block_10_project_BN"):
        weights.ensure(path.as_uri(), cache=cache, integrity=weights.digest(path.read_bytes()))
    assert files(tmp_path) == [path]


@pytest.mark.parametrize("size", [32, 64])
def test_build_is_frozen_and_returns_the_requested_outputs(size, converted):
    model = mobilenet_v2.build(size, ALL_STRIDES, weights=converted)
    assert model.trainable_weights == [] and len(model.non_trainable_weights) > 0
    expected = [(2, size // s, size // s, c) for s, c in (mobilenet_v2.CUTS[n] for n in ALL_STRIDES)]
    y = model(tf.random.stateless_uniform([2, size, size, 3], [1, 2], -1, 1))
    assert [tuple(t.shape) for t in y] == expected
    shallow = mobilenet_v2.build(size, ("block_2_add",), weights=None)
    assert len(shallow.layers) < len(model.layers)  # only the layers up to the deepest cut


def test_gradients_reach_the_input_and_a_training_step_leaves_the_features_alone(converted):
    features = mobilenet_v2.build(32, ("block_2_add", "block_10_project_BN"), weights=converted)
    heads = [keras.layers.Dense(1) for _ in features.outputs]
    x = tf.Variable(tf.random.stateless_uniform([4, 32, 32, 3], [3, 4], -1, 1))
    before = [keras.ops.convert_to_numpy(v) for v in features.weights]
    optimizer = keras.optimizers.Adam(1e-2)
    with tf.GradientTape() as tape:
        outputs = features(x, training=True)  # BatchNorm must stay in inference mode, statistics unchanged
        loss = sum(tf.reduce_mean(head(tf.reduce_mean(y, axis=[1, 2]))) for head, y in zip(heads, outputs, strict=True))
    trainable = features.trainable_variables + [v for head in heads for v in head.trainable_variables]
    grad_x, *grads = tape.gradient(loss, [x, *trainable])
    assert np.isfinite(grad_x.numpy()).all() and float(tf.reduce_max(tf.abs(grad_x))) > 0
    optimizer.apply_gradients(zip(grads, trainable, strict=True))
    after = [keras.ops.convert_to_numpy(v) for v in features.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_unknown_cuts_and_small_inputs_are_refused():
    with pytest.raises(ValueError, match="block_13_add"):
        mobilenet_v2.build(32, ("block_13_add",), weights=None)
    with pytest.raises(ValueError, match="distinct"):
        mobilenet_v2.build(32, ("block_2_add", "block_2_add"), weights=None)
    with pytest.raises(ValueError, match="32"):
        mobilenet_v2.build(16, ("block_2_add",), weights=None)


def test_a_missing_weights_file_is_one_line(tmp_path):
    with pytest.raises(UserError, match="python -m engine.models.backbones.weights"):
        mobilenet_v2.build(32, ("block_2_add",), weights=tmp_path / "missing.weights.h5")


def test_the_cli_says_already_cached_or_one_error_line(converted, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(converted.parents[1]))
    assert weights.main([]) == 0
    assert capsys.readouterr().out == f"already cached: {converted}\n"
    monkeypatch.setenv("GAN_ENGINE_CACHE", str(tmp_path))
    monkeypatch.setattr(weights, "URL", "file:///nonexistent/nsfwjs-4.4.0.tgz")
    with pytest.raises(SystemExit) as caught:
        weights.run_cli(lambda: weights.main([]))
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: the pretrained features") and files(tmp_path) == []


@pytest.mark.slow
def test_the_real_package_converts_and_gives_varied_finite_features(tmp_path):
    try:
        path = weights.ensure(cache=tmp_path)
    except UserError as e:
        if isinstance(e.__cause__, OSError | HTTPException):  # the registry cannot be reached from here
            pytest.skip(str(e))
        raise
    assert path.is_file() and path.stat().st_size > 1_000_000
    model = mobilenet_v2.build(64, ("block_2_add", "block_5_add", "block_10_project_BN"), weights=path)
    x = tf.random.stateless_uniform([4, 64, 64, 3], [5, 6], -1, 1)
    for y in model(x):
        y = y.numpy()
        assert np.isfinite(y).all() and y.std() > 0.1
        assert np.abs(y[0] - y[1]).max() > 0  # different images, different features
