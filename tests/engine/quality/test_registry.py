"""The metric registry: every judge scores with the registered metrics whose needs it meets, and evaluation during
training logs what they name; a metric registered from outside engine/ is scored and logged with no other change."""

import numpy as np
import pytest

from engine.quality import manifold, metrics, registry


def inputs(probs=None, labels=None, reference_labels=None):
    rng = np.random.default_rng(0)
    feats, reference = rng.normal(size=(60, 8)), rng.normal(0.5, 1.0, size=(80, 8))
    return registry.Inputs(
        feats,
        reference,
        metrics.feature_stats(reference),
        manifold.knn_radii(reference),
        probs=probs,
        labels=labels,
        reference_labels=reference_labels,
        kid_subsets=5,
    )


def test_a_judge_without_a_classifier_or_labels_gets_the_feature_metrics_only():
    x = inputs()
    out = registry.score(x)
    assert out["fid"] == metrics.gaussian_frechet(*metrics.feature_stats(x.feats), *x.reference_stats)
    assert {"kid", "kid_stderr", "precision", "recall", "density", "coverage"} <= set(out) and out["num_samples"] == 60
    assert not {"score", "class_entropy", "class_accuracy", "intra_fid"} & set(out)


def test_classifier_and_label_metrics_need_what_they_read():
    probs = np.eye(4)[np.arange(60) % 4]
    out = registry.score(inputs(probs=probs, labels=np.arange(60) % 4, reference_labels=np.arange(80) % 4))
    assert out["class_accuracy"] == 1.0 and "score" in out and "intra_fid" in out
    assert "intra_fid" not in registry.score(inputs(probs=probs, labels=np.arange(60) % 4))  # unlabelled reference


def test_a_metric_registered_from_outside_is_scored_and_logged(monkeypatch):
    monkeypatch.setattr(registry, "METRICS", registry.Registry("metric"))
    monkeypatch.setitem(registry.METRICS, "fid", registry.Metric(registry.fid, ("fid",)))
    registry.register_metric("mean_norm", logged=("mean_norm",))(
        lambda x: {"mean_norm": float(np.linalg.norm(x.feats, axis=1).mean())}
    )
    out = registry.score(inputs())
    assert set(out) == {"num_samples", "fid", "mean_norm"} and out["mean_norm"] > 0
    assert registry.logged_names() == ("fid", "mean_norm")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_metric("fid", logged=())(lambda x: {})
