"""RecBole atomic files (``<name>.inter`` plus optional ``<name>.item``) read into :class:`RawData`.

The format: tab-separated, one header line of ``field:type`` columns, types ``token``, ``token_seq``,
``float`` and ``float_seq`` (sequences are space-separated). Sequence fields are kept as their text, which is
what the text encoders want; ``float`` fields become numbers. Values are read literally (no CSV quoting,
unlike RecBole's pandas defaults), so a stray ``"`` in a title cannot swallow the lines after it. Ids stay
tokens (strings) unless every one is a plain non-negative integer, so that ``10`` sorts after ``9`` when
dense ids are assigned. A ``<name>.user`` file is not read: mmbench models use no user features.

RecBole's benchmark files (``benchmark_filename: [train, valid, test]``: ``<name>.train.inter`` and so on,
e.g. written by ``mmbench data export``) are read as one table whose rows remember their file, so that
split ``given`` reproduces the three parts. Preprocessing still runs on the union of the parts: with the
defaults (no k-core, no rating or date filter) it removes nothing unless a (user, item) pair is in several
parts, where dedupe keeps its earliest row (ties: the earlier part).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection
from pathlib import Path

import pandas as pd

from mmbench.data.raw import Preprocess, RawData, parse_timestamps, read_table, require_file
from mmbench.data.types import GIVEN_PARTS
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

ATOMIC_TYPES = ("token", "token_seq", "float", "float_seq")
_HEADER_FIX = "write the header as tab-separated field:type columns, e.g. user_id:token (types: token, " \
              "token_seq, float, float_seq)"
_PLAIN_INT = re.compile(r"^(0|[1-9][0-9]{0,17})$")


def read_header(path: Path) -> dict[str, str]:
    """``{field: type}`` from an atomic file's header line, in column order, or a DataError."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.readline().rstrip("\r\n")
    types: dict[str, str] = {}
    for col in head.split("\t") if head else []:
        field, sep, kind = col.rpartition(":")
        if not sep or not field:
            raise DataError(f"{path}: header column {col!r} has no ':type'; fix: {_HEADER_FIX}")
        if kind not in ATOMIC_TYPES:
            raise DataError(f"{path}: field {field!r} has unknown type {kind!r}; fix: {_HEADER_FIX}")
        if field in types:
            raise DataError(f"{path}: field {field!r} appears twice in the header; fix: rename one of them")
        types[field] = kind
    if not types:
        raise DataError(f"{path}: empty header line; fix: {_HEADER_FIX}")
    return types


def numeric(values: pd.Series, path: Path, field: str) -> pd.Series:
    """``values`` as float64; any non-empty value that is not a number is a DataError naming it."""
    out = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & out.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise DataError(f"{path}: field {field!r} must be numeric but holds {values.iloc[row]!r} at data row "
                        f"{row + 1}; fix: write a number there or declare the field as token")
    return out.astype("float64")


def read_atomic(path: Path, *, keep_text: Collection[str] = ()) -> tuple[pd.DataFrame, dict[str, str]]:
    """An atomic file as a frame named by field (text, ``float`` fields numeric unless in ``keep_text``)."""
    types = read_header(require_file(path, "check dataset.params.path and dataset.params.name"))
    # atomic files have no quoting rule: a title like `"Weird Al" Yankovic` or `12" single` is literal text
    df = read_table(path, sep="\t", dtype=str, quoting=csv.QUOTE_NONE,
                    fix="one tab-separated value per header field on every line")
    df.columns = list(types)
    for field, kind in types.items():
        if kind == "float" and field not in keep_text:
            df[field] = numeric(df[field], path, field)
    return df, types


def require_field(types: dict[str, str], field: str, path: Path, param: str, *, optional: bool = False) -> str:
    """``field`` if the file's header has it, else a DataError listing the fields it does have."""
    if field not in types:
        raise DataError(f"{path}: no field {field!r} (fields: {list(types)}); fix: set dataset.params.{param} "
                        f"to one of them{' or null' if optional else ''}")
    return field


def field_or_none(types: dict[str, str], field: str | None, default: str, path: Path, param: str) -> str | None:
    """``field`` when the file has it; None when unset or when the *default* name is absent; else a DataError."""
    if field is None or (field == default and field not in types):
        return None
    return require_field(types, field, path, param, optional=True)


def ids(values: pd.Series) -> pd.Series:
    """Tokens as int64 when all are plain integers (numeric order for dense ids), else unchanged."""
    if values.notna().all() and values.str.fullmatch(_PLAIN_INT).all():
        return values.astype("int64")
    return values


def split_parts(values: pd.Series, path: Path, field: str) -> pd.Series:
    """``0``/``1``/``2`` (MMRec ``x_label``) or ``train``/``valid``/``test`` → the part names."""
    codes = {str(i): part for i, part in enumerate(GIVEN_PARTS)} | {p: p for p in GIVEN_PARTS}
    text = values.astype(str).str.strip().str.lower().str.replace(r"\.0+$", "", regex=True)
    parts = text.map(codes)
    if parts.isna().any():
        bad = sorted(set(values[parts.isna()].astype(str)))[:5]
        raise DataError(f"{path}: split field {field!r} holds {bad}; fix: use 0/1/2 or train/valid/test")
    return parts


def _header(types: dict[str, str]) -> str:
    return repr("\t".join(f"{f}:{k}" for f, k in types.items()))


@register_dataset("atomic")
class AtomicDataset:
    """RecBole atomic files from a folder: <name>.inter plus optional <name>.item (ratings, time, split, text)."""

    def __init__(self, *, path: str, name: str | None = None, user_field: str = "user_id",
                 item_field: str = "item_id", time_field: str | None = "timestamp",
                 rating_field: str | None = "rating", split_field: str | None = None,
                 benchmark_filename: list[str] | None = None, text_fields: list[str] | None = None,
                 k_core: int = 0, min_rating: float | None = None, start: str | None = None,
                 end: str | None = None) -> None:
        """Args:
            path: folder holding the atomic files.
            name: file stem (``<name>.inter``); default: the folder's name, as RecBole does.
            user_field: user id field of ``.inter``.
            item_field: item id field of ``.inter`` and ``.item``.
            time_field: timestamp field (unix seconds/ms or ISO dates); the default name is used only when
                present, any other name must exist; null = no time.
            rating_field: rating field; same rule as ``time_field``.
            split_field: field holding a given split (0/1/2 as in MMRec's ``x_label``, or train/valid/test).
            benchmark_filename: RecBole's benchmark files: three suffixes in train/valid/test order, e.g.
                ``[train, valid, test]`` reads ``<name>.train.inter`` ... instead of ``<name>.inter``; each
                row's file is its part for split ``given``.
            text_fields: ``.item`` fields that are item text; default: every token / token_seq field but the id.
            k_core: iterative k-core after the filters below (0 = off).
            min_rating: keep interactions with rating ≥ this.
            start: keep interactions at or after this ISO date.
            end: keep interactions before this ISO date.
        """
        self.folder = Path(path).expanduser()
        self.name = name or self.folder.resolve().name
        self.user_field, self.item_field, self.split_field = user_field, item_field, split_field
        self.time_field, self.rating_field = time_field, rating_field
        self.text_fields = None if text_fields is None else tuple(text_fields)
        self.parts = None if benchmark_filename is None else self._check_parts(benchmark_filename)
        self.preprocess = Preprocess(min_rating=min_rating, start=start, end=end, k_core=k_core)
        self.notes: dict[str, str] = {}  # composed loaders (e.g. movielens-100k) add their own

    def _check_parts(self, names: list[str]) -> tuple[str, ...]:
        fix = "fix: set dataset.params.benchmark_filename to three file suffixes in train/valid/test order, " \
              "e.g. [train, valid, test]"
        if self.split_field:
            raise DataError("dataset atomic: benchmark_filename and split_field are both set, but the benchmark "
                            "files already give the split; fix: remove split_field (or benchmark_filename)")
        if len(names) != len(GIVEN_PARTS):
            raise DataError(f"dataset atomic: benchmark_filename has {len(names)} name(s) {names}, not 3; {fix}")
        bad = [n for n in names if not n or n != n.strip() or "/" in n or "\\" in n]
        if bad or len(set(names)) != len(names):
            raise DataError(f"dataset atomic: benchmark_filename {names} holds "
                            f"{'an empty or path-like name ' + repr(bad[0]) if bad else 'a name twice'}; {fix}")
        return tuple(names)

    def inter_files(self) -> list[Path]:
        """The interaction file(s): ``<name>.inter``, or the benchmark files in train/valid/test order."""
        if self.parts is None:
            return [self.folder / f"{self.name}.inter"]
        return [self.folder / f"{self.name}.{part}.inter" for part in self.parts]

    def sources(self) -> list[Path]:
        if not self.folder.is_dir():
            raise DataError(f"{self.folder}: folder not found; fix: set dataset.params.path to a folder holding "
                            f"{self.inter_files()[0].name}")
        inters = self.inter_files()
        for inter in inters:
            if not inter.is_file():
                found = sorted(p.name for p in self.folder.glob("*.inter"))
                what = "dataset.params.name to the file stem" + (
                    " and dataset.params.benchmark_filename to the suffixes of the train/valid/test files"
                    if self.parts else "")
                raise DataError(f"{inter}: file not found (.inter files there: {found}); fix: set {what}")
        item = self.folder / f"{self.name}.item"
        return [*inters, item] if item.is_file() else inters

    def load(self) -> RawData:
        inter_paths = self.inter_files()
        item_path = self.sources()[len(inter_paths):]  # checks that every file exists
        types = read_header(inter_paths[0])
        for other in inter_paths[1:]:
            if read_header(other) != types:
                raise DataError(f"{other}: header {_header(read_header(other))} differs from {inter_paths[0].name}'s "
                                f"{_header(types)}; fix: write the same field:type columns, in the same order, "
                                f"in every benchmark file")
        inter_path = inter_paths[0]
        require_field(types, self.user_field, inter_path, "user_field")
        require_field(types, self.item_field, inter_path, "item_field")
        if self.split_field:
            require_field(types, self.split_field, inter_path, "split_field")
        time = field_or_none(types, self.time_field, "timestamp", inter_path, "time_field")
        rating = field_or_none(types, self.rating_field, "rating", inter_path, "rating_field")
        inter = pd.concat([self._read_inter(p, part, time, rating) for p, part in zip(inter_paths, GIVEN_PARTS)],
                          ignore_index=True)
        inter["user"], inter["item"] = ids(inter.user), ids(inter.item)  # over all parts: one id type
        items, text_fields = self._items(item_path[0] if item_path else None)
        source = str(inter_path) if self.parts is None else \
            str(self.folder / f"{self.name}.{{{','.join(self.parts)}}}.inter")
        return RawData(inter, items, text_fields=text_fields, preprocess=self.preprocess, notes=dict(self.notes),
                       interactions_source=source, items_source=str(item_path[0]) if item_path else "")

    def _read_inter(self, path: Path, part: str, time: str | None, rating: str | None) -> pd.DataFrame:
        """One interaction file as ``user``, ``item`` (+ ``timestamp``, ``rating``, ``split``) columns."""
        df, _ = read_atomic(path, keep_text=[f for f in (time, self.split_field) if f])
        for field in (self.user_field, self.item_field):
            if df[field].isna().any():  # checked per file: preprocessing would count rows across the parts
                row = int(df[field].isna().to_numpy().nonzero()[0][0])
                raise DataError(f"{path}: field {field!r} is empty at data row {row + 1}; fix: fill or remove "
                                f"that row")
        inter = pd.DataFrame({"user": df[self.user_field], "item": df[self.item_field]})
        if time:
            inter["timestamp"] = parse_timestamps(df[time], path, time)
        if rating:
            inter["rating"] = numeric(df[rating], path, rating)
        if self.split_field:
            inter["split"] = split_parts(df[self.split_field], path, self.split_field)
        elif self.parts:
            inter["split"] = part
        return inter

    def _items(self, path: Path | None) -> tuple[pd.DataFrame | None, tuple[str, ...]]:
        """The ``.item`` table as read (duplicates included: preprocessing reports conflicts) and its text."""
        if path is None:
            if self.text_fields:
                raise DataError(f"{self.folder / (self.name + '.item')}: file not found but text_fields is set; "
                                f"fix: add the .item file or remove text_fields")
            return None, ()
        table, types = read_atomic(path)
        require_field(types, self.item_field, path, "item_field")
        default = [f for f, k in types.items() if k in ("token", "token_seq") and f != self.item_field]
        text = self.text_fields if self.text_fields is not None else tuple(default)
        missing = [f for f in text if f not in types]
        if missing:
            raise DataError(f"{path}: no field(s) {missing} (fields: {list(types)}); fix: set "
                            f"dataset.params.text_fields to fields of the .item file")
        return table.rename(columns={self.item_field: "item"}), text
