"""Point a dataset's tuned KD recipes at the right teachers once its studies have tuned them.

1. When every teacher study of the dataset (``recipes/sweeps/tune-<dataset>-*.yaml`` selecting on the teacher)
   has spent its budget, ``recipes/<dataset>/kd-tuned.yaml`` (and ``kd-adapter-tuned.yaml`` where it exists)
   must distil the tuned teacher with the best *valid* value among them (the rule its test enforces): the
   ``include:`` line is rewritten if another teacher now leads. Before that, nothing changes (a KD recipe that
   switched teacher at every ended study would throw its runs away each time).
2. ``recipes/<dataset>/kd-<model>-tuned.yaml`` for every tuned ported teacher (BM3, MGCN, LGMRec, SMORE) that
   kd-tuned.yaml does not distil: the tuned teacher distilled with rrd (the suite's best KD loss) into the tuned
   LightGCN, beside the same LightGCN without KD; the one kd-tuned.yaml now distils is removed (a duplicate).

Run from the repository root: ``python ci/suite/kd_recipes.py tiktok lastfm beauty``. A file is rewritten only
if its content would change; ci/suite/tuned.sh calls this after a dataset's studies. The records of a KD
recipe whose teacher changed stay under results/runs/ with the old recipe hash; the leaderboard shows the newest
hash, and the old records are the harvest's to remove (git history keeps them).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

from mmbench.recipe.load import load_recipe

#: the ported teachers; mm-gnn, FREEDOM and VBPR are distilled by kd-tuned.yaml when best on valid
TITLE = {"bm3": "BM3", "mgcn": "MGCN", "lgmrec": "LGMRec", "smore": "SMORE"}
DATASETS = {"beauty": ("amazon-beauty", "Amazon Beauty"), "tiktok": ("tiktok", "TikTok"), "lastfm": ("lastfm", "Last.fm")}


def teacher_studies_pending(ds: str) -> list[str]:
    """The teacher studies of ``ds`` that have not spent their budget (no summary yet counts as pending)."""
    pending = []
    for sweep in sorted(Path("recipes/sweeps").glob(f"tune-{ds}-*.yaml")):
        if (yaml.safe_load(sweep.read_text()).get("select") or {}).get("role") != "teacher":
            continue
        summary = Path("results/sweeps") / sweep.stem / "summary.json"
        if not summary.exists():
            pending.append(sweep.stem)
            continue
        s = json.loads(summary.read_text())
        ended = s["ended"]["complete"] + s["ended"]["pruned"] + s["ended"]["fail"]
        if ended < s["budget"]["trials"]:
            pending.append(sweep.stem)
    return pending


def best_tuned_teacher(tdir: str) -> Path | None:
    """The tuned recipe of ``recipes/tuned/<tdir>/`` whose teacher has the best valid value (ties: first by name)."""
    values = {}
    for tuned in sorted(Path(f"recipes/tuned/{tdir}").glob("*.yaml")):
        recipe = load_recipe(tuned)
        if recipe.teacher is not None and recipe.teacher.tuning is not None:
            values[tuned.resolve()] = recipe.teacher.tuning["valid"]["value"]
    return max(values, key=values.get) if values else None


def follow_best_teacher(ds: str, tdir: str) -> None:
    """Rewrite the include line of kd-tuned.yaml / kd-adapter-tuned.yaml to the best tuned teacher on valid."""
    pending = teacher_studies_pending(ds)
    if pending:
        print(f"{ds}: kd-tuned.yaml keeps its teacher until every teacher study has ended ({', '.join(pending)} "
              "not yet)")
        return
    best = best_tuned_teacher(tdir)
    if best is None:
        return
    for name in ("kd-tuned.yaml", "kd-adapter-tuned.yaml"):
        path = Path(f"recipes/{ds}/{name}")
        if not path.exists():
            continue
        text = path.read_text()
        current = (path.parent / yaml.safe_load(text)["include"]).resolve()
        if current == best:
            continue
        line = f"include: ../tuned/{tdir}/{best.name}"
        new, n = re.subn(r"(?m)^include: .*$", line, text)
        if n != 1:
            sys.exit(f"{path}: expected one top-level `include:` line to point at {best.name}; edit it by hand")
        path.write_text(new)
        print(f"wrote {path}: now distils {best.name} (was {current.name}), the best tuned teacher on valid")


def main(names: list[str]) -> None:
    for ds in names:
        tdir, label = DATASETS[ds]
        follow_best_teacher(ds, tdir)
        kd_tuned = Path(f"recipes/{ds}/kd-tuned.yaml")
        distilled = None
        if kd_tuned.exists():
            distilled = (kd_tuned.parent / yaml.safe_load(kd_tuned.read_text())["include"]).resolve()
        for model, title in TITLE.items():
            tuned = Path(f"recipes/tuned/{tdir}/{ds}-{model}.yaml")
            out = Path(f"recipes/{ds}/kd-{model}-tuned.yaml")
            if tuned.exists() and tuned.resolve() == distilled and out.exists():
                out.unlink()
                print(f"removed {out}: kd-tuned.yaml distils {title} now")
            if not tuned.exists() or tuned.resolve() == distilled:
                continue
            text = (f"# {title}, tuned by its own study (recipes/sweeps/tune-{ds}-{model}.yaml), distilled with rrd (the best "
                    "KD loss\n# of the suite's KD sweep) into the tuned LightGCN, beside the same tuned LightGCN without "
                    "KD. The included\n# recipe carries both models' tuned settings and budgets.\n"
                    f"name: {ds}-kd-{model}-tuned\ninclude: ../tuned/{tdir}/{ds}-{model}.yaml\n"
                    f"description: the tuned {title} on {label} distilled (rrd) into the tuned LightGCN, and the tuned "
                    "LightGCN without KD.\n"
                    "distill:\n  - name: rrd\n    weight: 1.0\n")
            if not out.exists() or out.read_text() != text:
                out.write_text(text)
                print("wrote", out)


if __name__ == "__main__":
    main(sys.argv[1:])
