"""Option groups that several commands share (kept apart from ``cli.py`` so any command module can use them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def tracking_options(logs: str, experiment_default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--track``, ``--tracking-uri`` and ``--experiment``: ``logs`` says what ``--track mlflow`` logs, and
    ``experiment_default`` what the experiment is named after when ``--experiment`` is not given."""
    options = [
        click.option("--track", type=click.Choice(["none", "mlflow"], case_sensitive=False), default="none",
                     envvar="MMBENCH_TRACKING", show_default=True, show_envvar=True,
                     help=f"MLflow tracking: log {logs} (needs the `track` extra)."),
        click.option("--tracking-uri", metavar="URI",
                     help="With --track mlflow: sqlite:///PATH.db, http(s)://HOST:PORT, ... [default: "
                          "$MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the current folder]"),
        click.option("--experiment", metavar="NAME",
                     help=f"With --track mlflow: the experiment [default: {experiment_default}]"),
    ]

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply
