"""Run records into MLflow: one MLflow run per record, in an experiment per recipe (or the one asked for).

The only module that imports ``mlflow`` (the `track` extra, ``mlflow-skinny``); it is imported only when
tracking is asked for. A record is logged after it is written, from the file, so a tracking failure can never
lose it: the error says what failed and how to log the record again (``mmbench track PATH``). A record already
logged to an experiment (same ``mmbench.run_id`` tag, run finished) is skipped, so logging again is safe.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

from mmbench.errors import TrackingError
from mmbench.tracking import view

DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow 3's own default: `mlflow ui` in the same folder shows it
INSTALL = 'pip install "mmbench[track]"'
RECORD_ARTEFACT, RECIPE_ARTEFACT = "run_record.json", "recipe.yaml"
# MLflow retries an unreachable server 7 times over ~4 minutes by default; a run waiting on it should not.
# Variables the user set win.
_HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}
_PROBE_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
_BATCH_PARAMS, _BATCH_METRICS = 100, 1000  # MLflow's per-request limits


def import_mlflow() -> ModuleType:
    """The ``mlflow`` package, or one error naming the extra to install."""
    try:
        import mlflow
    except ImportError as exc:
        raise TrackingError(f"tracking with MLflow needs the MLflow client, which is not installed ({exc}); "
                            f"fix: {INSTALL}") from None
    return mlflow


def resolve_uri(uri: str | None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else :data:`DEFAULT_URI`; local paths made absolute (so the URI
    printed for ``mlflow ui`` works from any folder). A plain path is a file store."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI
    scheme = urlparse(uri).scheme
    if len(scheme) <= 1:  # no scheme (or a Windows drive letter): a folder
        return Path(uri).expanduser().absolute().as_uri()
    if scheme == "sqlite" and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rest = uri[len("sqlite:///"):]
        if rest and not rest.startswith(":memory:"):
            return f"sqlite:///{Path(rest).expanduser().absolute()}"
    return uri


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:////") else None


def _fix_for(uri: str) -> str:
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        return ("check the address and that the server runs (`mlflow server --host HOST --port PORT`, from the full "
                "`mlflow` package), or choose another --tracking-uri (e.g. sqlite:///mlflow.db)")
    if scheme == "file":
        return ("use a database, e.g. --tracking-uri sqlite:///mlflow.db (the default), or set "
                "MLFLOW_ALLOW_FILE_STORE=true to keep MLflow's file store")
    if scheme == "sqlite":
        return "use a writable path, e.g. --tracking-uri sqlite:///mlflow.db (its folder must exist)"
    return ("use sqlite:///PATH.db, http(s)://HOST:PORT of an MLflow server, or another URI MLflow supports "
            "(--tracking-uri or MLFLOW_TRACKING_URI)")


def _reason(exc: BaseException) -> str:
    """The exception's class and first line, cut at a sentence end past 400 characters (MLflow's run long)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if len(text) > 400:
        end = text.rfind(". ", 0, 400)
        text = text[:end + 1] if end > 100 else text[:400] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@contextmanager
def _env_defaults(values: dict[str, str]) -> Iterator[None]:
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class MlflowTracker:
    """A connection to one MLflow tracking store, checked when opened.

    Raises:
        TrackingError: MLflow is not installed, or the URI does not work (unknown scheme, unreachable server,
            unwritable database); the message names the fix.
    """

    def __init__(self, uri: str | None = None) -> None:
        import_mlflow()
        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # their INFO lines (database migrations) are not mmbench's output
            logging.getLogger(name).setLevel(logging.WARNING)
        self.uri = resolve_uri(uri)
        self._experiments: dict[str, str] = {}
        db = _sqlite_file(self.uri)
        if db is not None and not db.parent.is_dir():
            raise TrackingError(f"MLflow tracking URI {self.uri}: the folder {db.parent} does not exist; "
                                f"fix: {_fix_for(self.uri)}")
        try:
            with _env_defaults(_PROBE_LIMITS):
                self.client = MlflowClient(tracking_uri=self.uri)
                self.client.search_experiments(max_results=1)
        except Exception as exc:  # MLflow raises many kinds here (MlflowException, requests, SQLAlchemy, ...)
            raise TrackingError(f"MLflow tracking URI {self.uri} does not work ({_reason(exc)}); "
                                f"fix: {_fix_for(self.uri)}") from None

    def ui_hint(self) -> str:
        """How to look at what was logged."""
        if urlparse(self.uri).scheme in ("http", "https"):
            return f"open {self.uri}"
        return f"view: mlflow ui --backend-store-uri {self.uri} (the UI needs the full `mlflow` package)"

    def experiment_id(self, name: str) -> str:
        """The id of the active experiment ``name``, created when missing (a deleted one is an error)."""
        if name in self._experiments:
            return self._experiments[name]
        try:
            with _env_defaults(_HTTP_LIMITS):
                exp = self.client.get_experiment_by_name(name)
                if exp is None:
                    exp_id = self.client.create_experiment(name, artifact_location=self._artifacts(name))
                elif exp.lifecycle_stage == "deleted":
                    raise TrackingError(f"the MLflow experiment {name!r} at {self.uri} is deleted; fix: restore it "
                                        f"(`mlflow experiments restore --experiment-id {exp.experiment_id}`) or "
                                        "choose another --experiment")
                else:
                    exp_id = exp.experiment_id
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(f"cannot open the MLflow experiment {name!r} at {self.uri} ({_reason(exc)}); "
                                f"fix: {_fix_for(self.uri)}") from None
        self._experiments[name] = exp_id
        return exp_id

    def _artifacts(self, name: str) -> str | None:
        """Artefacts of a local SQLite store sit beside the database (``mlruns/<experiment>``), not in whatever
        folder the run started from; a server or other database decides for itself."""
        db = _sqlite_file(self.uri)
        if db is None:
            return None
        return (db.parent / "mlruns" / re.sub(r"[^\w.-]", "_", name)).as_uri()

    def log_record(self, path: Path, experiment: str | None = None, tags: Mapping[str, str] | None = None,
                   parent: str | None = None) -> tuple[str, bool]:
        """Log the run record at ``path`` as one MLflow run of ``experiment`` (default: its recipe's name).

        ``tags`` are added to the record's own; ``parent`` (an MLflow run id) nests the run under it.

        Returns:
            The MLflow run id, and whether it was logged now (False: the experiment holds it already).

        Raises:
            ResultsError: ``path`` is not a run record.
            TrackingError: logging failed (the record file is untouched); the message says how to retry.
        """
        from mmbench.results.store import load_record

        record = load_record(path)
        exp_id = self.experiment_id(experiment or record.recipe.name)
        run = view.tracked_run(record)
        run = replace(run, tags={**run.tags, **(tags or {})})
        files = {RECORD_ARTEFACT: Path(path).read_bytes(),  # the file as written, byte for byte
                 RECIPE_ARTEFACT: view.recipe_yaml(record).encode("utf-8")}
        try:
            with _env_defaults(_HTTP_LIMITS):
                done = self.find_run(exp_id, "mmbench.run_id", record.run_id)
                return (done, False) if done else (self.log_run(exp_id, run, files, parent), True)
        except Exception as exc:
            raise TrackingError(f"{path}: not logged to MLflow at {self.uri} ({_reason(exc)}); the record is kept; "
                                f"fix: {_fix_for(self.uri)}, then `mmbench track {path} --tracking-uri "
                                f"{self.uri}`") from None

    def find_run(self, exp_id: str, tag: str, value: str) -> str | None:
        """The finished MLflow run of ``exp_id`` whose tag ``tag`` is ``value``; unfinished ones (failed
        attempts) are deleted."""
        runs = self.client.search_runs([exp_id], filter_string=f"tags.`{tag}` = '{value}'")
        for run in runs:
            if run.info.status == "FINISHED":
                return run.info.run_id
        for run in runs:
            self.client.delete_run(run.info.run_id)
        return None

    def log_run(self, exp_id: str, run: view.TrackedRun, files: Mapping[str, bytes] | None = None,
                parent: str | None = None) -> str:
        """Log ``run`` (params, tags, metric points, ``files`` as artefacts: name -> bytes) as one finished
        MLflow run, nested under ``parent`` when given; returns its id. A failed attempt is left FAILED (the
        next :meth:`find_run` deletes it)."""
        tags = {**run.tags, **({"mlflow.parentRunId": parent} if parent else {})}
        mlrun = self.client.create_run(exp_id, start_time=run.start_ms, tags=tags, run_name=run.name)
        run_id = mlrun.info.run_id
        try:
            self.add_to_run(run_id, run.metrics, files, params=run.params, end_ms=run.end_ms)
            self.client.set_terminated(run_id, "FINISHED", end_time=run.end_ms)
        except BaseException:
            try:  # leave it marked failed: the next attempt deletes it and logs it again
                self.client.set_terminated(run_id, "FAILED")
            except Exception:
                pass
            raise
        return run_id

    def add_to_run(self, run_id: str, metrics: Sequence[view.Point], files: Mapping[str, bytes] | None = None,
                   params: Mapping[str, str] | None = None, end_ms: int | None = None,
                   tags: Mapping[str, str] | None = None) -> None:
        """Log params, tags, metric points and artefacts into an existing run (artefacts of the same name are
        replaced)."""
        from mlflow.entities import Metric, Param, RunTag

        for part in _chunks([Param(k, v) for k, v in (params or {}).items()], _BATCH_PARAMS):
            self.client.log_batch(run_id, params=part, synchronous=True)
        for part in _chunks([RunTag(k, v) for k, v in (tags or {}).items()], _BATCH_PARAMS):
            self.client.log_batch(run_id, tags=part, synchronous=True)
        stamp = end_ms if end_ms is not None else int(time.time() * 1000)
        points = [Metric(p.key, float(p.value), stamp, p.step) for p in metrics]
        for part in _chunks(points, _BATCH_METRICS):
            self.client.log_batch(run_id, metrics=part, synchronous=True)
        if files:
            with tempfile.TemporaryDirectory(prefix="mmbench-track-") as tmp:
                for name, data in files.items():
                    (Path(tmp) / name).write_bytes(data)
                self.client.log_artifacts(run_id, tmp)
