"""The run-record store: round trip, atomic (never partial) writes, even when the writer is killed,
clear errors for corrupt records, and refusal of non-finite metrics."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mmbench.errors import MMBenchError, ResultsError
from mmbench.results.record import DatasetInfo, ModelResult, RecipeInfo, RunRecord
from mmbench.results.store import RUNS_DIR, atomic_write_json, atomic_write_text, load_records, write_record

METRICS = {"HR@5": 0.032, "HR@10": 0.0533, "HR@20": 0.0847, "NDCG@5": 0.019, "NDCG@10": 0.0258, "NDCG@20": 0.0335}


def make_record(seed: int = 0, *, recipe: str = "quickstart", hr10: float = 0.0533,
                created_at: str = "2025-01-15T10:00:00+00:00", latency: bool = True) -> RunRecord:
    test = {**METRICS, "HR@10": hr10}
    lat = {"latency_ms_p50": 1.35, "latency_ms_p95": 2.3, "k": 20, "batch_size": 256} if latency else None
    models = [
        ModelResult(role="student", component="mf", params={"dim": 64, "reg": 1e-4}, best_epoch=12, epochs_run=22,
                    stopped="patience", metrics={"valid": {k: v + 0.01 for k, v in test.items()}, "test": test},
                    size={"params": 1_234_560, "serving_bytes": 4_938_240}, latency=lat,
                    history=[{"epoch": 2, "loss": 0.69, "NDCG@10": 0.01}, {"epoch": 4, "loss": 0.5, "NDCG@10": 0.02}],
                    timings={"train_s": 12.5, "test_eval_s": 0.4}),
        ModelResult(role="baseline", component="pop", params={}, best_epoch=0, epochs_run=0, stopped="no-training",
                    metrics={"valid": {"HR@10": 0.03}, "test": {"HR@10": 0.025}},
                    size={"params": 0, "serving_bytes": 0}),
    ]
    return RunRecord(
        run_id=f"{recipe}-9c1e5a7b-s{seed}-20250115T100000000000Z",
        created_at=created_at,
        recipe=RecipeInfo(name=recipe, hash="9c1e5a7b3d2f4e6a", path=f"recipes/{recipe}.yaml",
                          resolved={"name": recipe, "seeds": [0, 1, 2], "student": {"name": "mf"}}),
        dataset=DatasetInfo(name="amazon-beauty", key="amazon-beauty", split="loo-time", content_hash="c0ffee",
                            split_hash="0123456789abcdef", card={"users": 100, "items": 50, "density": 0.1}),
        seed=seed, git={"commit": "deadbeef", "dirty": False}, versions={"mmbench": "0.1.0", "torch": "2.3.0"},
        hardware={"cpu": "test", "gpu": None}, models=models, timings={"prepare_s": 0.1, "run_s": 13.0})


def record_path(results: Path, rec: RunRecord) -> Path:
    return results / RUNS_DIR / rec.recipe.name / f"{rec.run_id}.json"


def all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --------------------------------------------------------------------------------------------------
# 1. round trip
# --------------------------------------------------------------------------------------------------

def test_write_record_path_and_round_trip(tmp_path: Path) -> None:
    recs = [make_record(seed) for seed in range(3)] + [make_record(0, recipe="mf-dim128", latency=False)]
    paths = [write_record(tmp_path, rec) for rec in recs]
    assert paths == [record_path(tmp_path, rec) for rec in recs]
    assert all(p.is_file() for p in paths)
    assert all_files(tmp_path) == sorted(str(p.relative_to(tmp_path)) for p in paths)
    loaded = load_records(tmp_path)
    assert sorted(loaded, key=lambda r: r.run_id) == sorted(recs, key=lambda r: r.run_id)
    # the file is plain, readable JSON of the record
    data = json.loads(paths[0].read_text(encoding="utf-8"))
    assert data["run_id"] == recs[0].run_id and data["record_version"] == 1 and data["status"] == "ok"
    assert RunRecord.model_validate(data) == recs[0]


def test_write_record_overwrites_same_run_id(tmp_path: Path) -> None:
    write_record(tmp_path, make_record(hr10=0.1))
    path = write_record(tmp_path, make_record(hr10=0.2))
    assert all_files(tmp_path) == [str(path.relative_to(tmp_path))]
    (rec,) = load_records(tmp_path)
    assert rec.models[0].metrics["test"]["HR@10"] == 0.2


def test_load_records_missing_or_empty_dir(tmp_path: Path) -> None:
    assert load_records(tmp_path / "nowhere") == []
    assert load_records(tmp_path) == []
    (tmp_path / RUNS_DIR / "quickstart").mkdir(parents=True)
    assert load_records(tmp_path) == []


def test_load_records_ignores_dot_files_and_non_json(tmp_path: Path) -> None:
    rec = make_record()
    write_record(tmp_path, rec)
    folder = tmp_path / RUNS_DIR / "quickstart"
    (folder / ".half-written.json").write_text('{"run_id": "trunc', encoding="utf-8")
    (folder / f".{rec.run_id}.json.abc123.tmp").write_text('{"run_id"', encoding="utf-8")
    (folder / "notes.txt").write_text("not a record", encoding="utf-8")
    assert load_records(tmp_path) == [rec]


# --------------------------------------------------------------------------------------------------
# 2. atomic writes (failure inside the process)
# --------------------------------------------------------------------------------------------------

class Boom(Exception):
    pass


def _raise(*_args: object, **_kwargs: object) -> None:
    raise Boom("disk on fire")


@pytest.mark.parametrize("where", ["os.replace", "os.fsync", "write"])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_write_leaves_old_file_or_nothing_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             where: str, existing: bool) -> None:
    old, new = make_record(hr10=0.1), make_record(hr10=0.2)
    target = record_path(tmp_path, old)
    if existing:
        write_record(tmp_path, old)
        before = target.read_bytes()
    else:
        target.parent.mkdir(parents=True)
    if where == "write":
        real_fdopen = os.fdopen

        class HalfWriter:
            """Writes half the text, then fails: the temp file holds a partial record."""

            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.fh.__exit__(*exc)

            def write(self, text: str) -> int:
                self.fh.write(text[: len(text) // 2])
                self.fh.flush()
                raise Boom("disk full")

        monkeypatch.setattr(os, "fdopen", lambda *a, **k: HalfWriter(real_fdopen(*a, **k)))
    else:
        monkeypatch.setattr(os, where.split(".")[1], _raise)
    with pytest.raises(Boom):
        write_record(tmp_path, new)
    monkeypatch.undo()
    if existing:
        assert target.read_bytes() == before
        assert load_records(tmp_path) == [old]
    else:
        assert not target.exists()
        assert load_records(tmp_path) == []
    assert list(target.parent.iterdir()) == ([target] if existing else [])  # no temp file left behind


def test_interrupt_during_write_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A BaseException (Ctrl-C) between write and rename removes the temp file too."""
    def interrupt(*_a: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    target = tmp_path / "out" / "x.json"
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, "x" * 100_000)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_serialisation_failure_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "x.json"
    with pytest.raises(TypeError):
        atomic_write_json(target, {"fine": 1, "not json": {1, 2}})
    assert all_files(tmp_path) == []
    # and an existing file is untouched
    atomic_write_json(target, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(target, {"v": object()})
    assert json.loads(target.read_text(encoding="utf-8")) == {"v": 1}
    assert all_files(tmp_path) == ["out/x.json"]


def test_atomic_write_text_content_and_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "page.html"
    text = "<p>ü ± ↑</p>\n" * 1000
    assert atomic_write_text(target, text) == target
    assert target.read_bytes() == text.encode("utf-8")
    assert atomic_write_json(tmp_path / "d.json", {"a": [1, 2.5]}).read_text(encoding="utf-8") == \
        '{\n  "a": [\n    1,\n    2.5\n  ]\n}\n'
    assert all_files(tmp_path) == ["a/b/page.html", "d.json"]


# --------------------------------------------------------------------------------------------------
# 3. a writer KILLED mid-write (SIGKILL: no cleanup code runs)
# --------------------------------------------------------------------------------------------------

_KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path

    import mmbench.results.store as store
    from mmbench.results.record import RunRecord

    where, results, record_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])

    def die(*_args, **_kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if where == "write":
        real_fdopen = os.fdopen

        class HalfThenDie:
            # writes the first half of the text to the temp file, flushes it to disk, then dies
            def __init__(self, fh):
                self.fh = fh
            def __enter__(self):
                return self
            def __exit__(self, *exc):
                return self.fh.__exit__(*exc)
            def write(self, text):
                self.fh.write(text[: len(text) // 2])
                self.fh.flush()
                die()

        os.fdopen = lambda *a, **k: HalfThenDie(real_fdopen(*a, **k))
    else:  # "fsync" (everything written, not yet renamed) or "replace" (at the rename)
        setattr(os, where, die)

    record = RunRecord.model_validate_json(record_file.read_bytes())
    store.write_record(results, record)
    sys.exit(3)  # not reached: the process was killed
""")


def _big_record() -> RunRecord:
    rec = make_record(hr10=0.2)
    # a large payload: a long training history (about 2 MB of JSON)
    rec.models[0].history = [{"epoch": i, "loss": 0.5, "NDCG@10": 0.02, "note": "x" * 40} for i in range(20_000)]
    return rec


def _run_killed_writer(tmp_path: Path, results: Path, where: str) -> RunRecord:
    rec = _big_record()
    src = tmp_path / "payload.json"  # outside results/, so nothing but the writer touches results/
    src.write_text(rec.model_dump_json(), encoding="utf-8")
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, where, str(results), str(src)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return rec


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_killed_writer_leaves_no_partial_record(tmp_path: Path, where: str) -> None:
    results = tmp_path / "results"
    rec = _run_killed_writer(tmp_path, results, where)
    target = record_path(results, rec)
    assert not target.exists()
    # what the killed writer left: only its dot-prefixed temp file, which readers ignore
    leftovers = list(target.parent.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f".{target.name}.")
    assert 0 < leftovers[0].stat().st_size
    assert load_records(results) == []


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_killed_writer_keeps_previous_complete_record(tmp_path: Path, where: str) -> None:
    results = tmp_path / "results"
    old = make_record(hr10=0.1)  # same run_id (same path) as the record the killed writer tries to write
    target = write_record(results, old)
    before = target.read_bytes()
    new = _run_killed_writer(tmp_path, results, where)
    assert record_path(results, new) == target
    assert target.read_bytes() == before
    assert load_records(results) == [old]


# --------------------------------------------------------------------------------------------------
# 4. corrupt records: a ResultsError naming the file and the fix
# --------------------------------------------------------------------------------------------------

def _valid_json() -> dict:
    return make_record().model_dump(mode="json")


def _truncated() -> bytes:
    text = json.dumps(_valid_json(), indent=2)
    return text[: len(text) // 2].encode()


def _missing_field() -> bytes:
    data = _valid_json()
    del data["seed"]
    return json.dumps(data).encode()


def _missing_nested_field() -> bytes:
    data = _valid_json()
    del data["models"][0]["metrics"]
    return json.dumps(data).encode()


def _extra_field() -> bytes:
    data = _valid_json()
    data["hand_edited"] = True
    return json.dumps(data).encode()


def _wrong_type() -> bytes:
    data = _valid_json()
    data["models"][0]["metrics"]["test"]["HR@10"] = "high"
    return json.dumps(data).encode()


def _future_version() -> bytes:
    data = _valid_json()
    data["record_version"] = 2
    return json.dumps(data).encode()


CORRUPT = {
    "truncated": (_truncated, "json"),
    "empty": (lambda: b"", "json"),
    "not-utf8": (lambda: b"\xff\xfe\x00garbage", "json"),
    "missing-field": (_missing_field, "seed"),
    "missing-nested-field": (_missing_nested_field, "metrics"),
    "extra-field": (_extra_field, "hand_edited"),
    "wrong-type": (_wrong_type, "HR@10"),
    "future-version": (_future_version, "record_version"),
    "not-an-object": (lambda: b"[1, 2, 3]", "RunRecord"),
}


@pytest.mark.parametrize("case", list(CORRUPT))
def test_corrupt_record_raises_results_error_naming_file_and_fix(tmp_path: Path, case: str) -> None:
    make, detail = CORRUPT[case]
    good = make_record(seed=0)
    write_record(tmp_path, good)
    bad = tmp_path / RUNS_DIR / "quickstart" / "quickstart-9c1e5a7b-s1-broken.json"
    bad.write_bytes(make())
    with pytest.raises(ResultsError) as info:
        load_records(tmp_path)
    msg = str(info.value)
    assert isinstance(info.value, MMBenchError)
    assert msg.startswith(f"{bad}: not a valid run record")
    assert detail.lower() in msg.lower()
    assert "fix: delete the file or re-run its recipe" in msg
    assert "\n" not in msg  # one line: the CLI prints it as "error: ..."
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_unreadable_entry_raises_results_error(tmp_path: Path) -> None:
    write_record(tmp_path, make_record())
    odd = tmp_path / RUNS_DIR / "quickstart" / "folder.json"  # a folder named like a record
    odd.mkdir()
    with pytest.raises(ResultsError, match=r"folder\.json: not a valid run record.*fix:"):
        load_records(tmp_path)


# --------------------------------------------------------------------------------------------------
# 5. non-finite metrics are refused
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_metric_refuses_to_serialise_and_writes_nothing(tmp_path: Path, value: float) -> None:
    rec = make_record()
    rec.models[0].metrics["test"]["NDCG@10"] = value
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_record(tmp_path, rec)
    assert all_files(tmp_path) == []
    assert load_records(tmp_path) == []


def test_non_finite_metric_keeps_existing_record(tmp_path: Path) -> None:
    old = make_record()
    target = write_record(tmp_path, old)
    before = target.read_bytes()
    with pytest.raises(ValueError, match="finite number"):  # refused when the record is built
        make_record(hr10=math.nan)
    bad = make_record()
    bad.models[0].metrics["test"]["HR@10"] = math.nan  # mutated after validation: refused on write
    with pytest.raises(ValueError):
        write_record(tmp_path, bad)
    assert target.read_bytes() == before
    assert load_records(tmp_path) == [old]
    assert all_files(tmp_path) == [str(target.relative_to(tmp_path))]


def test_atomic_write_json_refuses_nan_directly(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "x.json", {"a": [1.0, float("nan")]})
    assert all_files(tmp_path) == []


def test_written_files_follow_the_umask(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "page.html", "<html></html>")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_hand_edited_nan_is_refused_on_load(tmp_path):
    rec = make_record()
    path = write_record(tmp_path, rec)
    path.write_text(path.read_text().replace('"HR@10": 0.', '"HR@10": NaN, "x": 0.', 1))
    with pytest.raises(ResultsError, match=str(path)):
        load_records(tmp_path)
