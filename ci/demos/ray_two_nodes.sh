#!/usr/bin/env bash
# The demonstration behind results/demo/freedom-ray-two-nodes/ (not run by CI: about 15 minutes on 2 cores).
# The committed study recipes/sweeps/tune-tiktok-freedom.yaml, under another name, on a real two-node Ray
# cluster on this machine (a head and a second node on loopback, one CPU each, two single-threaded workers);
# once 10 trials have ended, the second node's raylet and workers are killed (SIGKILL) while it runs a trial.
# The study must still end its 24 trials with one record per complete trial, none lost, none duplicated.
#   ci/demos/ray_two_nodes.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
export OMP_NUM_THREADS=1 RAY_AUTH_MODE=token RAY_USAGE_STATS_ENABLED=0
export RAY_AUTH_TOKEN="${RAY_AUTH_TOKEN:-$(python3 -c "import secrets; print(secrets.token_hex(32))")}"  # a fresh machine has no ~/.ray/auth_token
export MMBENCH_CACHE_DIR=${MMBENCH_CACHE_DIR:-$(mktemp -d)}
out=results/demo/freedom-ray-two-nodes
study=$out/sweeps/tune-tiktok-freedom-ray
mkdir -p "$out"
sed -e 's|^name: tune-tiktok-freedom$|name: tune-tiktok-freedom-ray|' -e 's|^recipe: ../tiktok/|recipe: ../../../recipes/tiktok/|' \
    recipes/sweeps/tune-tiktok-freedom.yaml > "$out/study.yaml"
echo "  tuned_recipe: tuned.yaml" >> "$out/study.yaml"
port=6399
"$BIN/ray" start --head --port=$port --num-cpus=1 --include-dashboard=false --disable-usage-stats > /dev/null
"$BIN/ray" start --address=127.0.0.1:$port --num-cpus=1 --resources='{"mmbench_second_node": 1}' > /dev/null
trap '"$BIN/ray" stop --force > /dev/null 2>&1 || true' EXIT
"$BIN/mmbench" sweep "$out/study.yaml" -q --results-dir "$out" --backend ray --address 127.0.0.1:$port --workers 2 \
    2> "$out/driver.log" &
pid=$!
("$BIN/python" - "$study/study.db" <<'PYEOF'
import sqlite3, sys, time, psutil
db = sys.argv[1]
def one(q):
    try:
        return sqlite3.connect(db).execute(q).fetchone()[0]
    except sqlite3.Error:
        return 0
while one("select count(*) from trials where state in ('COMPLETE','PRUNED','FAIL')") < 10 or \
        one("select count(*) from (select t.trial_id from trials t join trial_intermediate_values v on "
            "t.trial_id = v.trial_id where t.state = 'RUNNING' group by t.trial_id having count(*) >= 2)") < 2:
    time.sleep(2)
raylet = next(p for p in psutil.process_iter(["cmdline"])
              if "raylet/raylet" in " ".join(p.info["cmdline"] or []) and "mmbench_second_node" in " ".join(p.info["cmdline"]))
for p in [*raylet.children(recursive=True), raylet]:
    p.kill()
print(f"killed the second node (raylet {raylet.pid}) at {time.strftime('%H:%M:%S')} with two trials running")
PYEOF
) | tee "$out/kill.log"
wait "$pid"
"$BIN/python" - "$out" "$study" <<'PYEOF' | tee "$out/check.md"
import json, sys
from pathlib import Path
from mmbench.results.store import load_records
out, study = Path(sys.argv[1]), Path(sys.argv[2])
summary = json.loads((study / "summary.json").read_text())
records = load_records(study)
keys = [(r.recipe.name, r.seed) for r in records]
complete = [t for t in summary["trials"] if t["state"] == "complete"]
expected = sorted("tune-tiktok-freedom-ray.t%03d" % t["recipe_trial"] for t in complete)
print("# tune-tiktok-freedom on a two-node Ray cluster, second node killed mid-study\n")
print(f"- trials ended: {sum(1 for t in summary['trials'] if not t['interrupted'])}/{summary['budget']['trials']}; "
      f"complete {len(complete)}, pruned {summary['ended']['pruned']}, failed {summary['ended']['fail']}")
print(f"- trials Ray ran again after the node loss: {[t['number'] for t in summary['trials'] if t['attempts'] > 1]}")
print(f"- records: {len(records)} for {len(complete)} complete trials; duplicated: {len(keys) - len(set(keys))}; "
      f"every complete trial has its record: {expected == sorted(k[0] for k in keys)}")
print(f"- best trial: {summary['best']['params']} valid NDCG@10 {summary['best']['value']:.4f}")
PYEOF
