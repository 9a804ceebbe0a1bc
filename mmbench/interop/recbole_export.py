"""A prepared dataset and its split as a RecBole benchmark folder: what ``mmbench data export`` writes.

``<out>/<name>/`` receives

* ``<name>.train.inter``, ``.valid.inter``, ``.test.inter``: the split's (user, item) pairs (and timestamps),
  as :func:`~mmbench.interop.recbole_data.export_split` writes them;
* ``<name>.item``: every item's dense id, its ``raw_item_id`` (the dataset's own id) and the dataset's item
  text fields as ``token_seq``; ``<name>.user``: every user's dense id and ``raw_user_id``;
* ``<name>.yaml``: :func:`~mmbench.interop.recbole_data.benchmark_config` for this folder, so RecBole's
  ``run_recbole(model=..., config_file_list=[<name>.yaml])`` trains and tests on exactly the split.

Atomic files have no quoting, so a tab, CR or LF inside a text value or id becomes a space (counted in
:attr:`BenchmarkExport.cleaned_cells`). Each file is written atomically and the YAML last. Read the folder
back with the ``atomic`` dataset, ``benchmark_filename: [train, valid, test]`` and split ``given``
(:attr:`BenchmarkExport.import_spec`): dense ids, parts and timestamps come back unchanged.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbench.data.types import PreparedData, Split
from mmbench.errors import DataError
from mmbench.interop.recbole_data import ITEM, PARTS, USER, benchmark_config, inter_frame

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_BREAKS = re.compile(r"[\t\r\n]")


def default_name(dataset: str) -> str:
    """A file-stem-safe export name for ``dataset`` (a plugin's ``acme/foo`` becomes ``acme-foo``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", dataset).lstrip("._-") or "dataset"


@dataclass(frozen=True)
class BenchmarkExport:
    """What :func:`export_benchmark` wrote: the folder, ``{label: path}`` in write order, and the counts."""

    folder: Path
    files: dict[str, Path]
    counts: dict[str, int]
    import_spec: dict[str, Any]
    text_fields: tuple[str, ...] = ()
    timestamp: bool = False
    cleaned_cells: int = 0


def _cell(value: Any) -> str:
    """A table value as one atomic-file cell: lists joined like mmbench's item text, missing → empty."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return ", ".join(t for t in (_cell(v) for v in value) if t)
    return "" if pd.isna(value) else str(value)


def _column(values: Any) -> tuple[list[str], int]:
    """Cells with tabs / line breaks replaced by spaces, and how many cells needed it."""
    cells = [_cell(v) for v in values]
    dirty = [i for i, c in enumerate(cells) if _BREAKS.search(c)]
    for i in dirty:
        cells[i] = _BREAKS.sub(" ", cells[i])
    return cells, len(dirty)


def _table(dense_field: str, raw_field: str, raw_ids: np.ndarray, text: dict[str, Any]) -> tuple[str, int]:
    """An atomic ``.item`` / ``.user`` file's text: dense id, raw id, then ``text`` fields as token_seq."""
    cols: dict[str, Any] = {f"{dense_field}:token": np.arange(len(raw_ids), dtype=np.int64)}
    cols[f"{raw_field}:token"], cleaned = _column(raw_ids)
    for name, values in text.items():
        cols[f"{name}:token_seq"], n = _column(values)
        cleaned += n
    return _tsv(pd.DataFrame(cols)), cleaned


def _tsv(df: pd.DataFrame) -> str:
    # no quoting, as atomic readers expect; pandas raises rather than write an unescaped tab (none are left)
    return df.to_csv(None, sep="\t", index=False, lineterminator="\n", quoting=csv.QUOTE_NONE)


def import_spec(folder: Path, text_fields: tuple[str, ...]) -> dict[str, Any]:
    """The recipe ``dataset:`` section that reads an exported folder back (the exact split as ``given``)."""
    return {"name": "atomic", "split": "given",
            "params": {"path": str(folder), "benchmark_filename": list(PARTS), "text_fields": list(text_fields)}}


def check_target(out: Path, name: str, force: bool) -> Path:
    """``<out>/<name>``, once ``name`` is a plain stem and the folder may be written; else a DataError."""
    out = Path(out).expanduser().resolve()
    if not _NAME.fullmatch(name):
        raise DataError(f"export name {name!r} is not a plain file stem; fix: pass --name with letters, digits, "
                        f"'.', '-' or '_' (starting with a letter or digit)")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder; fix: pass --out a folder (it is created if missing)")
    folder = out / name
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder}: exists and is not a folder; fix: remove it or choose another --name")
    if folder.is_dir() and any(folder.iterdir()) and not force:
        raise DataError(f"{folder}: folder exists and is not empty; fix: pass --force to overwrite the export's "
                        f"files there, or choose another --out or --name")
    return folder


def export_benchmark(data: PreparedData, split: Split, out: Path, name: str | None = None, *,
                     force: bool = False, about: str = "") -> BenchmarkExport:
    """Write ``data`` + ``split`` to ``<out>/<name>/`` (see the module docs); ``about`` heads the YAML comment.

    Refuses a non-empty ``<out>/<name>`` unless ``force``, which overwrites the export's own files there and
    leaves any other file alone.
    """
    from mmbench.results.store import atomic_write_text

    inter = data.interactions
    if (split.dataset, split.n_users, split.n_items) != (inter.name, inter.n_users, inter.n_items):
        raise DataError(f"split of {split.dataset!r} ({split.n_users} users, {split.n_items} items) does not "
                        f"belong to dataset {inter.name!r} ({inter.n_users} users, {inter.n_items} items); fix: "
                        f"export the split made from this dataset's interactions")
    name = name or default_name(data.name)
    folder = check_target(out, name, force)
    text_fields = tuple(f for f in data.text_fields if f in data.items.columns and f not in (ITEM, "raw_item_id"))
    texts: dict[str, str] = {f"{part}.inter": _tsv(inter_frame(split, part, inter)) for part in PARTS}
    texts["item"], cleaned = _table(ITEM, "raw_item_id", inter.item_ids,
                                    {f: data.items[f].tolist() for f in text_fields})
    texts["user"], cleaned_users = _table(USER, "raw_user_id", inter.user_ids, {})
    config = benchmark_config(folder.parent, name, timestamp=inter.timestamp is not None)
    spec = import_spec(folder, text_fields)
    texts["yaml"] = _yaml(config, spec, name, folder, about)
    files = {}
    for suffix, text in texts.items():  # the YAML last: its presence marks a complete export
        path = folder / f"{name}.{suffix}"
        try:
            files[path.name] = atomic_write_text(path, text)
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror or exc}; fix: choose a writable --out") from None
    counts = {"train": len(split.train), "valid": len(split.valid), "test": len(split.test),
              "users": inter.n_users, "items": inter.n_items}
    return BenchmarkExport(folder, files, counts, spec, text_fields, inter.timestamp is not None,
                           cleaned + cleaned_users)


def _yaml(config: dict[str, Any], spec: dict[str, Any], name: str, folder: Path, about: str) -> str:
    import yaml

    back = yaml.safe_dump({"dataset": spec}, default_flow_style=None, sort_keys=False, width=1000).rstrip()
    head = [f"RecBole config written by `mmbench data export`{': ' + about if about else ''}.",
            "Benchmark-file mode: the .train/.valid/.test.inter files are used as they are (no filtering, no",
            "re-split). data_path is absolute; edit it if you move the folder.",
            f"Run: recbole.quick_start.run_recbole(model=\"LightGCN\", config_file_list=[\"{folder / name}.yaml\"])",
            "Read back into mmbench (recipe):", *back.splitlines()]
    return "".join(f"# {_BREAKS.sub(' ', line)}\n" for line in head) + yaml.safe_dump(config, sort_keys=False)
