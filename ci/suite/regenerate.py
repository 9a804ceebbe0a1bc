"""Regenerate the committed leaderboards, figures and the README's generated blocks from the run records.

Run from the repository root after committing new records: `python ci/suite/regenerate.py`. The README blocks
between `<!-- NAME -->` markers (the studies table, the fair per-recipe tables, the cross-dataset tables) are
replaced (and the ported teachers' status table); `tests/results/test_committed_results.py` checks the
leaderboard files. `results/plots/` is rewritten whole (a recipe gone leaves no figure behind) by the same
command that writes `results/leaderboard.html`, which shows the figures.
"""
import re
import subprocess
import sys
from pathlib import Path

M = [sys.executable, "-m", "mmbench"]


def run(*args: str) -> str:
    return subprocess.run([*M, *args], check=True, capture_output=True, text=True).stdout


for view, out in [("models", "leaderboard.md"), ("headline", "leaderboard-headline.md"), ("kd", "leaderboard-kd.md"),
                  ("robustness", "leaderboard-robustness.md")]:
    run("leaderboard", "--view", view, "--format", "md", "-o", f"results/{out}")
run("leaderboard", "--view", "models", "--format", "json", "-o", "results/leaderboard.json")
run("leaderboard", "--view", "tuning", "--format", "md", "-o", "results/leaderboard-tuning.md")
run("leaderboard", "--view", "tuning", "--format", "md", "--recipe", "*-tuned", "-o", "results/leaderboard-tuned.md")
for stale in Path("results/plots").glob("*.png"):
    stale.unlink()
run("leaderboard", "--format", "html", "-o", "results/leaderboard.html", "--plot", "results/plots")
run("leaderboard", "--view", "datasets", "--metric", "NDCG@20", "--format", "md", "-o", "results/leaderboard-datasets.md")

readme = open("README.md").read()


def block(name: str, text: str) -> None:
    global readme
    pat = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
    assert pat.search(readme), name
    readme = pat.sub(lambda m: m.group(1) + text.rstrip("\n") + "\n" + m.group(2), readme)


block("studies-table", run("studies"))
fair = run("leaderboard", "--view", "tuning", "--recipe", "*-tuned", "--columns",
           "budget,NDCG@10,NDCG@20,Recall@20", "--format", "md")
fair = fair.replace("## ", "#### ")
fair = fair[:fair.rfind("\n\n")]  # drop the view's note: the README says it in its own words
block("fair-tables", fair)
for metric in ("NDCG@10", "NDCG@20"):
    text = run("leaderboard", "--view", "datasets", "--metric", metric, "--format", "md")
    text = text.split("\n", 2)[2]  # drop the section title
    text = text[:text.rfind("\n\n")]
    block(f"datasets-{metric}", text)


def ported_status() -> str:
    """Where each ported teacher stands per dataset: its study, the seeds of its tuned recipe and of its KD recipe."""
    import json
    from pathlib import Path

    import yaml

    def seeds(name: str) -> int:
        return len({json.loads(f.read_text())["seed"] for f in Path("results/runs", name).glob("*.json")})

    rows = ["| dataset | BM3 | MGCN | LGMRec | SMORE |", "|---|---|---|---|---|"]
    for ds, tdir in (("tiktok", "tiktok"), ("lastfm", "lastfm"), ("beauty", "amazon-beauty")):
        kd_tuned = Path(f"recipes/{ds}/kd-tuned.yaml")
        distilled = Path(yaml.safe_load(kd_tuned.read_text())["include"]).stem if kd_tuned.exists() else ""
        cells = []
        for model in ("bm3", "mgcn", "lgmrec", "smore"):
            summary = Path(f"results/sweeps/tune-{ds}-{model}/summary.json")
            if not summary.exists():
                cells.append("queued")
                continue
            s = json.loads(summary.read_text())
            ended = s["ended"]["complete"] + s["ended"]["pruned"] + s["ended"]["fail"]
            cell = f"study {ended}/{s['budget']['trials']}"
            if s.get("best"):
                cell += f" (valid {s['best']['value']:.4f})"
            if ended >= s["budget"]["trials"]:
                cell += f" · {seeds(f'{ds}-{model}-tuned')}/5 seeds"
                kd = f"{ds}-kd-tuned" if distilled == f"{ds}-{model}" else f"{ds}-kd-{model}-tuned"
                cell += f" · KD ({kd.removeprefix(ds + '-')}) {seeds(kd)}/5 seeds"
            cells.append(cell)
        rows.append(f"| {tdir} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


block("ported-status", ported_status())
open("README.md", "w").write(readme)
print("regenerated")
