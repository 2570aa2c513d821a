"""Quality metrics as small pure numpy functions on classifier features and probabilities (no TF, no scipy)."""

import numpy as np


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix via eigh (negative round-off clipped to 0)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def gaussian_frechet(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2).

    d = |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^1/2). tr((C1 C2)^1/2) equals tr((s C2 s)^1/2) with
    s = C1^1/2, and s C2 s is symmetric PSD, so both roots come from eigh: no complex parts, no sqrtm iterations,
    stable for singular covariances (fewer samples than features).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    s = _sqrt_psd(cov1)
    middle = s @ cov2 @ s
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(max(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * cross, 0.0))


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) of features [N, D] in float64."""
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or len(feats) < 2:
        raise ValueError(f"need features [N >= 2, D], got shape {feats.shape}")
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(feats_a, feats_b) -> float:
    """FID-style distance between feature sets [N, D] (a Gaussian fitted to each). Biased by N: compare at equal N."""
    return gaussian_frechet(*feature_stats(feats_a), *feature_stats(feats_b))


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3 (KID, Binkowski et al. 2018)."""
    m, d = len(x), x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    off_diag = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(off_diag - 2 * kxy.mean())


def intra_fid(feats, labels, reference_feats, reference_labels) -> dict:
    """FID within each class (classes with at least two images on both sides), and their mean.

    Returns:
      {"intra_fid": the mean (nan when no class has two images on both sides), "intra_fid_per_class": {c: FID}}.
    """
    labels, per_class = np.asarray(labels), {}
    for c in np.unique(labels):
        mine, theirs = feats[labels == c], reference_feats[reference_labels == c]
        if len(mine) >= 2 and len(theirs) >= 2:
            per_class[int(c)] = frechet_distance(mine, theirs)
    mean = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    return {"intra_fid": mean, "intra_fid_per_class": per_class}


def kid(feats_a, feats_b, *, subsets: int = 50, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance analogue: mean unbiased MMD^2 over random subsets, and its standard error.

    Unbiased, so it is near 0 (and may be slightly negative) for two samples of one distribution at any N.

    Args:
      feats_a, feats_b: features [N, D].
      subsets: number of random subset pairs.
      subset_size: images per subset, capped at the smaller set's size.
      seed: for the subset draws.
    Returns:
      (mean, standard error of the mean over subsets).
    """
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples per set, got {len(a)} and {len(b)}")
    rng = np.random.default_rng(seed)
    values = np.array(
        [
            _mmd2_unbiased(a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)])
            for _ in range(subsets)
        ]
    )
    stderr = values.std(ddof=1) / np.sqrt(subsets) if subsets > 1 else float("nan")
    return float(values.mean()), float(stderr)


def classifier_score(probs, splits: int = 10) -> tuple[float, float]:
    """Inception-Score analogue: exp(E_x KL(p(y|x) || p(y))), mean and std over `splits` disjoint splits.

    High when each image is confidently one class and the classes are spread evenly; at most the number of classes.
    """
    probs = np.asarray(probs, np.float64)
    eps = 1e-12
    scores = []
    for part in np.array_split(probs, splits):
        if len(part) == 0:
            continue
        marginal = part.mean(axis=0, keepdims=True)
        kl = (part * (np.log(part + eps) - np.log(marginal + eps))).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def class_balance(probs) -> dict:
    """How evenly generated images spread over the classes, by the classifier's predicted class of each image.

    Returns:
      {"class_counts": per-class counts, "class_entropy": the histogram's entropy / log(classes) (1 = uniform,
      0 = one class), "class_ratio": most / least frequent class count (1 = uniform; inf when a class is missing:
      mode dropping shows up here first)}.
    """
    probs = np.asarray(probs, np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2 or len(probs) == 0:
        raise ValueError(f"need class probabilities [N >= 1, classes >= 2], got shape {probs.shape}")
    counts = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    p = counts / counts.sum()
    nonzero = p[p > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(len(p))) + 0.0  # + 0.0: one class gives 0, not -0
    ratio = float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")
    return {"class_counts": counts.tolist(), "class_entropy": entropy, "class_ratio": ratio}
