"""``mmbench track`` and ``mmbench run --track mlflow``: run records logged to MLflow (the `track` extra)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mmbench.cli import _friendly

if TYPE_CHECKING:
    from mmbench.tracking.mlflow_store import MlflowTracker

URI_HELP = ("MLflow tracking URI: sqlite:///PATH.db, http(s)://HOST:PORT, ... [default: $MLFLOW_TRACKING_URI, "
            "else sqlite:///mlflow.db in the current folder]")
EXPERIMENT_HELP = "MLflow experiment [default: each record's recipe name]"


class RecordTracker:
    """Logs each record it is handed; a failure is printed and counted, never raised (the record is kept)."""

    def __init__(self, tracker: MlflowTracker, experiment: str | None, quiet: bool = False) -> None:
        self.tracker, self.experiment, self.quiet = tracker, experiment, quiet
        self.logged: list[Path] = []
        self.skipped: list[Path] = []
        self.failed: list[Path] = []

    def __call__(self, path: Path) -> None:
        try:
            run_id, new = self.tracker.log_record(path, self.experiment)
        except Exception as exc:  # a tracking failure must not stop the remaining seeds (their records count)
            self.failed.append(Path(path))
            click.echo(f"tracking FAILED: {exc}", err=True)
            return
        (self.logged if new else self.skipped).append(Path(path))
        if not self.quiet:
            click.echo(f"{'tracked' if new else 'already tracked'}: {Path(path).name} → MLflow run {run_id}",
                       err=True)

    def finish(self) -> bool:
        """Print what was logged; False when a record could not be."""
        parts = [f"{len(self.logged)} record(s) logged"] + (
            [f"{len(self.skipped)} already there"] if self.skipped else []) + (
            [f"{len(self.failed)} FAILED (their records are kept; `mmbench track` logs them later)"]
            if self.failed else [])
        click.echo(f"MLflow at {self.tracker.uri}: {', '.join(parts)}; {self.tracker.ui_hint()}", err=True)
        return not self.failed


def start_tracking(track: str, uri: str | None, experiment: str | None, recipe_names: Sequence[str],
                   quiet: bool = False) -> RecordTracker | None:
    """Open the tracking store and every experiment before anything trains (a bad URI fails at once), or
    None when tracking is off. ``quiet``: only failures and the closing summary are printed."""
    if track.lower() != "mlflow":
        if uri or experiment:
            raise click.UsageError("--tracking-uri and --experiment apply only with --track mlflow (or "
                                   "MMBENCH_TRACKING=mlflow); fix: add --track mlflow, or drop them")
        return None
    from mmbench.tracking.mlflow_store import MlflowTracker

    tracker = MlflowTracker(uri)
    for name in dict.fromkeys([experiment] if experiment else recipe_names):
        tracker.experiment_id(name)
    if not quiet:
        click.echo(f"tracking to MLflow at {tracker.uri}", err=True)
    return RecordTracker(tracker, experiment, quiet)


def _record_files(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        found = sorted(p for p in path.rglob("*.json") if not p.name.startswith(".")) if path.is_dir() else [path]
        out += found
    return list(dict.fromkeys(out))


@click.command()
@click.argument("records", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--tracking-uri", metavar="URI", help=URI_HELP)
@click.option("--experiment", metavar="NAME", help=EXPERIMENT_HELP)
@_friendly
def track(records: tuple[Path, ...], tracking_uri: str | None, experiment: str | None) -> None:
    """Log existing run records to MLflow: files, or folders searched for them (e.g. results/runs).

    One MLflow run per record (params, curves, final metrics, the record and its recipe as artefacts); a
    record the experiment already holds is skipped, so running it again logs only what is new.
    """
    from mmbench.results.store import load_record

    files = _record_files(records)
    if not files:
        raise click.UsageError(f"no run record (*.json) under {', '.join(map(str, records))}; fix: pass record "
                               "files or a folder holding them, e.g. results/runs")
    for path in files:
        load_record(path)  # every file a record before anything is logged
    from mmbench.tracking.mlflow_store import MlflowTracker

    tracking = RecordTracker(MlflowTracker(tracking_uri), experiment)
    for path in files:
        tracking(path)
    if not tracking.finish():
        sys.exit(1)
