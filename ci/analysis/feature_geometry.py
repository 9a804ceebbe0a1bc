"""How spread out each modality's item features are: the mean pairwise cosine of every dataset's features.

Run from the repository root: ``python ci/analysis/feature_geometry.py [dataset ...]`` (default: the embedded
datasets with precomputed features, tiktok and lastfm, and amazon-beauty's MiniLM text features from the feature
cache or the offline weights). A mean cosine near 1 means the rows point the same way: a model that compares
items by these features (k-NN graphs, BM3's and MGCN's modality views) sees nearly identical items. The
effective dimension is the participation ratio of the centred features' covariance eigenvalues, (Σλ)² / Σλ²: how
many directions the features really vary in.
"""

from __future__ import annotations

import sys

import numpy as np

from mmbench.recipe.load import load_recipe
from mmbench.runner.features import extract_all
from mmbench.runner.run import prepare

RECIPES = {"tiktok": "recipes/tuned/tiktok/tiktok-mgcn.yaml", "lastfm": "recipes/tuned/lastfm/lastfm-freedom.yaml",
           "amazon-beauty": "recipes/tuned/amazon-beauty/beauty-freedom.yaml"}


def mean_cosine(x: np.ndarray, sample: int = 4000, seed: int = 0) -> float:
    """Mean cosine over distinct pairs of (up to ``sample``) rows."""
    rng = np.random.default_rng(seed)
    if len(x) > sample:
        x = x[rng.choice(len(x), sample, replace=False)]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    total = x.sum(0)
    n = len(x)
    return float((total @ total - n) / (n * (n - 1)))


def effective_dim(x: np.ndarray) -> float:
    """Participation ratio of the centred covariance spectrum."""
    lam = np.linalg.svd(x - x.mean(0), compute_uv=False) ** 2
    return float(lam.sum() ** 2 / (lam ** 2).sum())


def main() -> None:
    names = sys.argv[1:] or list(RECIPES)
    print("| dataset | modality | items with it | dim | mean pairwise cosine | effective dimension |")
    print("|---|---|---|---|---|---|")
    for name in names:
        recipe = load_recipe(RECIPES[name])
        data, _, _ = prepare(recipe, log=lambda _: None)
        for modality, feats in sorted(extract_all(recipe.encoders, data, log=lambda _: None).items()):
            x = feats.values[feats.available].astype(np.float64)
            print(f"| {name} | {modality} | {len(x):,} | {x.shape[1]} | {mean_cosine(x):.3f} | "
                  f"{effective_dim(x):.1f} |")


if __name__ == "__main__":
    main()
