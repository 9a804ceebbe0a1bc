"""The feature stage: recipe encoders → per-modality item features, through the feature cache.

For each ``encoders: {modality: spec}`` entry: build the encoder's inputs from the prepared data (rendered
item text, local or fetched images, or the item ids), hash them, and either read the cached features or
extract them in chunks with a progress bar (items/s, ETA) and store them. Missing inputs stay missing: the
result carries an availability mask, never an invented vector.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mmbench.cachedir import cache_root, sha256_file
from mmbench.data import feature_cache
from mmbench.data.item_inputs import ItemInputs, default_template, render_texts, text_hash
from mmbench.data.types import PreparedData
from mmbench.errors import EncoderError
from mmbench.kinds import ENCODERS
from mmbench.recipe.schema import EncoderSpec

Log = Callable[[str], None]
CHUNK = 256  # items per encode() call: the progress bar's step; encoders batch inside it


@dataclass(frozen=True)
class ModalityFeatures:
    """One modality's item features: ``values`` [n_items, d] float32, ``available`` [n_items] bool, provenance."""

    modality: str
    encoder: str
    values: np.ndarray
    available: np.ndarray
    info: dict[str, Any]

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])


def encoder_inputs(consumes: str, spec: EncoderSpec, data: PreparedData, *, log: Log,
                   progress: bool) -> tuple[Sequence[Any], str, dict[str, Any]]:
    """The encoder's inputs for every item, their content hash, and notes for the record."""
    if consumes == "text":
        template = spec.template or default_template(data.text_fields)
        if not template:
            texts: list[str | None] = [None] * len(data.items)
        else:
            texts = render_texts(data.items, template, source=f"item table of {data.name!r}")
        sample = next((t for t in texts if t), None)
        return texts, text_hash(texts), {"template": template, "example": sample}
    if consumes == "image":
        from mmbench.data.images import fetch_images

        sources = (data.items[data.image_field].tolist() if data.image_field
                   else [None] * len(data.items))
        with _bar(len(sources), f"images {data.name}", progress) as bar:
            paths, report = fetch_images(sources, cache_root() / "images", progress=bar.update)
        log(f"  {report.summary()}")
        h = hashlib.sha256()
        for src, p in zip(sources, paths):
            # image *content*, so a re-downloaded identical file is still a cache hit; an unusable image is
            # keyed by its source, so features cached while offline never stand in for a later online run
            h.update(sha256_file(p).encode() if p is not None else b"missing:" + str(src).encode() + b"\x00")
        return paths, h.hexdigest(), {"images": report.to_dict(), "image_field": data.image_field}
    if consumes == "item":
        inputs = ItemInputs.of(data)
        h = hashlib.sha256(data.raw_hash.encode())
        h.update("\x00".join(map(str, inputs.ids.tolist())).encode())
        return inputs, h.hexdigest(), {}
    raise EncoderError(f"encoder {spec.name!r} consumes {consumes!r}; supported: text, image, item")


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        return None


def _bar(total: int, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    # tqdm shows items/s and the ETA; disable=None hides it when stderr is not a terminal (CI logs)
    return tqdm(total=total, desc=desc, unit="item", disable=None, dynamic_ncols=True, mininterval=0.5)


def extract(modality: str, spec: EncoderSpec, data: PreparedData, *, use_cache: bool = True,
            refresh: bool = False, progress: bool = True, log: Log = print, ray: Any = None) -> ModalityFeatures:
    """Features of one modality: a cache hit, or an extraction that is then cached.

    ``ray``: a :class:`mmbench.runner.features_ray.RayFeatureOptions` to extract on Ray Data workers instead of
    in this process (same chunks, same checks, same cache entry).
    """
    entry = ENCODERS.entry(spec.name)
    consumes = entry.meta["consumes"]
    encoder = entry.obj(**spec.params)
    inputs, inputs_hash, notes = encoder_inputs(consumes, spec, data, log=log, progress=progress)
    identity = dict(encoder.identity())
    key = feature_cache.feature_key(spec.name, identity, inputs_hash)
    info: dict[str, Any] = {"encoder": spec.name, "params": dict(spec.params), "consumes": consumes,
                            "identity": identity, "key": key[:16], **notes}
    t0 = time.perf_counter()
    hit = feature_cache.load(spec.name, key) if use_cache and not refresh else None
    if hit is not None:
        values, available = hit.values, hit.available
        if len(values) != len(inputs):
            raise EncoderError(f"cached features {key[:16]} have {len(values)} rows for {len(inputs)} items")
        info.update(cache="hit", stats=hit.meta.get("stats", {}), extract_s=hit.meta.get("extract_s"))
        log(f"[features] {modality}: {spec.name} cache hit ({key[:16]}): {values.shape[0]:,} × {values.shape[1]}")
    else:
        if ray is not None:
            values, available, stats = _run_ray(spec, consumes, inputs, f"{modality}:{spec.name}", ray)
            notes = {**notes, "backend": f"ray ({ray.workers} workers)"}
            info["backend"] = notes["backend"]
        else:
            values, available = _run(encoder, inputs, f"{modality}:{spec.name}", progress)
            stats = dict(getattr(encoder, "stats", {}) or {})
        seconds = time.perf_counter() - t0
        info.update(cache="miss" if use_cache else "off", stats=stats, extract_s=round(seconds, 3),
                    items_per_s=round(len(inputs) / seconds, 1) if seconds > 0 else None)
        if use_cache:
            meta = {"dataset": data.name, "modality": modality, "shape": list(values.shape),
                    "available": int(available.sum()), "identity": identity, "inputs_hash": inputs_hash,
                    "stats": stats, "extract_s": round(seconds, 3), "params": dict(spec.params), **notes}
            feature_cache.store(spec.name, key, values, available, meta)
        log(f"[features] {modality}: {spec.name} extracted {values.shape[0]:,} × {values.shape[1]} in "
            f"{seconds:.1f} s ({info['items_per_s']} items/s)")
    n = len(available)
    info.update(shape=list(values.shape), available=int(available.sum()),
                available_rate=round(float(available.mean()) if n else 0.0, 6),
                load_s=round(time.perf_counter() - t0, 3))
    bad = int((info.get("stats") or {}).get("non_finite_rows", 0))
    if bad:
        log(f"[features] warning: {modality}: {bad:,} of {n:,} items ({bad / max(n, 1):.1%}) have a {spec.name} row "
            "with NaN/inf values; they are treated as missing this modality (the record counts them in "
            "stats.non_finite_rows); fix: repair those rows if they should have features")
    if not available.any():
        log(f"[features] {modality}: no item has a usable {consumes} input; the modality is absent in this run")
    return ModalityFeatures(modality, spec.name, values, available, info)


def _check_chunk(desc: str, v: Any, a: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    """One chunk's ``encode()`` output as arrays, or an EncoderError naming the broken contract."""
    v, a = np.asarray(v), np.asarray(a)
    if v.ndim != 2 or v.dtype != np.float32 or a.shape != (n,) or a.dtype != bool or v.shape[0] != n:
        raise EncoderError(f"encoder {desc} broke its contract: encode() returned {v.dtype} {v.shape} "
                           f"and {a.dtype} {a.shape} for {n} inputs (need float32 [n, d], bool [n])")
    if not np.isfinite(v[a]).all():
        raise EncoderError(f"encoder {desc} produced NaN/inf features for available items")
    return v, a


def _assemble(desc: str, values: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    if not values:
        raise EncoderError(f"encoder {desc}: the dataset has no items")
    out, available = np.concatenate(values), np.concatenate(masks)
    out[~available] = 0.0
    return out, available


def _run(encoder: Any, inputs: Sequence[Any], desc: str, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    values, masks = [], []
    with _bar(len(inputs), desc, progress) as bar:
        for start in range(0, len(inputs), CHUNK):
            chunk = inputs[start:start + CHUNK]
            v, a = _check_chunk(desc, *encoder.encode(chunk), len(chunk))
            values.append(v)
            masks.append(a)
            bar.update(len(chunk))
    return _assemble(desc, values, masks)


def _run_ray(spec: EncoderSpec, consumes: str, inputs: Sequence[Any], desc: str,
             options: Any) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The same chunks as :func:`_run`, encoded by Ray Data actors (:mod:`mmbench.runner.features_ray`)."""
    from mmbench.runner.features_ray import run_ray

    got_v, got_a, stats = run_ray(spec.name, dict(spec.params), consumes, inputs, desc, CHUNK, options)
    checked = [_check_chunk(desc, v, a, len(inputs[s:s + CHUNK]))
               for s, v, a in zip(range(0, len(inputs), CHUNK), got_v, got_a)]
    values, available = _assemble(desc, [v for v, _ in checked], [a for _, a in checked])
    return values, available, stats


def extract_all(encoders: dict[str, EncoderSpec], data: PreparedData, *, use_cache: bool = True,
                refresh: bool = False, progress: bool = True, log: Log = print,
                ray: Any = None) -> dict[str, ModalityFeatures]:
    """Features of every modality of a recipe, in recipe order (``ray``: see :func:`extract`)."""
    return {m: extract(m, spec, data, use_cache=use_cache, refresh=refresh, progress=progress, log=log, ray=ray)
            for m, spec in encoders.items()}


def request_encoder(encoders: dict[str, EncoderSpec], data: PreparedData, modalities: Sequence[str], *,
                    log: Log = print) -> tuple[Callable[[int], None], dict[str, str]] | None:
    """A latency hook that encodes one item's raw inputs with each encoder of ``modalities`` (request ``i``
    takes the ``i``-th item, cycling through items with an input), or None if no modality needs one.

    It is the per-request cost of a model that needs content features for a new or changed item; the
    encoders are built here once, and warm up in the latency measurement's warm-up requests.
    """
    parts = []
    for m in modalities:
        spec = encoders[m]
        entry = ENCODERS.entry(spec.name)
        inputs, _, _ = encoder_inputs(entry.meta["consumes"], spec, data, log=log, progress=False)
        have = [i for i in range(len(inputs)) if not isinstance(inputs, list) or inputs[i] is not None]
        if have:
            parts.append((entry.obj(**spec.params), inputs, have))
    if not parts:
        return None

    def encode(i: int) -> None:
        for encoder, inputs, have in parts:
            j = have[(i * 7919) % len(have)]  # a stride through the items: no input is encoded twice in a row
            encoder.encode(inputs[j:j + 1])

    return encode, {m: encoders[m].name for m in modalities}
