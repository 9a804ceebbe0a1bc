"""The dataset card as text: what ``mmbench data info`` prints (the same dict is stored in every run record)."""

from __future__ import annotations

from typing import Any

from tabulate import tabulate


def _n(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) else str(x)


def render_card(card: dict[str, Any], split: dict[str, Any] | None = None) -> str:
    """Human-readable card: sizes, filters with reasons, modality availability, split counts, hashes."""
    out = [f"# {card['dataset']}", "",
           tabulate([["users", _n(card["users"])], ["items", _n(card["items"])],
                     ["interactions", _n(card["interactions"])], ["density", f"{card['density']:.6f}"],
                     ["time range", " … ".join(card["time_range"]) if card.get("time_range") else "no timestamps"],
                     ["columns", ", ".join(k for k, v in card["columns"].items() if v) or "user, item only"],
                     *([["given split", card["split_note"]]] if card.get("split_note") else []),
                     ["users with tied last two timestamps",
                      f"{card['ties']['share_users_tied_last_timestamp']:.1%} (tie-break: {card['ties']['tie_break']})"
                      if card.get("time_range") else "n/a (no timestamps)"]],
                    tablefmt="plain"), ""]
    raw = card["raw"]
    out += ["## Filtering", f"raw: {_n(raw['users'])} users, {_n(raw['items'])} items, "
            f"{_n(raw['interactions'])} interactions", ""]
    out += [tabulate([[f["step"], _n(f["removed_interactions"]), _n(f["removed_users"]), _n(f["removed_items"]),
                       f["rule"]] for f in card["filters"]],
                     headers=["step", "-interactions", "-users", "-items", "rule"], tablefmt="github"), ""]
    t = card["item_table"]
    out += [f"item table: {_n(t['rows'])} rows; {_n(t['items_missing_metadata'])} interacted items without a row"
            + (f"; {_n(t['rows_without_interactions'])} rows without interactions (dropped)"
               if t.get("rows_without_interactions") else ""), ""]
    rows = []
    for key, m in card["modalities"].items():
        what = ", ".join(m.get("fields", [])) or m.get("field") or (
            f"{m['modality']} {m['dim']}-d ({m['source']})" if "dim" in m else "")
        rows.append([key, _n(m["available"]), f"{m['rate']:.1%}", what, m.get("note", "")])
    out += ["## Modality availability (per item)", "",
            tabulate(rows, headers=["modality", "items", "rate", "from", "note"], tablefmt="github"), ""]
    if split:
        keys = [k for k in split if k not in ("split", "train", "valid", "test")]
        out += [f"## Split {split['split']}", "",
                tabulate([[p, _n(split[p])] for p in ("train", "valid", "test")], headers=["part", "interactions"],
                         tablefmt="github"), "",
                tabulate([[k, _n(split[k])] for k in keys], tablefmt="plain"), ""]
    h = card["hashes"]
    out += [f"raw content hash {h['raw']} · cache key {h['cache_key'][:16]}"]
    return "\n".join(out)
