"""A small Amazon Reviews 2023 fixture in the exact HF raw JSONL schema, built from real data.

The rows are the embedded Amazon Beauty 2014 5-core (see ``embedded/amazon_beauty/PROVENANCE.md``), rewritten
as the 2023 files ``<Category>.jsonl`` and ``meta_<Category>.jsonl``. Nothing is invented:

- real Amazon reviewer ids (``user_id``), ASINs (``asin`` = ``parent_asin``), review days and item
  brand (``store``), category names (``categories``) and IDGenRec title keywords (``title``);
- ``timestamp`` is the real day-granularity unix time × 1000 plus a sub-second offset of 0, 1, 2, ... over
  the rows that share that second, in file order, so sorting by milliseconds reproduces the file order;
- fields the 2014 copy lacks are the schema's empty values: ``null`` scalars, ``[]`` lists, ``{}`` dicts.
  The one exception is ``rating``: the 2014 copy has none, so every review is written with the
  placeholder 5.0; tests of rating filters overwrite some ratings themselves. ``images`` are ``[]``; tests
  of image selection add their own entries.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmbench.data.amazon_beauty import embedded_dir, read_interactions
from mmbench.data.raw import read_table

PLACEHOLDER_RATING = 5.0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _dump(path: Path, records: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


def write_fixture(folder: Path, category: str = "All_Beauty", n_users: int = 300) -> tuple[Path, Path]:
    """Write the first ``n_users`` users' reviews and their items' metadata; return (reviews, meta) paths."""
    src = embedded_dir()
    inter = read_interactions(src / "interactions.csv.gz")
    inter = inter[inter.user_id <= n_users].reset_index(drop=True)
    users = read_table(src / "users.csv", dtype={"reviewer_id": str}).set_index("user_id").reviewer_id
    items = read_table(src / "items.csv", dtype={"asin": str, "title_keywords": str, "brand": str,
                                                 "categories": str}).set_index("item_id")
    offset = inter.groupby("timestamp").cumcount()
    if len(offset) and offset.max() >= 1000:
        raise ValueError(f"n_users={n_users}: over 1000 reviews share one second; the ms offsets would overflow")
    ms = inter.timestamp * 1000 + offset
    asin = items.asin
    reviews = [{"rating": PLACEHOLDER_RATING, "title": None, "text": None, "images": [],
                "asin": asin[i], "parent_asin": asin[i], "user_id": users[u], "timestamp": int(t),
                "helpful_vote": None, "verified_purchase": None}
               for u, i, t in zip(inter.user_id.tolist(), inter.item_id.tolist(), ms.tolist())]
    used = items.loc[sorted(set(inter.item_id.tolist()))]
    meta = [{"main_category": None, "title": _text(row.title_keywords), "average_rating": None,
             "rating_number": None, "features": [], "description": [], "price": None, "images": [],
             "videos": [], "store": _text(row.brand),
             "categories": row.categories.split("|") if _text(row.categories) else [], "details": {},
             "parent_asin": row.asin, "bought_together": None}
            for row in used.itertuples()]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return _dump(folder / f"{category}.jsonl", reviews), _dump(folder / f"meta_{category}.jsonl", meta)
