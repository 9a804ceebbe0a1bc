"""``mmbench track`` and ``mmbench run --track mlflow``: run records logged to MLflow (the `track` extra)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mmbench.cli import _friendly

if TYPE_CHECKING:
    from mmbench.recipe.sweep import Sweep
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


class SweepTracker:
    """Logs a sweep to MLflow as it runs: a parent run for the sweep (or study), under it one run per ended study
    trial (pruned and failed ones too) and, nested under each, the trial's run records; a listed sweep's
    records sit directly under the parent. Everything is found again by tag, so syncing twice logs only what is
    new, and a sweep resumed in a later session adds to the same runs. A failure is printed and counted, never
    raised: the study goes on and its records are kept (``mmbench sweep --track mlflow`` again logs the rest).
    """

    def __init__(self, tracker: MlflowTracker, sweep: Sweep, folder: Path, experiment: str | None,
                 quiet: bool = False) -> None:
        from mmbench.tracking.sweep_view import SWEEP_KEY, sweep_run

        self.tracker, self.sweep, self.folder, self.quiet = tracker, sweep, folder, quiet
        self.experiment = experiment or sweep.name
        self.exp_id = tracker.experiment_id(self.experiment)
        self.trials: dict[int, str] = {}  # trial number -> its MLflow run, once logged
        self.records: set[Path] = set()
        self.counts = {"trials": 0, "records": 0}
        self.failures: list[str] = []
        run = sweep_run(sweep, folder)
        self.parent = tracker.find_run(self.exp_id, SWEEP_KEY, run.tags[SWEEP_KEY]) or tracker.log_run(self.exp_id, run)

    def _guard(self, what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:  # a tracking failure must not stop the study (its storage and records count)
            self.failures.append(what)
            click.echo(f"tracking FAILED ({what}): {exc}", err=True)

    def _record(self, path: Path, parent: str, tags: dict[str, str]) -> None:
        if path in self.records:
            return
        _, new = self.tracker.log_record(path, self.experiment, tags=tags, parent=parent)
        self.records.add(path)
        self.counts["records"] += new

    def sync_study(self) -> None:
        """Log every ended trial of the study's storage not logged yet, with its records."""
        self._guard("study trials", self._sync_study)

    def _sync_study(self) -> None:
        from mmbench.runner.study import StudyHandle
        from mmbench.runner.tune import storage_url
        from mmbench.results.tune import ended_trials
        from mmbench.tracking.sweep_view import TRIAL_KEY, sweep_tags, trial_key, trial_run

        assert self.sweep.search is not None
        handle = StudyHandle(storage_url(self.sweep, self.folder), self.sweep.name, self.sweep.search)
        for trial in ended_trials(handle.trials()):
            number = int(trial["number"])
            if number not in self.trials:
                found = self.tracker.find_run(self.exp_id, TRIAL_KEY, trial_key(self.sweep, self.folder, number))
                if found is None:
                    found = self.tracker.log_run(self.exp_id, trial_run(self.sweep, self.folder, trial),
                                                 parent=self.parent)
                    self.counts["trials"] += 1
                    if not self.quiet:
                        click.echo(f"tracked: trial {number} ({trial['state']}) → MLflow run {found}", err=True)
                self.trials[number] = found
            original = trial["user_attrs"].get("recipe_trial")
            if trial["state"] == "complete" and original is not None:
                tags = {**sweep_tags(self.sweep), "mmbench.trial": str(number)}
                for path in _record_files([self.folder / "runs" / f"{self.sweep.name}.t{int(original):03d}"]):
                    self._guard(str(path), lambda path=path: self._record(path, self.trials[number], tags))

    def sync_records(self) -> None:
        """Log every record of a listed sweep's folder not logged yet, under the sweep's run."""
        from mmbench.tracking.sweep_view import sweep_tags

        runs = self.folder / "runs"
        for path in _record_files([runs]) if runs.is_dir() else []:
            self._guard(str(path), lambda path=path: self._record(path, self.parent, sweep_tags(self.sweep)))

    def finish(self, summary: object = None, files: Sequence[Path | None] = ()) -> bool:
        """Add the summary's progress and the written files (summary, plot, tuned recipe) to the sweep's run,
        print what was logged; False when anything could not be."""
        from mmbench.tracking.sweep_view import study_points

        points = study_points(summary) if summary is not None else []
        blobs = {Path(f).name: Path(f).read_bytes() for f in files if f is not None and Path(f).is_file()}
        self._guard("sweep summary", lambda: self.tracker.add_to_run(self.parent, points, blobs))
        failed = f", {len(self.failures)} FAILED (run the sweep again with --track mlflow)" if self.failures else ""
        click.echo(f"MLflow at {self.tracker.uri}, experiment {self.experiment!r}: {self.counts['trials']} trial(s) "
                   f"and {self.counts['records']} record(s) logged{failed}; {self.tracker.ui_hint()}", err=True)
        return not self.failures


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
