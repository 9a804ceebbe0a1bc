"""What encoders receive per item: text rendered from a template, image sources, or the item ids themselves.

A text template is a ``str.format``-style string over the item table's fields, with optional sections in
square brackets that are dropped when any field inside them is empty::

    "{title}[. Brand: {brand}][. Categories: {categories}]"

An item whose template fields are all empty has no text (``None``): it is marked missing, never given an
empty string to encode. ``[[`` / ``]]`` are literal brackets, ``{{`` / ``}}`` literal braces. Leading
separators (``. , ; : | -``) and surrounding whitespace are trimmed from the rendered text.
"""

from __future__ import annotations

import hashlib
import math
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmbench.data.types import Feature, PreparedData
from mmbench.errors import DataError

_SECTION = re.compile(r"\[(?!\[)((?:[^\[\]]|\[\[|\]\])*)\](?!\])")


def default_template(text_fields: Sequence[str]) -> str:
    """The template used when a recipe gives none: every text field of the dataset, in order, '. '-joined."""
    if not text_fields:
        return ""
    first, *rest = text_fields
    return "[{" + first + "}]" + "".join(f"[. {{{f}}}]" for f in rest)


def template_fields(template: str) -> list[str]:
    """The item fields a template refers to, in order of first use; raises ``ValueError`` when malformed."""
    names: list[str] = []
    for _, name, spec, conv in string.Formatter().parse(template.replace("[[", "").replace("]]", "")):
        if name is None:
            continue
        if not name or not re.fullmatch(r"[A-Za-z_][\w\- ]*", name) or spec or conv:
            raise ValueError(f"template placeholder {{{name}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                             f"is not a plain field name; write {{field}} with an item-table column name")
        if name not in names:
            names.append(name)
    unbalanced = _SECTION.sub("", template).replace("[[", "").replace("]]", "")
    if "[" in unbalanced or "]" in unbalanced:
        raise ValueError("template has an unbalanced or nested '[' ... ']' optional section; "
                         "write literal brackets as '[[' and ']]'")
    return names


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(t for t in (_text(v) for v in value) if t)
    return str(value).strip()


def _segments(template: str) -> list[tuple[str, bool]]:
    """Split a template into ``(piece, optional)`` segments, literal brackets unescaped."""
    out, pos = [], 0
    for m in _SECTION.finditer(template):
        out += [(template[pos:m.start()], False), (m.group(1), True)]
        pos = m.end()
    out.append((template[pos:], False))
    return [(p.replace("[[", "[").replace("]]", "]"), opt) for p, opt in out if p]


def _render(segments: list[tuple[str, bool]], row: Mapping[str, str]) -> str:
    parts = []
    for piece, optional in segments:
        used = [n for _, n, _, _ in string.Formatter().parse(piece) if n]
        if not optional or all(row[n] for n in used):
            parts.append(piece.format_map(row))  # values are substituted once, never re-parsed as a template
    # a dropped first section would leave the next one's separator in front: "[{title}][. {brand}]" -> ". B"
    return "".join(parts).strip().lstrip(".,;:|- ").strip()


def render_texts(items: Any, template: str, *, source: str = "item table") -> list[str | None]:
    """One text per item row (``None`` when all its template fields are empty)."""
    try:
        names = template_fields(template)
    except ValueError as exc:
        raise DataError(f"text template {template!r}: {exc}") from None
    absent = [n for n in names if n not in items.columns]
    if absent:
        fields = [str(c) for c in items.columns if c != "item"]
        raise DataError(f"text template {template!r} uses {', '.join(map(repr, absent))}, which the {source} does "
                        f"not have; fix: use its fields: {', '.join(fields)}")
    if not names:
        raise DataError(f"text template {template!r} uses no item field; fix: add placeholders such as "
                        f"{{{next((str(c) for c in items.columns if c != 'item'), 'title')}}}")
    columns = {n: [_text(v) for v in items[n].tolist()] for n in names}
    segments = _segments(template)
    out: list[str | None] = []
    for i in range(len(items)):
        row = {n: columns[n][i] for n in names}
        out.append(_render(segments, row) or None if any(row.values()) else None)
    return out


def text_hash(texts: Sequence[str | None]) -> str:
    """Content hash of the rendered texts (``None`` hashed distinctly from any string)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(b"\x00" if t is None else b"\x01" + t.encode("utf-8") + b"\x00")
    return h.hexdigest()


@dataclass(frozen=True)
class ItemInputs(Sequence[Any]):
    """Inputs of encoders that consume ``item``: raw item ids plus the dataset's own feature sources.

    Indexing yields raw ids; slicing keeps ``rows`` (dense item ids) and the features aligned, so the runner
    can chunk it; ``n_items`` stays the dataset's item count.
    """

    ids: np.ndarray
    features: Mapping[str, Feature] = field(default_factory=dict)
    dataset: str = ""
    rows: np.ndarray | None = None
    n_items: int = -1

    def __post_init__(self) -> None:
        if self.rows is None:
            object.__setattr__(self, "rows", np.arange(len(self.ids)))
        if self.n_items < 0:
            object.__setattr__(self, "n_items", len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            feats = {k: Feature(f.modality, f.values[index], f.available[index], f.source)
                     for k, f in self.features.items()}
            return ItemInputs(self.ids[index], feats, self.dataset, self.rows[index], self.n_items)
        return self.ids[index]

    @classmethod
    def of(cls, data: PreparedData) -> ItemInputs:
        return cls(data.items["item"].to_numpy(), dict(data.features), data.name)
