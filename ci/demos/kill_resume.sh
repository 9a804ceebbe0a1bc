#!/usr/bin/env bash
# The demonstration behind results/demo/freedom-kill-resume/ (not run by CI: about 30 minutes on 2 cores).
# It runs the committed study recipes/sweeps/tune-tiktok-freedom.yaml again, under another name and with an
# empty model cache, kills it with SIGKILL mid-trial once 10 trials have ended, resumes it, and compares its
# trials and best trial with the committed uninterrupted study (results/sweeps/tune-tiktok-freedom/).
#   OMP_NUM_THREADS=1 ci/demos/kill_resume.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
MMBENCH=${MMBENCH:-.venv/bin/mmbench}
PY=${PY:-.venv/bin/python}
export MMBENCH_CACHE_DIR=${MMBENCH_CACHE_DIR:-$(mktemp -d)}
out=results/demo/freedom-kill-resume
study=$out/sweeps/tune-tiktok-freedom-resume
mkdir -p "$out"
sed -e 's|^name: tune-tiktok-freedom$|name: tune-tiktok-freedom-resume|' -e 's|^recipe: ../tiktok/|recipe: ../../../recipes/tiktok/|' \
    recipes/sweeps/tune-tiktok-freedom.yaml > "$out/study.yaml"
echo "  tuned_recipe: tuned.yaml" >> "$out/study.yaml"
"$MMBENCH" sweep "$out/study.yaml" -q --results-dir "$out" &
pid=$!
until [ "$("$PY" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from trials where state in ('COMPLETE','PRUNED','FAIL')\").fetchone()[0])" "$study/study.db" 2>/dev/null || echo 0)" -ge 10 ]; do
  sleep 5
done
sleep 20                                   # into the 11th trial
kill -9 "$pid"; wait "$pid" || true
echo "killed the study's driver (SIGKILL) during its 11th trial; resuming"
"$MMBENCH" sweep "$out/study.yaml" -q --results-dir "$out"
"$PY" - "$study/summary.json" results/sweeps/tune-tiktok-freedom/summary.json <<'PYEOF' | tee "$out/comparison.md"
import json, sys
resumed, straight = (json.load(open(p)) for p in sys.argv[1:3])
def key(t): return (t["recipe_trial"], t["state"], json.dumps(t["params"], sort_keys=True), t["value"])
a = [key(t) for t in resumed["trials"] if not t["interrupted"]]
b = [key(t) for t in straight["trials"]]
lost = [t["number"] for t in resumed["trials"] if t["interrupted"]]
print("# Killed and resumed vs uninterrupted: tune-tiktok-freedom\n")
print(f"- interrupted trial(s) of the killed driver, run again with the same params: {lost}")
print(f"- trials ended: {len(a)} resumed vs {len(b)} uninterrupted; identical (slot, state, params, valid value): {a == b}")
print(f"- best trial: resumed {resumed['best']['params']} valid {resumed['best']['value']:.6f}; uninterrupted "
      f"{straight['best']['params']} valid {straight['best']['value']:.6f}; same: "
      f"{(resumed['best']['params'], resumed['best']['value']) == (straight['best']['params'], straight['best']['value'])}")
PYEOF
