"""Where the committed run records came from: how many were written from a tree with uncommitted changes (and at
which commit), and with how many CPU threads, per recipe.

Run from the repository root: ``python ci/analysis/record_provenance.py [results-dir]`` (default ``results``).
A record's ``git.dirty`` says the code, recipes or data differed from ``git.sha`` when it ran; records written
since 2026-12-05 also list the changed files (``git.changed``), older ones cannot say which.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path


def summary(results: Path) -> str:
    records = [json.loads(p.read_text()) for p in sorted((results / "runs").glob("*/*.json"))]
    dirty: dict[str, list[dict]] = defaultdict(list)
    threads: Counter[int] = Counter()
    for rec in records:
        threads[rec["hardware"].get("torch_threads")] += 1
        if rec["git"].get("dirty"):
            dirty[rec["recipe"]["name"]].append(rec)
    n_dirty = sum(len(v) for v in dirty.values())
    lines = [f"{len(records)} records in {results / 'runs'}; {n_dirty} written from a tree with uncommitted changes; "
             "threads: " + ", ".join(f"{n} with {t}" for t, n in sorted(threads.items(), key=lambda kv: str(kv[0])))]
    if dirty:
        lines += ["", "| recipe | dirty records | at commit(s) | changed files (recorded since 2026-12-05) |",
                  "|---|---:|---|---|"]
        for name in sorted(dirty):
            recs = dirty[name]
            shas = sorted({r["git"]["sha"][:8] for r in recs})
            changed = sorted({f for r in recs for f in r["git"].get("changed", [])})
            lines.append(f"| {name} | {len(recs)} | {', '.join(shas)} | {', '.join(changed) or 'not recorded'} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summary(Path(sys.argv[1] if len(sys.argv) > 1 else "results")))
