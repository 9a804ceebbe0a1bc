"""Which serving choice (no cold head, or one content head) won each validation of the models that train cold
heads, seed by seed, and what the served model scores on the cold test items.

Run from the repository root: ``python ci/analysis/serving_choices.py [recipe-folder ...]`` (default: the two
``kd-adapter-tuned`` recipes, Beauty and TikTok; a folder is a name under ``results/runs/``). The README's counts
of head wins come from this table; it reads the committed run records only (``history[].serving``, ``served``
and the ``cold`` slice).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT = ["beauty-kd-adapter-tuned", "tiktok-kd-adapter-tuned"]


def serving_rows(folder: Path) -> list[dict]:
    """One row per (seed, model with serving choices) of the records in ``folder``."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        for model in record["models"]:
            wins = Counter(e["serving"] for e in model.get("history", []) if "serving" in e)
            if not wins:
                continue
            cold = (model.get("slices") or {}).get("cold", {}).get("metrics", {})
            rows.append({"seed": record["seed"], "role": model["role"], "validations": sum(wins.values()),
                         "head_wins": sum(n for choice, n in wins.items() if choice != "no cold head"),
                         "wins": dict(wins), "served": model.get("served"), "cold_ndcg20": cold.get("NDCG@20")})
    return rows


def main(names: list[str]) -> None:
    for name in names:
        rows = serving_rows(Path("results/runs") / name)
        print(f"## {name}\n\n| seed | role | validations | a head won | wins | served | NDCG@20[cold] |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            wins = ", ".join(f"{k}: {v}" for k, v in r["wins"].items())
            print(f"| {r['seed']} | {r['role']} | {r['validations']} | {r['head_wins']} | {wins} | {r['served']} "
                  f"| {r['cold_ndcg20']:.4f} |")
        print(f"\n{sum(r['head_wins'] for r in rows)} of {sum(r['validations'] for r in rows)} validations won by "
              f"a head, over {len(rows)} models\n")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
