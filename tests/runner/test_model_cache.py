"""The trained-model cache: what its key covers, and that a damaged entry is a miss, never a failure."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import torch

from mmbench.runner import model_cache
from mmbench.runner.train import FitResult

PACKAGE = Path(model_cache.__file__).resolve().parents[1]


def test_every_excluded_pattern_names_existing_reporting_modules():
    files = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")]
    for pattern in model_cache.NOT_TRAINING:
        assert any(fnmatch.fnmatch(f, pattern) for f in files), f"{pattern} matches nothing: stale exclusion"
    # what builds, trains and selects models is always fingerprinted
    for f in ("runner/train.py", "runner/sampling.py", "runner/build.py", "runner/distill.py", "runner/run.py",
              "components/_graph.py", "components/_graph_cache.py", "runner/evaluate.py", "recipe/load.py",
              "components/teachers/mm_gnn.py", "data/splits.py"):
        assert not any(fnmatch.fnmatch(f, p) for p in model_cache.NOT_TRAINING), f


def test_key_changes_with_every_part_and_the_code(monkeypatch):
    parts = {"name": "lightgcn", "params": {"dim": 8}, "seed": 0}
    key = model_cache.model_key(parts)
    assert key == model_cache.model_key(dict(reversed(list(parts.items()))))  # order-free
    assert key != model_cache.model_key({**parts, "seed": 1})
    assert key != model_cache.model_key({**parts, "params": {"dim": 16}})
    monkeypatch.setattr(model_cache, "code_fingerprint", lambda: "other-code")
    assert key != model_cache.model_key(parts)


def test_tensor_digest_sees_values_shape_and_dtype():
    a = torch.arange(6, dtype=torch.float32)
    assert model_cache.tensor_digest(a) == model_cache.tensor_digest(a.clone())
    assert model_cache.tensor_digest(a) != model_cache.tensor_digest(a.reshape(2, 3))
    assert model_cache.tensor_digest(a) != model_cache.tensor_digest(a.double())
    b = a.clone()
    b[3] += 1e-6
    assert model_cache.tensor_digest(a) != model_cache.tensor_digest(b)


def test_round_trip_and_damaged_entries_are_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("MMBENCH_CACHE_DIR", str(tmp_path))
    model = torch.nn.Linear(3, 2)
    fitted = FitResult(4, 6, "patience", {"NDCG@10": 0.5}, [{"epoch": 1, "loss": 0.7}], 1.5)
    model_cache.save_model("k1", model, fitted, {"recipe": "r"})
    other = torch.nn.Linear(3, 2)
    logs: list[str] = []
    got = model_cache.load_model("k1", other, logs.append)
    assert got == fitted and torch.equal(other.weight, model.weight) and not other.training
    assert model_cache.load_model("missing", other, logs.append) is None
    (tmp_path / "models" / "k1.pt").write_bytes(b"truncated")
    assert model_cache.load_model("k1", other, logs.append) is None and "unreadable" in logs[-1]
    model_cache.save_model("k2", torch.nn.Linear(4, 2), fitted, {})  # another architecture's weights
    assert model_cache.load_model("k2", other, logs.append) is None
    assert not list((tmp_path / "models").glob(".*.tmp"))  # atomic writes leave no temp files


def test_fingerprint_ignores_docstrings_comments_and_layout_but_not_code(tmp_path):
    def fingerprint(text: str) -> str:
        (tmp_path / "pkg").mkdir(exist_ok=True)
        (tmp_path / "pkg" / "mod.py").write_text(text)
        (tmp_path / "pkg" / "report.py").write_text(f"X = {len(text)}\n")  # excluded: never counts
        return model_cache.source_fingerprint(tmp_path / "pkg", ("report.py",))

    base = fingerprint('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\n')
    assert fingerprint('"""Other doc."""\n\n\ndef f(x):  # a comment\n    return x + 1\n') == base
    assert fingerprint('"""Doc."""\n\ndef f(x):\n    return x + 2\n') != base
    assert fingerprint('"""Doc."""\n\ndef f(x):\n    """Doc."""\n    return x + 1\nY = "a string"\n') != base
    assert fingerprint('def f(x):\n    """Doc."""\n') != fingerprint('def f(x):\n    pass\n    pass\n')
    assert fingerprint("def broken(:\n") != fingerprint("def broken(:\n\n")  # unparsable: the bytes count
