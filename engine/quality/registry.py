"""Metrics by name, registered by a decorator (stylegan2-ada's `@register_metric`): one function each over the
generated images' features and the reference set's, returning the numbers it names.

Every judge (the shipped evaluator's `report.Judge`, a folder's `folder_judge.FolderJudge`) scores images by running
each registered metric whose needs it meets, in registration order; evaluation during training logs every scalar a
metric names `logged`; engine.evaluate and the quality benchmarks read those names from here. A new metric is one
decorated function in this file (or any module imported before scoring).
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.quality import manifold, metrics
from engine.registry import Registry

KID_SUBSETS = 50
KID_SUBSET_SIZE = 1000


@dataclass(frozen=True)
class Inputs:
    """What a metric may read: the generated images' features (and the evaluator's class probabilities, when the
    judge has a classifier), the labels they were asked to be, and the reference set's features and statistics."""

    feats: np.ndarray
    reference_feats: np.ndarray
    reference_stats: tuple
    reference_radii: np.ndarray
    probs: np.ndarray | None = None
    labels: np.ndarray | None = None
    reference_labels: np.ndarray | None = None
    seed: int = 0
    kid_subsets: int = KID_SUBSETS


@dataclass(frozen=True)
class Metric:
    fn: Callable[[Inputs], dict]
    logged: tuple[str, ...]  # the scalars evaluation during training logs (and the best checkpoint is chosen by fid)
    needs_classifier: bool = False
    needs_labels: bool = False  # the classes the images were asked to be

    def applies(self, inputs: Inputs) -> bool:
        if self.needs_classifier and inputs.probs is None:
            return False
        return not self.needs_labels or inputs.labels is not None


METRICS = Registry("metric")


def register_metric(name: str, *, logged: tuple[str, ...], needs_classifier=False, needs_labels=False):
    def add(fn):
        METRICS.register(name)(Metric(fn, logged, needs_classifier, needs_labels))
        return fn

    return add


def score(inputs: Inputs) -> dict:
    """Every registered metric that applies to `inputs`, merged, plus num_samples."""
    out = {"num_samples": len(inputs.feats)}
    for metric in METRICS.values():
        if metric.applies(inputs):
            out |= metric.fn(inputs)
    return out


def score_against(judge, feats, *, probs=None, labels=None, seed: int = 0, kid_subsets: int = KID_SUBSETS) -> dict:
    """`score` of `feats` against a judge's reference set: its `reference_feats`, `reference_stats`,
    `reference_radii` and `reference_labels` (both judges keep them, computed once)."""
    return score(
        Inputs(
            feats,
            judge.reference_feats,
            judge.reference_stats,
            judge.reference_radii,
            probs=probs,
            labels=None if labels is None else np.asarray(labels),
            reference_labels=judge.reference_labels,
            seed=seed,
            kid_subsets=kid_subsets,
        )
    )


def logged_names() -> tuple[str, ...]:
    """The scalars evaluation during training logs, in registration order."""
    return tuple(name for metric in METRICS.values() for name in metric.logged)


@register_metric("fid", logged=("fid",))
def fid(x: Inputs) -> dict:
    return {"fid": metrics.gaussian_frechet(*metrics.feature_stats(x.feats), *x.reference_stats)}


@register_metric("kid", logged=("kid", "kid_stderr"))
def kid(x: Inputs) -> dict:
    mean, stderr = metrics.kid(
        x.feats, x.reference_feats, subsets=x.kid_subsets, subset_size=KID_SUBSET_SIZE, seed=x.seed
    )
    return {"kid": mean, "kid_stderr": stderr}


@register_metric("score", logged=("score",), needs_classifier=True)
def classifier_score(x: Inputs) -> dict:
    mean, std = metrics.classifier_score(x.probs)
    return {"score": mean, "score_std": std}


@register_metric("manifold", logged=("precision", "recall", "density", "coverage"))
def manifold_metrics(x: Inputs) -> dict:
    return manifold.manifold_metrics(x.reference_feats, x.feats, real_radii=x.reference_radii)


@register_metric("class_balance", logged=("class_entropy", "class_ratio"), needs_classifier=True)
def class_balance(x: Inputs) -> dict:
    return metrics.class_balance(x.probs)


@register_metric("class_accuracy", logged=("class_accuracy",), needs_classifier=True, needs_labels=True)
def class_accuracy(x: Inputs) -> dict:
    return {"class_accuracy": float(np.mean(x.probs.argmax(axis=1) == np.asarray(x.labels)))}


@register_metric("intra_fid", logged=("intra_fid",), needs_labels=True)
def intra_fid(x: Inputs) -> dict:
    if x.reference_labels is None:  # a folder without class sub-folders
        return {}
    return metrics.intra_fid(x.feats, np.asarray(x.labels), x.reference_feats, x.reference_labels)
