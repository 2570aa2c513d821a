"""Pixel features and the folder judge on small generated images: fitting, caching, the floor far below noise."""

import numpy as np
import pytest

from engine.errors import UserError
from engine.quality import folder_judge, metrics, pixels
from engine.quality.folder_judge import FolderJudge
from engine.quality.report import make_judge
from tests.engine.quality.folder_images import make_images, write_folder


def unit(images):
    return np.asarray(images, np.float32) / 255


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(tmp_path_factory.mktemp("folder") / "images", 160)


def test_feature_shape_keeps_channels_and_aspect():
    assert pixels.feature_shape((40, 40, 3)) == (32, 32, 3)
    assert pixels.feature_shape((28, 28, 1)) == (32, 32, 1)
    assert pixels.feature_shape((48, 64, 3)) == (24, 32, 3)


def test_fit_scales_each_view_and_takes_any_size():
    real = unit(make_images(240, 32))
    assert pixels.PixelFeatures.fit(real[:40], components=8).dims == 4  # at most one component per 16 images
    features = pixels.PixelFeatures.fit(real, components=8)
    feats = features(real)
    assert feats.shape == (240, 16) and features.dims == 16
    np.testing.assert_allclose(feats.mean(0), 0, atol=1e-3)
    for view in (feats[:, :8], feats[:, 8:]):  # pixels, detail: each view's variances average 1, in PCA order
        variances = view.var(0, ddof=1)
        assert variances.mean() == pytest.approx(1, rel=1e-3) and variances[0] > variances[-1]
    assert features(unit(make_images(5, 64, seed=1))).shape == (5, 16)  # resized to the feature shape first
    again = pixels.PixelFeatures.from_arrays(features.arrays())
    np.testing.assert_allclose(again(real[:4]), feats[:4], atol=1e-4)


def test_real_vs_real_is_far_below_blurred_shuffled_and_noise():
    real = unit(make_images(600, 32))
    reference, other = real[:300], real[300:]
    features = pixels.PixelFeatures.fit(reference, components=8)  # few features: a small floor at N = 300

    def fid(images):
        return metrics.frechet_distance(features(images), features(reference))

    floor = fid(other)
    blurred = pixels.resize(pixels.resize(other, (8, 8, 3)), (32, 32, 3))
    noise = np.clip(np.random.default_rng(0).normal(0.5, 0.25, other.shape), 0, 1).astype(np.float32)
    assert fid(blurred) > 3 * floor
    assert fid(other[..., ::-1]) > 3 * floor  # colour channels swapped
    assert fid(noise) > 10 * floor


def test_folder_judge_halves_the_folder_caches_and_caps_n(folder, tmp_path, monkeypatch):
    judge = FolderJudge(folder, image_shape=(40, 40, 3), cache_dir=tmp_path)
    assert len(judge.reference_feats) == len(judge.floor_feats) == 80
    assert judge.samples(5000) == 80 and judge.samples(10) == 10
    assert judge.info["features"] == "pixel_pca" and judge.info["folder_images"] == 160
    assert judge.info["dims"] == 10  # 80 images: 5 components per view
    [cached] = (tmp_path / "features" / "image_folder").glob("pixels-*.npz")

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cached features should have been used")

    monkeypatch.setattr("engine.data.registry.load_dataset", no_decoding)
    again = FolderJudge(folder, image_shape=(40, 40, 3), cache_dir=tmp_path)
    np.testing.assert_array_equal(again.reference_feats, judge.reference_feats)
    refs = again.reference_points(5000)
    assert refs["floor"]["num_samples"] == refs["noise"]["num_samples"] == 80
    assert refs["floor"]["fid"] * 3 < refs["noise"]["fid"]
    assert refs["floor"]["recall"] > refs["noise"]["recall"]
    assert "score" not in refs["floor"]  # no classifier: no classifier score or class balance


def test_a_changed_folder_is_a_new_key(tmp_path):
    images = write_folder(tmp_path / "images", 20)
    before = folder_judge.folder_key(images, (32, 32, 3))
    assert folder_judge.folder_key(images, (32, 32, 1)) != before
    write_folder(tmp_path / "more", 1)
    (tmp_path / "more" / "0000.png").rename(images / "extra.png")
    assert folder_judge.folder_key(images, (32, 32, 3)) != before


def test_labelled_folder_asks_for_the_floor_halfs_labels(tmp_path):
    images = write_folder(tmp_path / "classes", 60, classes=3)
    judge = FolderJudge(images, image_shape=(32, 32, 3), cache_dir=tmp_path)
    labels = judge.sample_labels(30, 3)
    np.testing.assert_array_equal(labels, judge.floor_labels)
    assert judge.sample_labels(30, 0) is None
    floor = judge.floor(30, conditional=True)
    assert set(floor["intra_fid_per_class"]) == {0, 1, 2}


def test_too_small_a_folder_is_refused(tmp_path):
    images = write_folder(tmp_path / "few", 10)
    with pytest.raises(UserError, match="at least"):
        FolderJudge(images, image_shape=(32, 32, 3), cache_dir=tmp_path)


def test_make_judge_picks_pixels_for_a_folder(folder, tmp_path):
    judge = make_judge("image_folder", data_dir=folder, image_shape=(40, 40, 3), cache_dir=tmp_path)
    assert isinstance(judge, FolderJudge)
