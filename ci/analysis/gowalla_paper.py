"""The Gowalla LightGCN rows beside the LightGCN paper's numbers on the same split, with the issue's goal.

Run from the repository root: ``python ci/analysis/gowalla_paper.py [results-dir]`` (default ``results``). It reads
the run records of ``recipes/gowalla/lightgcn.yaml`` and ``lightgcn-paper.yaml`` (folders ``gowalla-lightgcn`` and
``gowalla-lightgcn-paper`` under ``runs/``) and prints, per recipe, the LightGCN student's test Recall@20 and
NDCG@20 (mean ± 95 % CI over seeds, and per seed with the validation-selected epoch), beside the published numbers
(the dataset's PROVENANCE.md) and the goal: validation-selected Recall@20 ≥ 0.1800 and NDCG@20 ≥ 0.1520.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

RECIPES = ["gowalla-lightgcn", "gowalla-lightgcn-paper"]
PUBLISHED = [("LightGCN paper, Table 3 (epoch picked on test)", 0.1830, 0.1554),
             ("LightGCN-PyTorch README (epoch picked on test)", 0.1824, 0.1547)]
GOAL = {"Recall@20": 0.1800, "NDCG@20": 0.1520}
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def student_rows(folder: Path) -> list[dict]:
    """The LightGCN student of each record in ``folder``: seed, selected epoch, test Recall@20 / NDCG@20."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        for model in record["models"]:
            if model["role"] == "student":
                test = model["metrics"]["test"]
                rows.append({"seed": record["seed"], "best_epoch": model["best_epoch"],
                             "epochs_run": model["epochs_run"], "Recall@20": test["Recall@20"],
                             "NDCG@20": test["NDCG@20"]})
    return sorted(rows, key=lambda r: r["seed"])


def mean_ci(values: list[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95 % t interval (None for one value: undefined, not zero)."""
    if len(values) < 2:
        return values[0], None
    return statistics.fmean(values), T95.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))


def render(results: Path) -> str:
    lines = ["| model | seeds | Recall@20 | NDCG@20 | vs paper (Recall / NDCG) | goal met |", "|---|---|---|---|---|---|"]
    for name, recall, ndcg in PUBLISHED:
        lines.append(f"| {name} | — | {recall:.4f} | {ndcg:.4f} | | |")
    per_seed = []
    for recipe in RECIPES:
        rows = student_rows(results / "runs" / recipe)
        if not rows:
            lines.append(f"| `{recipe}` | 0 | no record yet | | | |")
            continue
        cells = []
        for metric in ("Recall@20", "NDCG@20"):
            m, ci = mean_ci([r[metric] for r in rows])
            cells.append((m, f"{m:.4f}" + (f" ± {ci:.4f}" if ci is not None else " (one seed: no CI)")))
        gap = " / ".join(f"{(m / p - 1) * 100:+.1f}%" for (m, _), p in zip(cells, PUBLISHED[0][1:]))
        met = all(m >= GOAL[k] for (m, _), k in zip(cells, GOAL))
        lines.append(f"| `{recipe}` (selected on valid) | {len(rows)} | {cells[0][1]} | {cells[1][1]} | {gap} | "
                     f"{'yes' if met else 'no'} |")
        per_seed += [f"- `{recipe}` seed {r['seed']}: epoch {r['best_epoch']} of {r['epochs_run']}, Recall@20 "
                     f"{r['Recall@20']:.4f}, NDCG@20 {r['NDCG@20']:.4f}" for r in rows]
    return "\n".join(lines + ([""] + per_seed if per_seed else []))


if __name__ == "__main__":
    print(render(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")))
