"""Atomic, never-partial storage of run records (temp file in the same folder, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pydantic

from mmbench.errors import ResultsError
from mmbench.results.record import RunRecord

RUNS_DIR = "runs"
#: Where ``mmbench run`` and ``mmbench sweep`` write unless told otherwise (``--results-dir`` or the
#: ``MMBENCH_RESULTS_DIR`` environment variable): a folder of its own, so that a run made in a checkout never
#: lands among (and never outranks) the committed records in ``results/``.
DEFAULT_RESULTS_DIR = "mmbench-results"
#: The committed suite's folder: what the readers (``mmbench leaderboard``, ``mmbench studies``) show by default.
COMMITTED_RESULTS_DIR = "results"


def default_results_dir() -> Path:
    """``MMBENCH_RESULTS_DIR`` if set, else :data:`DEFAULT_RESULTS_DIR` (relative to the working directory)."""
    return Path(os.environ.get("MMBENCH_RESULTS_DIR") or DEFAULT_RESULTS_DIR)


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results are meant to be shared
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """:func:`atomic_write_bytes` of ``text`` in UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_record(results_dir: Path, record: RunRecord) -> Path:
    """Store a run record under ``results_dir/runs/<recipe>/<run_id>.json``."""
    path = Path(results_dir) / RUNS_DIR / record.recipe.name / f"{record.run_id}.json"
    try:
        return atomic_write_json(path, record.model_dump(mode="json"))
    except OSError as exc:
        raise ResultsError(f"cannot write the run record {path}: {exc.strerror or exc}; "
                           "fix: choose a writable --results-dir") from None


def require_records(results_dir: Path) -> list[RunRecord]:
    """:func:`load_records`, or a ResultsError naming the folder when it holds none (a reader's typo must not
    look like an empty leaderboard)."""
    root = Path(results_dir) / RUNS_DIR
    records = load_records(results_dir)
    if not records:
        state = "does not exist" if not root.exists() else ("is not a folder" if not root.is_dir() else "holds no run record")
        raise ResultsError(f"{root} {state}; fix: point --results-dir at a folder whose runs/ holds records: "
                           f"`mmbench run` writes to {default_results_dir()} unless told otherwise, and the "
                           f"committed suite is in {COMMITTED_RESULTS_DIR}")
    return records


def load_records(results_dir: Path) -> list[RunRecord]:
    """Every run record under ``results_dir/runs``; an unreadable one raises naming the file and the fix."""
    root = Path(results_dir) / RUNS_DIR
    records = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        if path.name.startswith("."):
            continue  # a writer's temp file (it was killed before its rename)
        records.append(load_record(path))
    return records


def load_record(path: Path) -> RunRecord:
    """The run record at ``path``; an unreadable one raises naming the file and the fix."""
    try:
        return RunRecord.model_validate_json(Path(path).read_bytes())
    except (OSError, pydantic.ValidationError) as exc:
        first = str(exc).splitlines()
        raise ResultsError(f"{path}: not a valid run record ({' '.join(first[:3])}); "
                           "fix: delete the file or re-run its recipe (records are never edited by hand)") from None
