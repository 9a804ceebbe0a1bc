"""Serving an exported model (``mmbench export``): top-K by raw user id, new items from features, ANN search.

Imports numpy and safetensors only (faiss when approximate search is asked for): nothing of the runner, the
components, the datasets or torch, so that a serving process starts fast and needs no training stack.
"""

from __future__ import annotations

from mmbench.serve.format import FORMAT_VERSION, ExportData, load_export, read_manifest
from mmbench.serve.recommender import Recommender, Scored

__all__ = ["FORMAT_VERSION", "ExportData", "Recommender", "Scored", "load_export", "read_manifest"]
