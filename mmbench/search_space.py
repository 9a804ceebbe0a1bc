"""Search spaces: the dimensions a tuning study samples, declared next to the code they tune.

A component declares a default space for its own recipe params as a class attribute::

    class FreedomTeacher(nn.Module):
        search_space = {"dropout": Choice(0.8, 0.9), "reg_weight": Choice(0.0, 1e-5, 1e-4, 1e-3)}

``mmbench ls`` prints it; a sweep's ``search:`` block starts from it (the tuned model's space plus
:data:`TRAIN_SPACE` for its training settings) and may add, replace or drop dimensions by dotted recipe path.
In YAML a dimension is one of::

    {log_uniform: [1.0e-4, 1.0e-1]}     # float, sampled uniformly in log space
    {uniform: [0.0, 0.5]}               # float
    {int: [1, 4]}                       # integer, inclusive; optional step: 2, log: true
    {choice: [concat, gated]}           # categorical: strings, numbers, booleans or null

The optimiser behind them is Optuna; this module only maps each dimension onto its ``suggest_*`` call, so
components never import Optuna.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Scalar = str | int | float | bool | None


class _Trial(Protocol):  # the part of optuna.trial.Trial a dimension uses
    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False) -> float: ...

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


class SearchSpaceError(ValueError):
    """A search dimension is malformed; the message names the problem and the accepted forms."""


FORMS = "{log_uniform: [low, high]}, {uniform: [low, high]}, {int: [low, high]} (optional step, log) or " \
        "{choice: [a, b, ...]}"


@dataclass(frozen=True)
class LogUniform:
    """A float in [low, high], uniform in log space (learning rates, L2 weights)."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 < self.low < self.high) or not math.isfinite(self.high):
            raise SearchSpaceError(f"log_uniform needs 0 < low < high, got [{self.low}, {self.high}]")

    def suggest(self, trial: _Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=True)

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def to_yaml(self) -> dict[str, Any]:
        return {"log_uniform": [self.low, self.high]}


@dataclass(frozen=True)
class Uniform:
    """A float in [low, high]."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high or not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise SearchSpaceError(f"uniform needs finite low < high, got [{self.low}, {self.high}]")

    def suggest(self, trial: _Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high)

    def corners(self) -> list[Any]:
        return [self.low, self.high]

    def to_yaml(self) -> dict[str, Any]:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class IntRange:
    """An integer in [low, high] (inclusive), on a ``step`` grid or in log space."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high or self.step < 1 or (self.log and (self.low < 1 or self.step != 1)):
            raise SearchSpaceError(f"int needs low < high and step ≥ 1 (log: low ≥ 1, step 1), got "
                                   f"[{self.low}, {self.high}] step {self.step} log {self.log}")

    def suggest(self, trial: _Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def corners(self) -> list[Any]:
        return [self.low, self.high - (self.high - self.low) % self.step]

    def to_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"int": [self.low, self.high]}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclass(frozen=True, init=False)
class Choice:
    """One of a list of values (strings, numbers, booleans or None)."""

    values: tuple[Scalar, ...]

    def __init__(self, *values: Scalar) -> None:
        if len(values) < 2:
            raise SearchSpaceError(f"choice needs at least two values, got {list(values)}")
        for v in values:
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise SearchSpaceError(f"choice values must be strings, numbers, booleans or null; got {v!r}")
        if len(set(map(repr, values))) != len(values):
            raise SearchSpaceError(f"choice has duplicate values: {list(values)}")
        object.__setattr__(self, "values", tuple(values))

    def suggest(self, trial: _Trial, name: str) -> Scalar:
        return trial.suggest_categorical(name, list(self.values))

    def corners(self) -> list[Any]:
        return list(self.values)

    def to_yaml(self) -> dict[str, Any]:
        return {"choice": list(self.values)}


Dimension = LogUniform | Uniform | IntRange | Choice

#: The training settings every study searches by default (per model, as ``<model>.train.lr``). Epochs,
#: patience and batch size are searchable too, by naming them in a sweep's ``search.space``.
TRAIN_SPACE: dict[str, Dimension] = {"lr": LogUniform(1e-4, 3e-2)}


def _pair(value: Any, kind: str, cast: type) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2 or any(isinstance(v, bool) for v in value):
        raise SearchSpaceError(f"{kind} takes a list [low, high], got {value!r}")
    try:
        low, high = (cast(v) for v in value)
    except (TypeError, ValueError):
        raise SearchSpaceError(f"{kind} bounds must be numbers, got {value!r}") from None
    if cast is int and any(not float(v).is_integer() for v in value):
        raise SearchSpaceError(f"int bounds must be whole numbers, got {value!r}")
    return low, high


def parse_dimension(raw: Any) -> Dimension:
    """A dimension from its YAML form; raises :class:`SearchSpaceError` naming the accepted forms."""
    if isinstance(raw, (LogUniform, Uniform, IntRange, Choice)):
        return raw
    if not isinstance(raw, Mapping) or not raw:
        raise SearchSpaceError(f"expected one of {FORMS}; got {raw!r}")
    kinds = [k for k in ("log_uniform", "uniform", "int", "choice") if k in raw]
    extra = sorted(set(raw) - {"log_uniform", "uniform", "int", "choice", "step", "log"})
    if len(kinds) != 1 or extra or (kinds != ["int"] and set(raw) - set(kinds)):
        raise SearchSpaceError(f"expected one of {FORMS}; got {dict(raw)!r}")
    kind = kinds[0]
    if kind == "log_uniform":
        return LogUniform(*_pair(raw[kind], kind, float))
    if kind == "uniform":
        return Uniform(*_pair(raw[kind], kind, float))
    if kind == "int":
        step, log = raw.get("step", 1), raw.get("log", False)
        if isinstance(step, bool) or not isinstance(step, int) or not isinstance(log, bool):
            raise SearchSpaceError(f"int: step must be an integer and log true or false; got {dict(raw)!r}")
        return IntRange(*_pair(raw[kind], kind, int), step=step, log=log)
    if not isinstance(raw[kind], list):
        raise SearchSpaceError(f"choice takes a list of values, got {raw[kind]!r}")
    return Choice(*raw[kind])


def declared_space(component: object) -> dict[str, Dimension]:
    """A component's own default search space (``search_space`` class attribute), validated."""
    raw = getattr(component, "search_space", None) or {}
    if not isinstance(raw, Mapping):
        raise SearchSpaceError(f"{getattr(component, '__name__', component)}.search_space must be a mapping "
                               "of param name to dimension")
    return {str(k): parse_dimension(v) for k, v in raw.items()}


def describe(space: Mapping[str, Dimension]) -> str:
    """One line, e.g. ``lr ∈ log[1e-04, 3e-02], layers ∈ {1..4}, fusion ∈ {concat, gated}``."""
    parts = []
    for name, dim in space.items():
        if isinstance(dim, LogUniform):
            parts.append(f"{name} ∈ log[{dim.low:g}, {dim.high:g}]")
        elif isinstance(dim, Uniform):
            parts.append(f"{name} ∈ [{dim.low:g}, {dim.high:g}]")
        elif isinstance(dim, IntRange):
            step = f" step {dim.step}" if dim.step != 1 else (" log" if dim.log else "")
            parts.append(f"{name} ∈ {{{dim.low}..{dim.high}}}{step}")
        else:
            parts.append(f"{name} ∈ {{{', '.join('null' if v is None else str(v) for v in dim.values)}}}")
    return ", ".join(parts)
