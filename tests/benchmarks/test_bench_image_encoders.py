"""Speed of the image encoders on real photos (pytest-benchmark; run with ``--benchmark-enable``).

EfficientNet-Lite0 is the offline default image encoder, so its images/s on CPU bounds how long a dataset's
image features take to compute. Inputs are JPEG files (decoding is part of the cost): the two sklearn photos
and seeded random crops and resizes of them. Measured, never asserted: with benchmarks disabled (the default
test run) the body runs once on 16 images; enabled, it times 64 images over three rounds.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_image

from mmbench.components.encoders.efficientnet_lite0 import EfficientNetLite0ImageEncoder


def distinct_photos(folder, n: int) -> list:
    """``n`` distinct JPEG files cut from the two sklearn photos at seeded random boxes and sizes."""
    rng = np.random.default_rng(0)
    photos = [Image.fromarray(load_sample_image(name)) for name in ("china.jpg", "flower.jpg")]
    paths = []
    for i in range(n):
        img = photos[i % 2]
        w, h = img.size
        cw, ch = int(rng.integers(w // 3, w + 1)), int(rng.integers(h // 3, h + 1))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        side = int(rng.integers(160, 641))
        out = img.crop((x, y, x + cw, y + ch)).resize((side, side * ch // cw), Image.BICUBIC)
        paths.append(folder / f"photo{i:03d}.jpg")
        out.save(paths[-1], quality=90)
    return paths


def test_bench_efficientnet_lite0_images_per_second(benchmark, tmp_path):
    paths = distinct_photos(tmp_path, 16 if benchmark.disabled else 64)
    encoder = EfficientNetLite0ImageEncoder(device="cpu")
    encoder.encode(paths[:2])  # warm-up: the first forward pays for kernel selection
    feats, available = benchmark.pedantic(encoder.encode, args=(paths,), rounds=3, iterations=1)
    assert available.all() and feats.shape == (len(paths), 1280)
    if not benchmark.disabled:
        benchmark.extra_info["images_per_s"] = round(len(paths) / benchmark.stats.stats.mean, 1)
