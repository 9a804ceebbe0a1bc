"""Recipe validation that collects **every** problem at once, each with its YAML path and a suggestion.

Three passes over the raw mapping, so one typo never hides another: the pydantic schema (structure, types,
unknown fields), the registry (component names and their constructor params), and cross-field rules.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

import pydantic
from pydantic import BaseModel

from mmbench.errors import MMBenchError
from mmbench.kinds import DATASETS, DISTILL_LOSSES, ENCODERS, FUSIONS, IMPUTERS, METRICS, STUDENTS, TEACHERS
from mmbench.params import check_params, did_you_mean, format_loc
from mmbench.recipe.schema import ADDED_TRAIN_DEFAULTS, SCHEMA_VERSION, Recipe, TrainSpec
from mmbench.registry import Registry, RegistryError, import_plugin, plugin_failures

Path_ = tuple[Any, ...]


def _model_at(model: type[BaseModel], loc: Path_) -> type[BaseModel] | None:
    """The pydantic model that owns the field at ``loc`` (to suggest field names)."""
    current: Any = model
    key_next = False  # the previous field is a mapping (e.g. encoders), so this part is one of its keys
    for part in loc:
        if key_next or isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            key_next = False
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        key_next = getattr(field.annotation, "__origin__", None) is dict
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        inner = _inner_model(arg)
        if inner is not None:
            return inner
    return None


def schema_issues(raw: dict[str, Any]) -> list[tuple[Path_, str]]:
    """Structural problems found by the pydantic schema, with suggestions for unknown fields."""
    try:
        Recipe.model_validate(raw)
    except pydantic.ValidationError as exc:
        out = []
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            if err["type"] == "extra_forbidden":
                owner = _model_at(Recipe, loc[:-1])
                fields = list(owner.model_fields) if owner else []
                hint = did_you_mean(str(loc[-1]), fields)
                out.append((loc, f"unknown field{'; ' + hint if hint else ''}"
                                 f"{' (allowed: ' + ', '.join(fields) + ')' if fields and not hint else ''}"))
            elif err["type"] == "missing":
                out.append((loc, "required field is missing"))
            elif loc == ("schema_version",):
                out.append((loc, f"must be {SCHEMA_VERSION} (this mmbench reads schema_version {SCHEMA_VERSION})"))
            else:
                got = "" if err["type"] == "value_error" else f" (got {err.get('input')!r})"
                out.append((loc, err["msg"].removeprefix("Value error, ") + got))
        return out
    return []


def component_refs(raw: dict[str, Any]) -> Iterator[tuple[Path_, Registry[Any], dict[str, Any]]]:
    """Every ``{name, params}`` block of the recipe with the registry its name refers to."""

    def one(loc: Path_, reg: Registry[Any], value: Any) -> Iterator[tuple[Path_, Registry[Any], dict[str, Any]]]:
        if isinstance(value, dict) and isinstance(value.get("name"), str):
            yield loc, reg, value

    def many(loc: Path_, reg: Registry[Any], value: Any) -> Iterator[tuple[Path_, Registry[Any], dict[str, Any]]]:
        items = enumerate(value) if isinstance(value, list) else (value.items() if isinstance(value, dict) else ())
        for key, item in items:
            yield from one((*loc, key), reg, item)

    yield from one(("dataset",), DATASETS, raw.get("dataset"))
    yield from many(("encoders",), ENCODERS, raw.get("encoders"))
    teacher = raw.get("teacher")
    yield from one(("teacher",), TEACHERS, teacher)
    if isinstance(teacher, dict):
        yield from one(("teacher", "fusion"), FUSIONS, teacher.get("fusion"))
    yield from one(("student",), STUDENTS, raw.get("student"))
    yield from many(("baselines",), STUDENTS, raw.get("baselines"))
    yield from many(("distill",), DISTILL_LOSSES, raw.get("distill"))
    yield from one(("imputer",), IMPUTERS, raw.get("imputer"))
    evaluation = raw.get("eval")
    robustness = evaluation.get("robustness") if isinstance(evaluation, dict) else None
    if isinstance(robustness, dict):
        yield from many(("eval", "robustness", "imputers"), IMPUTERS, robustness.get("imputers"))


def _unknown(reg: Registry[Any], name: str) -> str:
    hits = reg.suggest(name)
    hint = f"; did you mean {' or '.join(repr(h) for h in hits)}?" if hits else ""
    failed = "; ".join(f.describe() for f in plugin_failures())
    failed = f"; plugins that failed to import: {failed}" if failed else ""
    return f"unknown {reg.kind} {name!r}{hint} (known {reg.plural}: {reg.known_names()}; `mmbench ls {reg.kind}`){failed}"


def component_issues(raw: dict[str, Any]) -> tuple[list[tuple[Path_, str]], dict[Path_, dict[str, Any]]]:
    """Unknown component names and bad params; also returns the resolved params of the good ones."""
    issues: list[tuple[Path_, str]] = []
    resolved: dict[Path_, dict[str, Any]] = {}
    for loc, reg, block in component_refs(raw):
        name = block["name"]
        if name not in reg:
            issues.append(((*loc, "name"), _unknown(reg, name)))
            continue
        params = block.get("params", {})
        if not isinstance(params, dict):
            continue  # reported by the schema pass
        try:
            values, problems = check_params(reg.get(name), params, f"{reg.kind} {name!r}")
        except RegistryError as exc:
            issues.append(((*loc, "name"), str(exc)))
            continue
        issues += [((*loc, "params", *where), problem) for where, problem in problems]
        if not problems and reg is DATASETS:
            try:  # a dataset checks what it can before loading (its files exist, its options fit together)
                reg.get(name)(**values)
            except MMBenchError as exc:
                issues.append(((*loc, "params"), str(exc)))
                continue
        if not problems:
            resolved[loc] = values
    metrics = (raw.get("eval") or {}).get("metrics") if isinstance(raw.get("eval"), dict) else None
    for i, metric in enumerate(metrics if isinstance(metrics, list) else []):
        if isinstance(metric, str) and metric not in METRICS:
            issues.append((("eval", "metrics", i), _unknown(METRICS, metric)))
    return issues, resolved


def semantic_issues(recipe: Recipe) -> list[tuple[Path_, str]]:
    """Cross-field rules of a structurally valid recipe."""
    out: list[tuple[Path_, str]] = []
    if recipe.distill and recipe.teacher is None:
        out.append((("distill",), "distillation losses need a `teacher:` to distil from; add one or drop `distill:`"))
    modalities = set(recipe.encoders)
    out += _encoder_issues(recipe)
    out += _value_issues(recipe)
    if recipe.distill:
        for i, b in enumerate(recipe.baselines):
            if b.name == recipe.student.name:
                out.append((("baselines", i, "name"), f"a KD recipe already trains the student {b.name!r} without KD "
                            "under the same budget (role baseline); remove this entry"))
    if recipe.imputer is not None and not modalities:
        out.append((("imputer",), "an imputer fills missing encoder features, but the recipe has no `encoders:`; "
                    "add encoders or drop `imputer:`"))
    if recipe.teacher is not None and recipe.teacher.fusion is not None and not modalities:
        out.append((("teacher", "fusion"), "fusion combines encoder features, but the recipe has no `encoders:`; "
                    "add encoders or drop `teacher.fusion`"))
    for key in recipe.modality_dropout:
        if key != "all" and key not in modalities:
            out.append((("modality_dropout", key), f"no encoder for modality {key!r}; "
                        f"modalities: {', '.join(sorted(modalities)) or 'none'} (or 'all')"))
    for i, key in enumerate(recipe.eval.robustness.modalities):
        if key != "all" and key not in modalities:
            out.append((("eval", "robustness", "modalities", i), f"no encoder for modality {key!r}"))
    if recipe.eval.robustness.enabled and not modalities:
        out.append((("eval", "robustness", "enabled"), "robustness masks encoder features, but the recipe has no "
                    "`encoders:` (every model would be unaffected); add encoders or set enabled: false"))
    labels = {METRICS.entry(m).meta["label"]: m for m in recipe.eval.metrics if m in METRICS}
    seen: dict[tuple[str, str], Path_] = {}
    for role, loc, spec in recipe.models():
        if (role, spec.name) in seen:
            out.append(((*loc, "name"), f"{role} {spec.name!r} appears twice (also at "
                        f"{format_loc('', seen[(role, spec.name)])}); leaderboard rows are keyed by role and "
                        "component, so compare two settings of one component in two recipes"))
        seen[(role, spec.name)] = loc
        try:
            train = recipe.train_for(spec)
        except pydantic.ValidationError as exc:
            for err in exc.errors(include_url=False):
                key = str(err["loc"][0]) if err["loc"] else ""
                msg = "unknown field; " + did_you_mean(key, list(TrainSpec.model_fields)) \
                    if err["type"] == "extra_forbidden" else err["msg"]
                out.append(((*loc, "train", *err["loc"]), msg.rstrip("; ")))
            continue
        out += [((*loc, "train", "select_metric") if spec.train.get("select_metric") else ("train", "select_metric"),
                 problem) for problem in _select_metric_problems(train.select_metric, labels, recipe.eval.ks)]
    return list(dict.fromkeys(out))


def _value_issues(recipe: Recipe) -> list[tuple[Path_, str]]:
    """Param values the cheap components reject (building them needs no data): found now, not mid-run."""
    from mmbench.kinds import DISTILL_LOSSES, FUSIONS, IMPUTERS
    from mmbench.params import param_specs

    trials: list[tuple[Path_, Any, Any]] = [
        (("distill", i), DISTILL_LOSSES, lambda cls, p: cls(64, 64, **p)) for i in range(len(recipe.distill))]
    if recipe.teacher is not None and recipe.teacher.fusion is not None:
        trials.append((("teacher", "fusion"), FUSIONS, lambda cls, p: cls(sorted(recipe.encoders) or ["text"], 64, **p)))
    if recipe.imputer is not None:
        trials.append((("imputer",), IMPUTERS, lambda cls, p: cls(64, **p)))

    def test_time_imputer(cls: Any, p: dict[str, Any]) -> None:
        if any(t.requires_grad for t in cls(64, **p).parameters()):
            raise ValueError("this imputer has trainable parameters, so swapped in at test time it would be "
                             "untrained; train with it instead (recipe `imputer:`) and drop it here")

    trials += [(("eval", "robustness", "imputers", i), IMPUTERS, test_time_imputer)
               for i in range(len(recipe.eval.robustness.imputers))]
    out: list[tuple[Path_, str]] = []
    for loc, reg, build in trials:
        node: Any = recipe
        for part in loc:
            node = node[part] if isinstance(part, int) else getattr(node, part)
        if node.name not in reg or set(node.params) - set(param_specs(reg.get(node.name))):
            continue  # unknown component or parameter: reported once, by the component pass
        try:
            build(reg.get(node.name), node.params)
        except (ValueError, TypeError) as exc:
            out.append(((*loc, "params"), str(exc)))
    return out


def _encoder_issues(recipe: Recipe) -> list[tuple[Path_, str]]:
    from mmbench.data.item_inputs import template_fields

    out: list[tuple[Path_, str]] = []
    for modality, spec in recipe.encoders.items():
        if spec.name not in ENCODERS:
            continue  # reported by the component pass
        consumes = ENCODERS.entry(spec.name).meta["consumes"]
        if spec.template is None:
            continue
        if consumes != "text":
            out.append((("encoders", modality, "template"), f"encoder {spec.name!r} consumes {consumes}, not "
                        f"text; remove `template` (only text encoders render item text)"))
            continue
        try:
            template_fields(spec.template)
        except ValueError as exc:
            out.append((("encoders", modality, "template"), str(exc)))
    return out


def _select_metric_problems(select: str, labels: dict[str, str], ks: list[int]) -> list[str]:
    label, _, k = select.partition("@")
    if not k.isdigit():
        return [f"{select!r} is not of the form LABEL@K, e.g. 'NDCG@10'"]
    if label not in labels:
        hint = difflib.get_close_matches(label, list(labels), n=1)
        return [f"{select!r}: {label!r} is not among eval.metrics labels ({', '.join(labels)})"
                + (f"; did you mean '{hint[0]}@{k}'?" if hint else "")]
    if int(k) not in ks:
        return [f"{select!r}: K={k} is not in eval.ks {ks}"]
    return []


def load_recipe_plugins(raw: dict[str, Any]) -> list[tuple[Path_, str]]:
    """Import the recipe's ``plugins:`` modules; a failing import is an issue at its path."""
    plugins = raw.get("plugins")
    out: list[tuple[Path_, str]] = []
    for i, module in enumerate(plugins if isinstance(plugins, list) else []):
        if isinstance(module, str):
            try:
                import_plugin(module, source="recipe plugins:")
            except RegistryError as exc:
                out.append((("plugins", i), str(exc).splitlines()[0]))
    return out


def resolve(raw: dict[str, Any], resolved_params: dict[Path_, dict[str, Any]], name: str) -> Recipe:
    """The recipe with every component's params completed with defaults and every model's train settings."""
    recipe = Recipe.model_validate(raw)
    data = recipe.model_dump()
    data["name"] = recipe.name or name
    for loc, params in resolved_params.items():
        node: Any = data
        for part in loc:
            node = node[part]
        node["params"] = params
    for _, loc, spec in recipe.models():
        node = data
        for part in loc:
            node = node[part]
        train = recipe.train_for(spec).model_dump()
        node["train"] = {k: v for k, v in train.items() if ADDED_TRAIN_DEFAULTS.get(k, object()) != v}
    return Recipe.model_validate(data)
