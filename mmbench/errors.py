"""User-facing error types: each message names the problem and the fix."""

from __future__ import annotations


class MMBenchError(Exception):
    """Base of every error mmbench raises for bad input; the CLI prints it without a traceback."""


class RecipeError(MMBenchError):
    """A recipe failed validation; ``issues`` holds every problem found, not just the first."""

    def __init__(self, source: str, issues: list[str]) -> None:
        self.source = source
        self.issues = list(issues)
        n = len(self.issues)
        head = f"{source}: {n} error{'s' if n != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {line}" for line in self.issues)]))


class RegistryError(MMBenchError):
    """Base class of registry and plugin errors (bad name, duplicate, unknown name, broken contract, import)."""


class DataError(MMBenchError):
    """A dataset file is missing, corrupt or inconsistent."""


class ResultsError(MMBenchError):
    """A run record is unreadable or does not follow the record schema."""


class EncoderError(MMBenchError):
    """An encoder cannot be built or run: weights unreachable (offline), a missing backend, bad inputs."""


class TrackingError(MMBenchError):
    """Run tracking cannot start or a record could not be logged (the record itself is always kept)."""


class ExportError(MMBenchError):
    """A trained model cannot be exported: no such record or model, weights not in the cache, not reproducible."""


class ExportFormatError(MMBenchError):
    """An export folder is incomplete, corrupt or of another format version than this mmbench reads."""


class ServeError(MMBenchError):
    """A recommendation request an export cannot answer: unknown user, bad k, bad new-item features."""
