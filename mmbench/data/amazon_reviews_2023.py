"""Amazon Reviews 2023 (McAuley Lab): reviews and item metadata of one of its 33 categories, from the HF hub.

Source: https://huggingface.co/datasets/McAuley-Lab/Amazon-Reviews-2023, configs ``raw_review_<Category>``
and ``raw_meta_<Category>`` (files ``raw/review_categories/<Category>.jsonl`` and
``raw/meta_categories/meta_<Category>.jsonl``), read through HF ``datasets`` (extra ``hub``), or the same
JSONL files, optionally gzipped, from ``local_dir`` with no network at all.

Citation: Y. Hou, J. Li, Z. He, A. Yan, X. Chen, J. McAuley. *Bridging Language and Items for Retrieval and
Recommendation*. arXiv:2403.03952, 2024. License: the dataset is released for research use; cite the paper.

Items are ``parent_asin``; a review's millisecond timestamp orders the rows (stable, so file order breaks
exact ties) before it is floored to unix seconds, so row order keeps the sub-second order.
"""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmbench.data.raw import Preprocess, RawData
from mmbench.errors import DataError
from mmbench.kinds import register_dataset

REPO = "McAuley-Lab/Amazon-Reviews-2023"
CATEGORIES = tuple("""
    All_Beauty Amazon_Fashion Appliances Arts_Crafts_and_Sewing Automotive Baby_Products Beauty_and_Personal_Care
    Books CDs_and_Vinyl Cell_Phones_and_Accessories Clothing_Shoes_and_Jewelry Digital_Music Electronics Gift_Cards
    Grocery_and_Gourmet_Food Handmade_Products Health_and_Household Health_and_Personal_Care Home_and_Kitchen
    Industrial_and_Scientific Kindle_Store Magazine_Subscriptions Movies_and_TV Musical_Instruments Office_Products
    Patio_Lawn_and_Garden Pet_Supplies Software Sports_and_Outdoors Subscription_Boxes Tools_and_Home_Improvement
    Toys_and_Games Video_Games Unknown""".split())
REVIEW_KEYS = ("user_id", "parent_asin", "timestamp", "rating")
META_KEYS = ("parent_asin", "title", "description", "features", "categories", "store", "main_category", "images")
TEXT_FIELDS = ("title", "description", "features", "categories", "store")
_JOIN = {"description": " ", "features": " ", "categories": ", "}
_SHA = re.compile(r"[0-9a-f]{40}")


def hub_paths(category: str) -> tuple[str, str]:
    """Repo paths of a category's review and metadata files."""
    return f"raw/review_categories/{category}.jsonl", f"raw/meta_categories/meta_{category}.jsonl"


# --- the hub seam: the only functions that touch the network; tests monkeypatch them -----------------------
def _hub_sha(revision: str | None) -> str:
    from huggingface_hub import HfApi

    return str(HfApi().dataset_info(REPO, revision=revision).sha)


def _hub_sizes(paths: list[str], revision: str) -> dict[str, int]:
    from huggingface_hub import HfApi

    infos = HfApi().get_paths_info(REPO, paths, repo_type="dataset", revision=revision)
    return {info.path: int(getattr(info, "size", 0) or 0) for info in infos}


def _hub_load(config: str, revision: str) -> Any:
    import datasets

    return datasets.load_dataset(REPO, config, split="full", revision=revision)


def _network_errors() -> tuple[type[BaseException], ...]:
    try:  # huggingface_hub ≥ 1 raises httpx errors, which are not OSErrors
        from huggingface_hub.errors import HTTPError
    except ImportError:  # pragma: no cover - older hubs raise requests errors, which are OSErrors
        return (OSError,)
    return (OSError, HTTPError)


def _call_hub(fn: Any, config: str, *args: Any) -> Any:
    """``fn(*args)`` for config ``raw_<kind>_<Category>``; a missing ``datasets``, an unreachable hub or a
    file ``datasets`` cannot parse becomes one DataError line."""
    try:
        return fn(*args)
    except ImportError as exc:
        raise DataError(f"{REPO} ({config}): needs the optional HF `datasets` package ({exc}); fix: "
                        f"pip install 'mmbench[hub]', or set dataset.params.local_dir") from None
    except _network_errors() as exc:
        review, meta = hub_paths(config.split("_", 2)[2])
        raise DataError(f"{REPO} ({config}): hub unreachable ({type(exc).__name__}); fix: run once online "
                        f"with dataset.params.revision pinned to a commit sha (later offline runs are then served "
                        f"from mmbench's prepared cache), or download {review} and {meta} from "
                        f"https://huggingface.co/datasets/{REPO} and set dataset.params.local_dir") from None
    except Exception as exc:
        if not type(exc).__module__.startswith("datasets"):
            raise
        raise DataError(f"{REPO} ({config}): `datasets` could not read the files ({type(exc).__name__}: "
                        f"{(str(exc).strip().splitlines() or [''])[0]}); fix: delete its cached copy under "
                        f"~/.cache/huggingface/datasets and retry, or set dataset.params.local_dir") from None


# --- readers -------------------------------------------------------------------------------------------
def _check_keys(seen: list[str], wanted: tuple[str, ...], where: str) -> None:
    missing = [k for k in wanted if k not in seen]
    if missing:
        raise DataError(f"{where}: missing key(s) {missing}; found {seen}; fix: use the unmodified "
                        f"Amazon Reviews 2023 file from https://huggingface.co/datasets/{REPO}")


def _first_bad_line(path: Path) -> str:
    """Where a JSON Lines file first fails to parse (pandas does not say), or "" if no line does."""
    import gzip

    try:
        with (gzip.open if path.name.endswith(".gz") else open)(path, "rt", encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                try:
                    if line.strip():
                        json.loads(line)
                except ValueError:
                    return f" at line {n}"
    except (OSError, EOFError):  # a damaged gzip stream: the caller's message already says what failed
        pass
    return ""


def read_jsonl(path: Path, keys: tuple[str, ...]) -> pd.DataFrame:
    """The ``keys`` of every record of a JSON Lines file (``.gz`` allowed), strings kept as strings."""
    fix = f"re-download {path.name} from https://huggingface.co/datasets/{REPO}"
    parts, seen = [], []
    try:
        with pd.read_json(path, lines=True, chunksize=200_000, dtype=False, convert_dates=False,
                          keep_default_dates=False, compression="infer") as reader:
            for chunk in reader:
                seen += [str(c) for c in chunk.columns if c not in seen]
                parts.append(chunk.reindex(columns=[k for k in keys if k in chunk.columns]))
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        msg = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        where = _first_bad_line(path) if isinstance(exc, ValueError) else ""
        raise DataError(f"{path}: unreadable as JSON Lines{where} ({msg}); fix: {fix}") from None
    if not parts:
        raise DataError(f"{path}: holds no records; fix: {fix}")
    _check_keys(seen, keys, str(path))
    return pd.concat(parts, ignore_index=True).reindex(columns=list(keys))


# --- conversion ----------------------------------------------------------------------------------------
def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


def _text(value: Any, sep: str) -> str | None:
    if _is_list(value):
        value = sep.join(str(v).strip() for v in value if v is not None and str(v).strip())
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return str(value).strip() or None


def best_image(images: Any) -> str | None:
    """URL of the item's largest image: the ``MAIN`` variant first, then the others in order; per image
    ``hi_res``, then ``large``, then ``thumb``. Accepts a list of dicts or a dict of lists."""
    if isinstance(images, dict):  # a datasets ``Sequence`` of dicts comes back as a dict of lists
        cols = {k: list(v) if _is_list(v) else [] for k, v in images.items()}
        images = [{k: v[i] if i < len(v) else None for k, v in cols.items()}
                  for i in range(max(map(len, cols.values()), default=0))]
    if not _is_list(images):
        return None
    entries = [e for e in images if isinstance(e, dict)]
    for entry in sorted(entries, key=lambda e: e.get("variant") != "MAIN"):  # stable: file order otherwise
        for key in ("hi_res", "large", "thumb"):
            url = entry.get(key)
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None


def to_interactions(reviews: pd.DataFrame, where: str) -> pd.DataFrame:
    """Reviews → ``user, item, timestamp (s), rating`` rows, stably sorted by the millisecond timestamp."""
    ms = pd.to_numeric(reviews.timestamp, errors="coerce")
    rating = pd.to_numeric(reviews.rating, errors="coerce")
    for label, col in (("timestamp", ms), ("rating", rating)):
        if col.isna().any():
            row = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise DataError(f"{where}: {label} is missing or not a number in record {row + 1} "
                            f"({reviews[label].iloc[row]!r}); fix: re-download the file")
    ms = ms.to_numpy(np.int64)
    order = np.argsort(ms, kind="stable")
    return pd.DataFrame({"user": reviews.user_id.to_numpy(object)[order],
                         "item": reviews.parent_asin.to_numpy(object)[order],
                         "timestamp": ms[order] // 1000, "rating": rating.to_numpy(np.float64)[order]})


def to_items(meta: pd.DataFrame) -> pd.DataFrame:
    """Metadata → one row per record: ``item`` (parent_asin), joined text fields and ``image_url``."""
    out = pd.DataFrame({"item": meta.parent_asin.to_numpy(object)})
    for col in ("title", "description", "features", "categories", "store", "main_category"):
        out[col] = [_text(v, _JOIN.get(col, " ")) for v in meta[col].to_numpy(object)]
    out["image_url"] = [best_image(v) for v in meta.images.to_numpy(object)]
    return out


@register_dataset("amazon-reviews-2023")
class AmazonReviews2023Dataset:
    """Amazon Reviews 2023, any category (HF hub or local JSONL): rated reviews, item text and image URLs."""

    def __init__(self, *, category: str, k_core: int = 5, min_rating: float | None = None,
                 start: str | None = None, end: str | None = None, local_dir: str | None = None,
                 revision: str | None = None, max_download_mb: int = 20000) -> None:
        """Args:
            category: one of the 33 official categories (``All_Beauty``, ``Books``, ...) or ``Unknown``.
            k_core: iterative k-core on users and items after the filters (≤ 1 turns it off).
            min_rating: keep only reviews rated at least this (1–5 stars).
            start: keep reviews at or after this ISO date.
            end: keep reviews before this ISO date.
            local_dir: folder with ``<category>.jsonl`` and ``meta_<category>.jsonl`` (or ``.jsonl.gz``);
                when set, the hub is never contacted.
            revision: hub branch, tag or commit; resolved to a commit sha that keys the cache.
            max_download_mb: refuse to load from the hub when the two files together are larger.
        """
        if category not in CATEGORIES:
            hint = difflib.get_close_matches(category, CATEGORIES, n=1, cutoff=0.5)
            raise DataError(f"amazon-reviews-2023: unknown category {category!r}"
                            f"{f'; did you mean {hint[0]!r}?' if hint else ''}; fix: use one of "
                            f"{', '.join(CATEGORIES)}")
        preprocess = Preprocess(min_rating=min_rating, start=start, end=end, k_core=k_core)  # checks the dates
        if local_dir is not None and revision is not None:
            raise DataError("amazon-reviews-2023: revision applies to the hub only, but local_dir is set; "
                            "fix: remove one of them")
        if max_download_mb < 1:
            raise DataError(f"amazon-reviews-2023: max_download_mb must be ≥ 1, got {max_download_mb}")
        self.category, self.local_dir, self.revision = category, local_dir, revision
        self.max_download_mb = max_download_mb
        self.preprocess = preprocess
        self._sha: str | None = None

    def _local_files(self) -> list[Path]:
        folder = Path(self.local_dir or ".").expanduser()
        files = []
        for repo_path in hub_paths(self.category):
            name = repo_path.rsplit("/", 1)[1]
            found = [folder / f for f in (name, name + ".gz") if (folder / f).is_file()]
            if not found:
                raise DataError(f"{folder / name}: file not found (nor {name}.gz); fix: download {repo_path} "
                                f"from https://huggingface.co/datasets/{REPO} into {folder}")
            files.append(found[0])
        return files

    def _resolved(self) -> str:
        if self._sha is None:
            rev = self.revision
            self._sha = rev if rev and _SHA.fullmatch(rev) else _call_hub(
                _hub_sha, f"raw_review_{self.category}", rev)
        return self._sha

    def sources(self) -> list[str | Path]:
        if self.local_dir is not None:
            return list(self._local_files())
        return [f"hf://datasets/{REPO}@{self._resolved()}/{p}" for p in hub_paths(self.category)]

    def _hub_frames(self) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        sha, paths = self._resolved(), hub_paths(self.category)
        review_cfg, meta_cfg = f"raw_review_{self.category}", f"raw_meta_{self.category}"
        sizes = _call_hub(_hub_sizes, review_cfg, list(paths), sha)
        if set(paths) - set(sizes):
            raise DataError(f"{REPO}@{sha}: no file {sorted(set(paths) - set(sizes))}; fix: check revision")
        total_mb = sum(sizes.values()) / 1e6
        if total_mb > self.max_download_mb:
            raise DataError(f"{REPO} ({self.category}): the review and metadata files are {total_mb:,.0f} MB, "
                            f"over max_download_mb={self.max_download_mb}; fix: raise dataset.params."
                            f"max_download_mb, or pick a smaller category")
        frames = []
        for config, keys, path in ((review_cfg, REVIEW_KEYS, paths[0]), (meta_cfg, META_KEYS, paths[1])):
            ds = _call_hub(_hub_load, config, config, sha)
            _check_keys(list(ds.column_names), keys, f"hf://datasets/{REPO}@{sha}/{path}")
            frames.append(ds.select_columns(list(keys)).to_pandas())
        return frames[0], frames[1], f"hf://datasets/{REPO}@{sha}/{paths[0]}"

    def load(self) -> RawData:
        if self.local_dir is None:
            reviews, meta, where = self._hub_frames()
            meta_where = where.replace(*hub_paths(self.category))
        else:
            review_file, meta_file = self._local_files()
            reviews, meta = read_jsonl(review_file, REVIEW_KEYS), read_jsonl(meta_file, META_KEYS)
            where, meta_where = str(review_file), str(meta_file)
        return RawData(to_interactions(reviews, where), to_items(meta), text_fields=TEXT_FIELDS,
                       image_field="image_url", preprocess=self.preprocess, interactions_source=where,
                       items_source=meta_where)
