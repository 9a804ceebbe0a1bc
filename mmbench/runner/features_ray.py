"""Feature extraction as Ray Data batches on many workers (CPU or GPU actors), same cache entries as the local path.

``mmbench features RECIPE --backend ray`` hands the encoder's inputs to Ray Data as one row per chunk of
:data:`mmbench.runner.features.CHUNK` items, exactly the chunks the local path encodes one after another. A pool
of actors (``--workers``, each with ``--cpus-per-worker`` CPUs and torch threads, and ``--gpus-per-worker``
GPUs) builds the encoder once and encodes chunks as they come; the driver puts the chunks back in item order,
checks each like the local path does, and writes the same content-keyed cache entry. With the same chunks and
the same torch thread count per encoder, the features are byte-identical to the local path's (tested on a local
Ray cluster; a different thread count may change the last bits of a float, as it does locally).

The rows carry the inputs themselves (item texts, or image file paths, which every node must be able to read:
the fetched-image cache on a shared filesystem for a multi-node cluster), so nothing else needs to be shipped.
Encoders that read the dataset itself (``consumes: item``, e.g. ``precomputed``) have nothing to spread out and
are refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mmbench.errors import EncoderError


@dataclass(frozen=True)
class RayFeatureOptions:
    """Where and how wide to run: an existing cluster (``address`` or ``RAY_ADDRESS``) or a local Ray."""

    address: str | None = None
    workers: int = 2
    cpus_per_worker: int = 1
    gpus_per_worker: float = 0.0
    plugins: tuple[str, ...] = ()


class _EncodeChunks:
    """A Ray Data actor: builds the encoder once, then encodes one chunk per row of each batch."""

    def __init__(self, name: str, params: dict[str, Any], consumes: str, threads: int,
                 plugins: Sequence[str]) -> None:
        import torch

        torch.set_num_threads(threads)
        from mmbench.registry import load_plugins

        load_plugins(tuple(plugins))
        from mmbench.kinds import ENCODERS

        self.encoder = ENCODERS.get(name)(**params)
        self.consumes = consumes

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, list[Any]] = {"start": [], "values": [], "available": [], "rows": [], "dim": [], "stats": []}
        for start, inputs in zip(batch["start"], batch["inputs"]):
            items = [None if x is None else (Path(x) if self.consumes == "image" else str(x))
                     for x in json.loads(inputs)]
            before = dict(getattr(self.encoder, "stats", {}) or {})
            v, a = self.encoder.encode(items)
            v, a = np.asarray(v), np.asarray(a)
            after = dict(getattr(self.encoder, "stats", {}) or {})
            out["start"].append(int(start))
            out["values"].append(v.tobytes() if v.dtype == np.float32 else b"")
            out["available"].append(a.astype(bool).tobytes() if a.dtype == bool else b"")
            out["rows"].append(int(v.shape[0]) if v.ndim == 2 else -1)
            out["dim"].append(int(v.shape[1]) if v.ndim == 2 else -1)
            out["stats"].append(json.dumps({k: after[k] - before.get(k, 0) for k in after
                                            if isinstance(after[k], (int, float))}))
        return {k: np.array(vals, dtype=object) for k, vals in out.items()}


def run_ray(name: str, params: dict[str, Any], consumes: str, inputs: Sequence[Any], desc: str, chunk: int,
            options: RayFeatureOptions) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, float]]:
    """Encode ``inputs`` in chunks of ``chunk`` on Ray Data actors; the chunks' values and masks in item order
    (unchecked: the caller checks them as it checks local chunks) and the encoder's summed stats."""
    if consumes not in ("text", "image"):
        raise EncoderError(f"encoder {desc} consumes {consumes!r}: it reads the dataset itself, so there is nothing "
                           f"to spread over Ray workers; fix: run `mmbench features` without --backend ray")
    from mmbench.runner.ray_backend import connect

    ray = connect(options.address, options.workers, options.cpus_per_worker, options.gpus_per_worker)
    rows = [{"start": s, "inputs": json.dumps([None if x is None else str(x) for x in inputs[s:s + chunk]])}
            for s in range(0, len(inputs), chunk)]
    if not rows:
        raise EncoderError(f"encoder {desc}: the dataset has no items")
    ds = ray.data.from_items(rows, override_num_blocks=min(len(rows), 4 * options.workers))
    encoded = ds.map_batches(
        _EncodeChunks, batch_size=1, batch_format="numpy", concurrency=options.workers,
        num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker or None,
        fn_constructor_kwargs={"name": name, "params": dict(params), "consumes": consumes,
                               "threads": options.cpus_per_worker, "plugins": list(options.plugins)})
    got = sorted(encoded.take_all(), key=lambda r: int(r["start"]))
    if [int(r["start"]) for r in got] != [r["start"] for r in rows]:
        raise EncoderError(f"encoder {desc}: Ray returned {len(got)} chunks for {len(rows)}; re-run the extraction")
    values, masks, stats = [], [], {}
    for r in got:
        n, d = int(r["rows"]), int(r["dim"])
        v = np.frombuffer(r["values"], dtype=np.float32) if n >= 0 and r["values"] else np.zeros(0, np.float32)
        values.append(v.reshape(n, d).copy() if v.size == n * d and n >= 0 else v)
        masks.append(np.frombuffer(r["available"], dtype=bool).copy())
        for k, x in json.loads(r["stats"]).items():
            stats[k] = stats.get(k, 0) + x
    return values, masks, stats
