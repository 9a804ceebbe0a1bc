"""A small typed registry: named components of one kind, with strict names and helpful errors.

Modelled on lm-evaluation-harness's ``lm_eval/api/registry.py`` and the fvcore/detectron2 registry, with
three differences that matter for a benchmark whose leaderboard keys are registry names:

* names are checked at registration (kebab-case; third-party names carry a namespace, ``acme/clip-xl``);
* a duplicate name raises and shows both origins (file:line) instead of silently overwriting;
* an unknown name raises with close matches, the known names and every plugin that failed to import.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from mmbench.errors import RegistryError
from mmbench.plugins import (  # noqa: F401  (re-exported: plugins are part of the registry's API)
    ENTRY_POINT_GROUP,
    PluginFailure,
    PluginImportError,
    import_plugin,
    load_entry_point_plugins,
    plugin_failures,
)

T = TypeVar("T")

_PART = r"[a-z0-9]+(?:-[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^(?:{_PART}/)?{_PART}$")
_SHOWN_NAMES = 20


class InvalidNameError(RegistryError, ValueError):
    """A component name is not kebab-case, or a third-party name lacks its namespace."""


class DuplicateComponentError(RegistryError):
    """Two different definitions claim the same name in one registry."""


class UnknownComponentError(RegistryError, LookupError):
    """A name that no loaded component carries."""


class ContractError(RegistryError, TypeError):
    """A registered object lacks a method its kind's contract requires."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its name, the object, where it was defined and free-form metadata."""

    kind: str
    name: str
    obj: T
    origin: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def qualname(self) -> str:
        """Importable ``module:QualName`` of the object; stable across edits that move lines."""
        return f"{getattr(self.obj, '__module__', '?')}:{getattr(self.obj, '__qualname__', repr(self.obj))}"

    @property
    def summary(self) -> str:
        """First line of the object's docstring: what ``mmbench ls`` prints."""
        doc = (getattr(self.obj, "__doc__", None) or "").strip()
        return doc.splitlines()[0].strip() if doc else ""


def _short_path(path: str) -> str:
    """``/venv/lib/.../site-packages/acme/x.py`` -> ``acme/x.py`` (relative to its sys.path root)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    roots = sorted({os.path.abspath(p) for p in sys.path if p} | {package_root}, key=len, reverse=True)
    full = os.path.abspath(path)
    for root in roots:
        if full.startswith(root + os.sep):
            return os.path.relpath(full, root)
    return path


def is_builtin(obj: object) -> bool:
    module = getattr(obj, "__module__", "") or ""
    return module == "mmbench" or module.startswith("mmbench.")


def check_name(kind: str, name: object, obj: object) -> str:
    """Return ``name`` if it is a valid registry name for ``obj``, else raise :class:`InvalidNameError`."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidNameError(
            f"invalid {kind} name {name!r}: use lower-case kebab-case (letters, digits and single '-'), "
            f"optionally behind one namespace, e.g. 'my-model' or 'acme/my-model'"
        )
    if "/" not in name and not is_builtin(obj):
        module = getattr(obj, "__module__", "?")
        namespace = module.split(".")[0].replace("_", "-").lower()
        raise InvalidNameError(
            f"{kind} {name!r} is defined outside mmbench (in {module}), so its name needs a namespace: "
            f"register it as '{namespace}/{name}'"
        )
    return name


def _contract_members(contract: type | None) -> list[str]:
    if contract is None:
        return []
    members = {n for n in vars(contract) if not n.startswith("_") or n == "__call__"}
    members |= set(getattr(contract, "__annotations__", {}))
    return sorted(members)


class Registry(Generic[T]):
    """Named components of one kind; the kind's contract is a ``Protocol`` documented on the registry."""

    def __init__(self, kind: str, *, contract: type | None = None, plural: str | None = None,
                 required_meta: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.contract = contract
        self.required_meta = required_meta
        self._entries: dict[str, Entry[T]] = {}
        self.__doc__ = f"Registry of {self.plural}. Contract: {(contract.__doc__ or '').strip() if contract else 'none'}"

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self)} entries)"

    def __len__(self) -> int:
        _discover()
        return len(self._entries)

    def __contains__(self, name: object) -> bool:
        if name not in self._entries:
            _discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        """Registered names, sorted (the built-in and installed components are loaded on first use)."""
        _discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        """Registered entries, sorted by name."""
        return [self._entries[n] for n in self.names()]

    def register(self, name: str, obj: T | None = None, **meta: Any) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, return a class/function decorator.

        ``meta`` is stored on the entry (metrics use it for ``label`` and ``higher_is_better``).
        """
        frame = sys._getframe(1)
        origin = f"{_short_path(frame.f_code.co_filename)}:{frame.f_lineno}"

        def add(target: T) -> T:
            self._add(name, target, origin, meta)
            return target

        return add if obj is None else add(obj)

    def _add(self, name: str, obj: T, origin: str, meta: dict[str, Any]) -> None:
        check_name(self.kind, name, obj)
        missing = [m for m in _contract_members(self.contract) if not hasattr(obj, m)]
        if missing:
            raise ContractError(
                f"{self.kind} {name!r} ({getattr(obj, '__qualname__', obj)!s}, {origin}) does not satisfy the "
                f"{self.kind} contract: missing {', '.join(missing)}. See `help(mmbench.kinds)` for the contract."
            )
        absent = [key for key in self.required_meta if key not in meta]
        if absent:
            raise ContractError(f"{self.kind} {name!r} ({origin}) must be registered with "
                                f"{', '.join(f'{k}=...' for k in absent)}, e.g. "
                                f"@register_{self.kind.replace('-', '_')}({name!r}, {', '.join(f'{k}=...' for k in self.required_meta)})")
        new = Entry(self.kind, name, obj, origin, dict(meta))
        old = self._entries.get(name)
        if old is not None and (old.origin, old.qualname) != (origin, new.qualname):
            raise DuplicateComponentError(
                f"{self.kind} {name!r} is registered twice:\n"
                f"  first:  {old.origin} ({old.qualname})\n"
                f"  second: {origin} ({new.qualname})\n"
                f"Rename one of them; third-party components use a namespace, e.g. 'acme/{name.split('/')[-1]}'."
            )
        # Re-running the same definition (importlib.reload, a notebook cell) replaces the entry.
        self._entries[name] = new

    def get(self, name: str) -> T:
        """The object registered under ``name``."""
        return self.entry(name).obj

    def entry(self, name: str) -> Entry[T]:
        """The entry registered under ``name``; raises :class:`UnknownComponentError` with suggestions."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        if _discover():
            return self.entry(name)
        raise UnknownComponentError(self.unknown_message(name)) from None

    def suggest(self, name: str) -> list[str]:
        """Close matches for a misspelled ``name`` (also matching the part after a namespace)."""
        names = self.names()
        short = {n.split("/")[-1]: n for n in names if "/" in n}
        hits = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6)
        hits += [short[s] for s in difflib.get_close_matches(str(name), list(short), n=3, cutoff=0.6)]
        return list(dict.fromkeys(hits))[:3]

    def known_names(self) -> str:
        """The first ~20 names, then how many more: what unknown-name errors list."""
        names = self.names()
        more = f", … ({len(names) - _SHOWN_NAMES} more)" if len(names) > _SHOWN_NAMES else ""
        return (", ".join(names[:_SHOWN_NAMES]) or "none") + more

    def unknown_message(self, name: object) -> str:
        lines = [f"unknown {self.kind} {name!r}."]
        hits = self.suggest(str(name))
        if hits:
            lines[0] += " Did you mean " + " or ".join(repr(h) for h in hits) + "?"
        lines.append(f"Known {self.plural} ({len(self)}): {self.known_names()}")
        failures = plugin_failures()
        if failures:
            lines.append("Plugins that failed to import (their components are missing):")
            lines += [f"  - {f.describe()}" for f in failures]
        lines.append(f"Fix: check the spelling (`mmbench ls {self.kind}` lists them all), or load the plugin "
                     "that provides it (installed entry point, `--plugin MODULE`, or the recipe's `plugins:`).")
        return "\n".join(lines)

    @contextmanager
    def scoped(self) -> Iterator[Registry[T]]:
        """Roll back every registration made inside the block (tests, notebooks)."""
        saved = dict(self._entries)
        try:
            yield self
        finally:
            self._entries = saved


_DISCOVERED = False


def _discover() -> bool:
    """Load the built-in components and installed entry-point plugins the first time any registry is read, so
    that every entry point of the Python API (``load_dataset``, ``STUDENTS.get``, ...) sees them without the
    caller importing ``mmbench.components`` first. Returns whether this call loaded them (the caller retries)."""
    global _DISCOVERED
    if _DISCOVERED:
        return False
    _DISCOVERED = True  # before the imports: a registry read while they run must not recurse
    load_plugins()
    return True


def load_plugins(modules: list[str] | tuple[str, ...] = (), *, source: str = "--plugin",
                 entry_points: bool = True) -> None:
    """Load the built-in components, installed entry-point plugins, then the named plugin modules."""
    import mmbench.components  # noqa: F401  (the single list of built-in imports)

    if entry_points:
        load_entry_point_plugins()
    for module in modules:
        import_plugin(module, source=source)
