"""Write recipes/<dataset>/kd-<model>-tuned.yaml for every tuned ported teacher (BM3, MGCN, LGMRec, SMORE) of a
dataset that kd-tuned.yaml does not already distil: the tuned teacher distilled with rrd (the suite's best KD
loss) into the tuned LightGCN, beside the same LightGCN without KD.

Run from the repository root: ``python ci/suite/kd_recipes.py tiktok lastfm beauty``. A file is rewritten only
if its content would change; ci/suite/tuned.sh calls this after a dataset's studies.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

#: the ported teachers; mm-gnn, FREEDOM and VBPR are distilled by kd-tuned.yaml when best on valid
TITLE = {"bm3": "BM3", "mgcn": "MGCN", "lgmrec": "LGMRec", "smore": "SMORE"}
DATASETS = {"beauty": ("amazon-beauty", "Amazon Beauty"), "tiktok": ("tiktok", "TikTok"), "lastfm": ("lastfm", "Last.fm")}


def main(names: list[str]) -> None:
    for ds in names:
        tdir, label = DATASETS[ds]
        kd_tuned = Path(f"recipes/{ds}/kd-tuned.yaml")
        distilled = None
        if kd_tuned.exists():
            distilled = (kd_tuned.parent / yaml.safe_load(kd_tuned.read_text())["include"]).resolve()
        for model, title in TITLE.items():
            tuned = Path(f"recipes/tuned/{tdir}/{ds}-{model}.yaml")
            if not tuned.exists() or tuned.resolve() == distilled:
                continue
            out = Path(f"recipes/{ds}/kd-{model}-tuned.yaml")
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
