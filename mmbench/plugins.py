"""Plugin discovery: entry points (group ``mmbench.plugins``), ``--plugin`` modules and recipe ``plugins:``.

Failures are remembered with their exception so that a later "unknown component" error can say which plugin
did not load and why, instead of a bare "not in the registry".
"""

from __future__ import annotations

import importlib
import importlib.metadata
import traceback
from dataclasses import dataclass

from mmbench.errors import RegistryError

ENTRY_POINT_GROUP = "mmbench.plugins"


class PluginImportError(RegistryError, ImportError):
    """A plugin module that was asked for explicitly (``--plugin`` or a recipe) failed to import."""


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that failed to import, kept so that later errors can show why a name is missing."""

    source: str
    target: str
    error: str
    details: str

    def describe(self) -> str:
        return f"{self.target} ({self.source}): {self.error}"


_PLUGIN_FAILURES: list[PluginFailure] = []
_LOADED_PLUGINS: set[str] = set()


def plugin_failures() -> list[PluginFailure]:
    """Plugins that failed to import so far in this process."""
    return list(_PLUGIN_FAILURES)


def import_plugin(module: str, *, source: str) -> None:
    """Import an explicitly requested plugin module; a failure raises :class:`PluginImportError`."""
    if module in _LOADED_PLUGINS:
        return
    try:
        importlib.import_module(module)
    except Exception as exc:  # a plugin's own bug surfaces with its real exception, never swallowed
        failure = _record_failure(source, module, exc)
        # the plugin's own traceback helps only when the failure is inside it, not when it is simply absent
        absent = isinstance(exc, ModuleNotFoundError) and exc.name is not None and module.startswith(exc.name)
        inside = "" if absent else f"\n{failure.details.rstrip()}"
        raise PluginImportError(
            f"plugin {module!r} ({source}) failed to import: {failure.error}{inside}\n"
            f"Fix: make `python -c 'import {module}'` work (is it installed, on PYTHONPATH, spelled right?)."
        ) from exc
    _LOADED_PLUGINS.add(module)


def load_entry_point_plugins(group: str = ENTRY_POINT_GROUP) -> list[PluginFailure]:
    """Import every installed plugin of ``group``; failures are recorded, not raised, and returned.

    An entry point names a module (``acme = "acme_mm.components"``) or a zero-argument callable
    (``acme = "acme_mm:register"``) that registers its components when called.
    """
    failures = []
    for ep in importlib.metadata.entry_points(group=group):
        key = f"entry-point:{ep.name}={ep.value}"
        if key in _LOADED_PLUGINS:
            continue
        _LOADED_PLUGINS.add(key)
        try:
            loaded = ep.load()
            if ep.attr and callable(loaded):
                loaded()
        except Exception as exc:
            failures.append(_record_failure(f"entry point {ep.name!r} in group {group}", ep.value, exc))
    return failures


def _record_failure(source: str, target: str, exc: BaseException) -> PluginFailure:
    error = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    failure = PluginFailure(source, target, error, details)
    if failure not in _PLUGIN_FAILURES:
        _PLUGIN_FAILURES.append(failure)
    return failure
