"""Preprocessing: raw tables → :class:`PreparedData`, with every filtered row counted in the dataset card.

Order: rating threshold → date range → dedupe (keep each (user, item) pair's earliest row; ties by source
row order) → iterative k-core → dense ids (sorted raw ids) → item table and feature alignment → per-item
modality masks. Items are never dropped for a missing modality; only the k-core and the filters above remove
rows, and the card says how many and why.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from mmbench.data.raw import RawData
from mmbench.data.splits import tied_last_share
from mmbench.data.types import GIVEN_PARTS, Feature, Interactions, PreparedData
from mmbench.errors import DataError


def _counts(df: pd.DataFrame) -> dict[str, int]:
    return {"interactions": len(df), "users": int(df.user.nunique()), "items": int(df.item.nunique())}


def _step(filters: list[dict[str, Any]], name: str, rule: str, before: pd.DataFrame, after: pd.DataFrame) -> None:
    b, a = _counts(before), _counts(after)
    filters.append({"step": name, "rule": rule, **{f"removed_{k}": b[k] - a[k] for k in b}})


def _check_raw(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """``name`` is the dataset's source file where known (errors name it), else the dataset name."""
    for col in ("user", "item"):
        if col not in df.columns:
            raise DataError(f"{name}: loader produced no {col!r} column (found {list(df.columns)}); "
                            f"fix: map the dataset's {col} id column")
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise DataError(f"{name}: {col} id is empty at data row {row + 1}; fix: remove or fill that row")
    if "split" in df.columns:
        bad = sorted(set(df.split.astype(str)) - set(GIVEN_PARTS))
        if bad:
            raise DataError(f"{name}: split column holds {bad[:5]}; fix: use only {list(GIVEN_PARTS)}")
    for col in ("rating", "weight"):
        if col in df.columns and not pd.api.types.is_numeric_dtype(df[col]):
            raise DataError(f"{name}: {col} column is not numeric (dtype {df[col].dtype}); fix: write numbers")
    return df.reset_index(drop=True)


def filter_interactions(name: str, raw: RawData) -> tuple[pd.DataFrame, list[dict[str, Any]], dict[str, int]]:
    """Apply rating / date / dedupe / k-core filters; return kept rows (source order), steps and raw counts."""
    df = _check_raw(raw.interactions_source or name, raw.interactions)
    raw_counts = _counts(df)
    pre, steps = raw.preprocess, []
    if pre.min_rating is not None:
        if "rating" not in df.columns:
            raise DataError(f"{name}: min_rating={pre.min_rating} but the dataset has no ratings; "
                            f"fix: remove min_rating or map a rating column")
        new = df[df.rating >= pre.min_rating]
        _step(steps, "min_rating", f"rating >= {pre.min_rating}", df, new)
        df = new
    if pre.start or pre.end:
        if "timestamp" not in df.columns:
            raise DataError(f"{name}: a date range is set but the dataset has no timestamps; "
                            f"fix: remove start/end or map a timestamp column")
        lo = pre.unix("start") if pre.start else None
        hi = pre.unix("end") if pre.end else None
        keep = np.ones(len(df), bool)
        if lo is not None:
            keep &= df.timestamp.to_numpy() >= lo
        if hi is not None:
            keep &= df.timestamp.to_numpy() < hi
        new = df[keep]
        _step(steps, "date_range", f"{pre.start or '-inf'} <= time < {pre.end or '+inf'}", df, new)
        df = new
    order = np.lexsort((np.arange(len(df)), df.timestamp.to_numpy())) if "timestamp" in df.columns \
        else np.arange(len(df))
    first = ~df.iloc[order].duplicated(["user", "item"], keep="first").to_numpy()
    new = df.iloc[np.sort(order[first])]
    _step(steps, "dedupe", "keep the earliest row of each (user, item) pair; ties by source row order", df, new)
    df = new
    if pre.k_core > 1:
        before, rounds = df, 0
        while True:
            uc = df.user.map(df.user.value_counts())
            ic = df.item.map(df.item.value_counts())
            keep = (uc >= pre.k_core) & (ic >= pre.k_core)
            if keep.all():
                break
            df, rounds = df[keep], rounds + 1
            if df.empty:
                break
        _step(steps, "k_core", f"iterative {pre.k_core}-core on users and items ({rounds} rounds)", before, df)
    if df.empty:
        last = steps[-1]["step"] if steps else "loading"
        raise DataError(f"{name}: no interactions left after {last} ({raw_counts['interactions']} raw rows); "
                        f"fix: lower k_core / min_rating or widen start/end")
    return df, steps, raw_counts


def _item_table(name: str, raw: RawData, item_ids: np.ndarray) -> tuple[pd.DataFrame, dict[str, int]]:
    keys = pd.Index(item_ids.astype(str))
    if raw.items is None:
        return pd.DataFrame({"item": item_ids}), {"rows": 0, "items_missing_metadata": len(item_ids)}
    table = raw.items.copy()
    table["item"] = table["item"].astype(str)
    dup = table.duplicated("item", keep=False)
    if dup.any():
        groups = table[dup].drop_duplicates()
        conflict = groups[groups.duplicated("item", keep=False)]
        if len(conflict):
            item = conflict.item.iloc[0]
            rows = conflict[conflict.item == item]
            fields = [c for c in rows.columns if rows[c].astype(str).nunique() > 1]
            raise DataError(f"{raw.items_source or name}: item table has duplicate rows for item {item!r} with conflicting "
                            f"field(s) {fields}; fix: keep one row per item id")
        table = table.drop_duplicates("item")
    aligned = table.set_index("item").reindex(keys)
    aligned.insert(0, "item", item_ids)
    stats = {"rows": len(table), "items_missing_metadata": int((~keys.isin(table.item)).sum()),
             "rows_without_interactions": int((~table.item.isin(keys)).sum())}
    return aligned.reset_index(drop=True), stats


def _present(col: pd.Series) -> np.ndarray:
    return (col.notna() & (col.astype(str).str.strip() != "")).to_numpy()


def _features(name: str, raw: RawData, item_ids: np.ndarray) -> dict[str, Feature]:
    keys = pd.Index(item_ids.astype(str))
    out = {}
    for fname, ft in raw.features.items():
        fk = pd.Index(np.asarray(ft.item_keys).astype(str))
        if fk.has_duplicates:
            raise DataError(f"{ft.source}: feature rows map to duplicate item ids (e.g. {fk[fk.duplicated()][0]!r}); "
                            f"fix: one row per item")
        pos = fk.get_indexer(keys)
        values = np.zeros((len(keys), ft.values.shape[1]), np.float32)
        has = pos >= 0
        values[has] = ft.values[pos[has]]
        finite = np.isfinite(values).all(axis=1)
        available = has & finite
        values[~available] = 0.0
        out[fname] = Feature(ft.modality, values, available, ft.source)
    return out


def preprocess(name: str, raw: RawData, *, raw_hash: str, cache_key: str,
               source_files: tuple[str, ...] = ()) -> PreparedData:
    """Run the whole preprocessing pipeline and build the dataset card."""
    df, steps, raw_counts = filter_interactions(name, raw)
    user_codes, user_ids = pd.factorize(df.user, sort=True)
    item_codes, item_ids = pd.factorize(df.item, sort=True)
    user_ids, item_ids = np.asarray(user_ids), np.asarray(item_ids)
    col = lambda c, dt: df[c].to_numpy(dt) if c in df.columns else None  # noqa: E731
    given = None
    if "split" in df.columns:
        given = pd.Categorical(df.split.astype(str), categories=list(GIVEN_PARTS)).codes.astype(np.int8)
    inter = Interactions(name, user_codes.astype(np.int64), item_codes.astype(np.int64),
                         col("timestamp", np.int64), user_ids, item_ids, source_files,
                         col("rating", np.float32), col("weight", np.float32), given)
    items, table_stats = _item_table(name, raw, item_ids)
    features = _features(name, raw, item_ids)
    text = np.zeros(len(item_ids), bool)
    for f in raw.text_fields:
        text |= _present(items[f])
    image = _present(items[raw.image_field]) if raw.image_field else np.zeros(len(item_ids), bool)
    modalities: dict[str, np.ndarray] = {"text": text, "image": image}
    for fname, feat in features.items():
        modalities[feat.modality] = modalities.get(feat.modality, np.zeros(len(item_ids), bool)) | feat.available
    for fname, feat in features.items():
        modalities[f"feature:{fname}"] = feat.available
    n_u, n_i, n = len(user_ids), len(item_ids), len(inter)

    def avail(key: str) -> dict[str, Any]:
        m = modalities[key]
        entry: dict[str, Any] = {"available": int(m.sum()), "rate": round(float(m.mean()), 6)}
        kind = key.split(":", 1)[-1] if key.startswith("feature:") else key
        if key == "text":
            entry["fields"] = list(raw.text_fields)
        elif key == "image" and raw.image_field:
            entry["field"] = raw.image_field
        elif key.startswith("feature:"):
            entry.update(modality=features[kind].modality, dim=features[kind].dim,
                         source=features[kind].source.rsplit("/", 1)[-1])
        if kind in raw.notes:
            entry["note"] = raw.notes[kind]
        return entry

    ts = inter.timestamp
    card: dict[str, Any] = {
        "dataset": name, "users": n_u, "items": n_i, "interactions": n, "density": round(n / (n_u * n_i), 8),
        "raw": raw_counts, "filters": steps,
        "columns": {c: c in df.columns for c in ("timestamp", "rating", "weight", "split")},
        "time_range": None if ts is None else [
            datetime.fromtimestamp(int(ts.min()), timezone.utc).date().isoformat(),
            datetime.fromtimestamp(int(ts.max()), timezone.utc).date().isoformat()],
        "ties": {"share_users_tied_last_timestamp": round(tied_last_share(inter), 6),
                 "tie_break": "source row order"},
        "item_table": table_stats,
        "modalities": {k: avail(k) for k in modalities},
        "hashes": {"raw": raw_hash, "cache_key": cache_key},
    }
    if "split" in raw.notes:  # how the dataset's own split was made (e.g. a validation part carved by the loader)
        card["split_note"] = raw.notes["split"]
    return PreparedData(name, inter, items, tuple(raw.text_fields), raw.image_field, features, modalities,
                        card, raw_hash, cache_key)
