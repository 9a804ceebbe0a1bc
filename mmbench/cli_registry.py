"""``mmbench ls`` and ``mmbench index``: the registry as a table, as JSON and as the committed index."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from mmbench.cli import _friendly, _load

INDEX_PATH = Path("registry") / "index.json"


def describe(entry: Any, *, with_origin: bool = True) -> dict[str, Any]:
    """JSON-ready description of a registry entry (what `ls --json` and the index print)."""
    from mmbench.params import param_specs

    params = {}
    for name, spec in param_specs(entry.obj).items():
        item: dict[str, Any] = {"type": spec.type_repr}
        if spec.required:
            item["required"] = True
        else:
            default = spec.default
            item["default"] = default if isinstance(default, (int, float, str, bool, type(None), list)) else repr(default)
        params[name] = item
    out = {"kind": entry.kind, "name": entry.name, "qualname": entry.qualname, "summary": entry.summary,
           "params": params, "meta": entry.meta}
    if entry.kind in ("teacher", "student"):  # what a tuning study searches by default (mmbench.search_space)
        from mmbench.search_space import TRAIN_SPACE, declared_space

        out["search_space"] = {k: d.to_yaml() for k, d in declared_space(entry.obj).items()}
        if getattr(entry.obj, "tunes_training", True):
            out["search_space"].update({f"train.{k}": d.to_yaml() for k, d in TRAIN_SPACE.items()})
    if with_origin:
        out["origin"] = entry.origin
    return out


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{n}: {p['type']}" + ("" if p.get("required") else f" = {p['default']!r}")
                     for n, p in params.items())


def _space_text(space: dict[str, Any]) -> str:
    from mmbench.search_space import describe as describe_space, parse_dimension

    return describe_space({k: parse_dimension(v) for k, v in space.items()}) or "-"


def _show(entry: Any) -> str:
    """One component in full: its whole docstring (for a ported model, the fidelity notes), params and space."""
    import inspect

    d = describe(entry)
    lines = [f"{entry.kind} {entry.name}  ({entry.origin})", "", inspect.getdoc(entry.obj) or entry.summary, "",
             f"params: {_params_text(d['params']) or '-'}"]
    if "search_space" in d:
        lines.append(f"search space: {_space_text(d['search_space'])}")
    return "\n".join(lines)


@click.command(name="ls")
@click.argument("kind", required=False)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (kind, name, origin, summary, params).")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE", help="Import a plugin module (repeatable).")
@_friendly
def ls(kind: str | None, name: str | None, as_json: bool, plugins: tuple[str, ...]) -> None:
    """List registered components of every kind, or of KIND (e.g. `mmbench ls student`); with NAME too
    (`mmbench ls teacher bm3`), show that one in full: its documentation (a ported model's fidelity notes:
    source, commit, what was checked and every difference), params and search space."""
    _load(plugins)
    from tabulate import tabulate

    from mmbench.kinds import KINDS, registry_of
    from mmbench.registry import plugin_failures

    regs = [registry_of(kind)] if kind else list(KINDS.values())
    if name is not None:
        entry = regs[0].entry(name)  # an unknown name: the registry's error, with close matches
        click.echo(json.dumps(describe(entry), indent=2) if as_json else _show(entry))
        return
    if as_json:
        click.echo(json.dumps([describe(e) for r in regs for e in r.entries()], indent=2))
    else:
        for reg in regs:
            contract = (reg.contract.__doc__ or "").strip().splitlines()[0] if reg.contract else ""
            click.echo(f"{reg.plural} ({len(reg)}) · contract: {contract}")
            rows = [[e.name, e.summary, _params_text(d["params"])]
                    + ([_space_text(d["search_space"])] if "search_space" in d else []) + [e.origin]
                    for e in reg.entries() for d in [describe(e)]]
            headers = ["name", "summary", "params", *(["search space"] if reg.kind in ("teacher", "student") else []),
                       "origin"]
            click.echo(tabulate(rows, headers=headers, tablefmt="simple") if rows else "  (none registered yet)")
            click.echo()
    for failure in plugin_failures():
        click.echo(f"warning: plugin {failure.describe()}", err=True)


@click.command()
@click.option("--check", is_flag=True, help="Exit 1 if the committed index differs from the registry.")
@click.option("--path", type=click.Path(dir_okay=False, path_type=Path), default=INDEX_PATH, show_default=True)
@_friendly
def index(check: bool, path: Path) -> None:
    """Write (or --check) registry/index.json: every built-in component with its params."""
    text = index_text()
    if check:
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if current != text:
            click.echo(f"{path} is stale: run `mmbench index` and commit the result "
                       "(renamed components orphan leaderboard rows; review the diff)", err=True)
            sys.exit(1)
        click.echo(f"{path} is up to date")
        return
    from mmbench.results.store import atomic_write_text

    atomic_write_text(path, text)
    click.echo(f"wrote {path}")


def index_text() -> str:
    """The generated index of built-in components (no installed plugins, no line numbers)."""
    from mmbench.kinds import KINDS
    from mmbench.registry import is_builtin, load_plugins

    load_plugins(entry_points=False)
    data = {kind: [describe(e, with_origin=False) for e in reg.entries() if is_builtin(e.obj)]
            for kind, reg in KINDS.items()}
    return json.dumps({"generated_by": "mmbench index", "kinds": data}, indent=2, ensure_ascii=False) + "\n"

