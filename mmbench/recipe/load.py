"""Load a recipe: safe YAML (duplicate keys rejected), one ``include:`` level, ``--set`` overrides, validation."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mmbench.errors import RecipeError
from mmbench.params import format_loc
from mmbench.recipe.schema import RECIPE_NAME, Recipe
from mmbench.recipe.validate import (
    component_issues,
    load_recipe_plugins,
    resolve,
    schema_issues,
    semantic_issues,
)

Lines = dict[tuple[Any, ...], str]
# fields that do not change what a run computes: excluded from the recipe hash
_UNHASHED = ("name", "description", "plugins", "seeds")


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first defined on line {seen[key]})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads "5e-3" as a string; recipes follow YAML 1.2 and read it as the float a user means.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+|\.[0-9_]+"
               r"(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _line_map(node: yaml.Node | None, label: str, path: tuple[Any, ...] = (), out: Lines | None = None) -> Lines:
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, key.value)
            out[sub] = f"{label}:{key.start_mark.line + 1}"
            _line_map(value, label, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            out[(*path, i)] = f"{label}:{value.start_mark.line + 1}"
            _line_map(value, label, (*path, i), out)
    return out


def read_yaml(path: Path) -> tuple[dict[str, Any], Lines]:
    """Parse one recipe file into a mapping and a map from key paths to ``file:line``."""
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(label, ["file not found; check the path (recipes live under recipes/)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(label, [f"cannot read the file: {exc}"]) from None
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{label}:{mark.line + 1}:{mark.column + 1}" if mark else label
        problem = exc.problem or str(exc)
        if "constructor for the tag" in problem:
            problem += " (recipes are plain data: tags that build Python objects are refused)"
        raise RecipeError(label, [f"{where}: YAML error: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise RecipeError(label, [f"YAML error: {exc}"]) from None
    finally:
        loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(label, [f"the top level must be a mapping of fields, found a {type(data).__name__}"])
    return data, _line_map(node, label)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def apply_override(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``dotted.key=value`` (value parsed as YAML; list items as ``seeds.0=3``)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key.strip():
        raise RecipeError("--set", [f"{assignment!r}: expected KEY=VALUE, e.g. --set student.params.dim=128"])
    try:
        value = yaml.load(text, Loader=_StrictLoader) if text.strip() else None
    except yaml.YAMLError as exc:
        raise RecipeError("--set", [f"{assignment!r}: the value is not valid YAML ({exc})"]) from None
    out = copy.deepcopy(raw)
    node: Any = out
    parts = key.strip().split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise RecipeError("--set", [f"{assignment!r}: {'.'.join(parts[:i]) or key} is a list of "
                                            f"{len(node)}; use an index 0..{len(node) - 1}"])
            if last:
                node[int(part)] = value
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            raise RecipeError("--set", [f"{assignment!r}: {'.'.join(parts[:i])} is a value, not a mapping"])
    return out


def compose(path: Path, overrides: Sequence[str] = ()) -> tuple[dict[str, Any], Lines]:
    """The raw recipe mapping after ``include:`` and overrides, with its line map."""
    raw, lines = read_yaml(path)
    include = raw.pop("include", None)
    if include is not None:
        if not isinstance(include, str):
            raise RecipeError(str(path), [f"{lines.get(('include',), path)}: include: must be one relative path"])
        base_path = (path.parent / include).resolve()
        if not base_path.is_file():
            raise RecipeError(str(path), [f"{lines.get(('include',), path)}: include: {include!r} not found "
                                          f"(looked for {base_path}); paths are relative to the recipe's folder"])
        base, base_lines = read_yaml(base_path)
        if "include" in base:
            raise RecipeError(str(path), [f"{base_lines[('include',)]}: include: only one level is allowed; "
                                          f"{base_path.name} is itself an include target, so it cannot include"])
        raw, lines = _merge(base, raw), {**base_lines, **lines}
    for assignment in overrides:
        raw = apply_override(raw, assignment)
        lines[tuple(assignment.partition("=")[0].strip().split("."))] = f"--set {assignment}"
    return raw, lines


def _render(loc: tuple[Any, ...], message: str, lines: Lines) -> str:
    if not loc:
        return message
    where = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
    return f"{where + ': ' if where else ''}{format_loc('', loc)}: {message}"


def _line_no(loc: tuple[Any, ...], lines: Lines) -> int:
    where = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), "")
    tail = where.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


def validate_raw(raw: dict[str, Any], source: str, lines: Lines | None = None, name: str = "recipe") -> Recipe:
    """Validate a raw recipe mapping; raise :class:`RecipeError` with every problem found.

    The built-in components and installed entry-point plugins are loaded first, as the command line does, so
    ``load_recipe`` works the same from Python as ``mmbench validate`` does from the shell.
    """
    from mmbench.registry import load_plugins

    load_plugins()
    lines = lines or {}
    issues = load_recipe_plugins(raw)
    structural = schema_issues(raw)
    comp, resolved = component_issues(raw)
    issues += structural + comp
    if raw.get("name") is None and not re.fullmatch(RECIPE_NAME, name):
        issues.append((("name",), f"the recipe sets no `name:` and its file name {name!r} is not a valid recipe name "
                                  "(lowercase letters and digits joined by - _ or .); set `name:` in the recipe "
                                  "or rename the file"))
    if not structural:
        issues += semantic_issues(Recipe.model_validate(raw))
    if issues:
        rendered = [(_line_no(loc, lines), _render(loc, msg, lines)) for loc, msg in issues]
        raise RecipeError(source, [text for _, text in sorted(rendered, key=lambda pair: pair[0])])
    return resolve(raw, resolved, name)


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, compose and validate a recipe file."""
    path = Path(path)
    raw, lines = compose(path, overrides)
    return validate_raw(raw, str(path), lines, name=path.stem)


def recipe_hash(recipe: Recipe) -> str:
    """Content hash of everything in the resolved recipe that changes what a run computes."""
    # defaults are left out so that a new optional schema field does not re-key every existing result;
    # component params and per-model train settings are resolved explicitly, so their defaults still count
    # a model's `tuning` block says how its params were found, not what the run computes
    provenance = {"tuning"}
    exclude: dict[str, Any] = {k: True for k in _UNHASHED}
    exclude.update(teacher=provenance, student=provenance, baselines={"__all__": provenance})
    data = recipe.model_dump(mode="json", exclude=exclude, exclude_defaults=True)
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
