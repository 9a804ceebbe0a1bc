"""Recipe parameters of a component, read from its typed constructor.

Convention: the positional parameters of a component's constructor (or function) are runtime context that
the runner supplies (the train graph, feature sizes); its **keyword-only** parameters are what a recipe may
set under ``params:``. Their annotations and defaults are the schema; nothing is declared twice.
"""

from __future__ import annotations

import difflib
import inspect
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from mmbench.registry import ContractError

REQUIRED: Any = inspect.Parameter.empty


class _OffUnlessSet:
    """Marks a recipe parameter added to a component after results exist, whose default turns the new
    behaviour off: ``x: Annotated[T, OFF_UNLESS_SET] = None``. At its default it is left out of the resolved
    params (and so out of the recipe hash: every existing result keeps its key); set to anything else it is
    resolved and hashed like any other parameter."""

    def __repr__(self) -> str:
        return "OFF_UNLESS_SET"


OFF_UNLESS_SET = _OffUnlessSet()


@dataclass(frozen=True)
class ParamSpec:
    """One recipe parameter: its name, type and default (``REQUIRED`` when it has none)."""

    name: str
    annotation: Any
    default: Any
    off_unless_set: bool = False  # see OFF_UNLESS_SET

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def type_repr(self) -> str:
        ann = self.annotation
        if ann is Any:
            return "any"
        if isinstance(ann, type):
            return ann.__name__
        return str(ann).replace("typing.", "")


def _callable_of(obj: object) -> Any:
    return obj.__init__ if isinstance(obj, type) else obj


def _resolve(annotation: Any, obj: object, pname: str) -> Any:
    if annotation is inspect.Parameter.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation
    module = sys.modules.get(getattr(obj, "__module__", ""), None)
    namespace = {**vars(typing), **(vars(module) if module else {})}
    try:
        value = eval(annotation, namespace)  # annotation text from the component's own source, not user input
        return eval(value, namespace) if isinstance(value, str) else value  # a quoted annotation
    except Exception as exc:
        raise ContractError(
            f"parameter {pname!r} of {getattr(obj, '__qualname__', obj)} has an annotation {annotation!r} "
            f"that cannot be resolved ({exc}); recipe parameters need importable types"
        ) from None


@cache
def param_specs(obj: object) -> dict[str, ParamSpec]:
    """The recipe parameters (keyword-only constructor parameters) of a component, in order."""
    sig = inspect.signature(_callable_of(obj))
    specs = {}
    for p in sig.parameters.values():
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            ann = _resolve(p.annotation, obj, p.name)
            off = typing.get_origin(ann) is typing.Annotated and any(m is OFF_UNLESS_SET for m in ann.__metadata__)
            specs[p.name] = ParamSpec(p.name, typing.get_args(ann)[0] if off else ann, p.default, off)
    return specs


@cache
def params_model(obj: object) -> type[BaseModel]:
    """A strict pydantic model (``extra="forbid"``) of the component's recipe parameters."""
    fields = {
        name: (spec.annotation, ... if spec.required else spec.default)
        for name, spec in param_specs(obj).items()
    }
    title = f"{getattr(obj, '__qualname__', obj)} params"
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, title=title)
    return pydantic.create_model(title.replace(" ", "_"), __config__=config, **fields)


def format_loc(prefix: str, loc: tuple[Any, ...]) -> str:
    """``student.params`` + ``('dims', 0)`` -> ``student.params.dims[0]``."""
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def did_you_mean(word: str, options: list[str]) -> str:
    hits = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {hits[0]!r}?" if hits else ""


def check_params(obj: object, params: Mapping[str, Any], label: str) -> tuple[dict[str, Any], list[tuple[tuple[Any, ...], str]]]:
    """Validate ``params`` against ``obj``'s constructor.

    Returns the resolved parameters (defaults filled in) and ``(location, problem)`` pairs, locations
    relative to the params mapping; the resolved dict is only meaningful when there are no problems.
    """
    specs = param_specs(obj)
    try:
        model = params_model(obj).model_validate(dict(params))
    except pydantic.ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                hint = did_you_mean(str(loc[-1]), list(specs))
                known = f"its parameters: {', '.join(specs)}" if specs else "it takes no parameters"
                issues.append((loc, f"unknown parameter of {label}{'; ' + hint if hint else ''} ({known})"))
            elif err["type"] == "missing":
                spec = specs.get(str(loc[0]))
                issues.append((loc, f"required parameter of {label} is missing ({spec.type_repr if spec else '?'})"))
            else:
                issues.append((loc, f"{err['msg']} (got {err.get('input')!r})"))
        return {}, issues
    resolved = model.model_dump()
    for name, spec in specs.items():  # a later, default-off parameter at its default: as if it did not exist
        if spec.off_unless_set and name not in params and resolved.get(name) == spec.default:
            del resolved[name]
    return resolved, []
