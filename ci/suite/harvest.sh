#!/usr/bin/env bash
# Bring what a suite running in another checkout has finished into this one (run from this checkout's root):
#   ci/suite/harvest.sh /path/to/worktree        (e.g. a `git worktree` running ci/suite/tuned.sh)
# Copies:
# - run records (results/runs/*/*.json) that this checkout does not have;
# - studies whose budget is spent (results/sweeps/tune-*/, storage, summary, plot, trial records) when their
#   storage differs from ours; an unfinished study is left where it runs (it resumes there);
# - tuned recipes (recipes/tuned/) and tuned KD recipes (recipes/*/kd-*tuned.yaml) that differ, and removes the
#   per-teacher KD recipes that ci/suite/kd_recipes.py removed there (committed at the worktree's HEAD, gone
#   from its disk).
# Then it lists the record folders holding more than one recipe hash (a KD recipe whose teacher changed: the
# old hash's records are superseded; git history keeps them). Afterwards: `python ci/suite/regenerate.py`, the
# tests, commit.
set -eu
src=${1:?usage: ci/suite/harvest.sh WORKTREE}
src=$(cd "$src" && pwd)
[ "$src" != "$(pwd)" ] || { echo "harvest: $src is this checkout; give the other one" >&2; exit 2; }
for f in "$src"/results/runs/*/*.json; do
  [ -e "$f" ] || continue
  rel=${f#"$src"/}
  [ -e "$rel" ] && continue
  mkdir -p "$(dirname "$rel")"; cp "$f" "$rel"; echo "record $rel"
done
for d in "$src"/results/sweeps/tune-*; do
  [ -f "$d/summary.json" ] || continue
  rel=${d#"$src"/}
  python3 - "$d/summary.json" <<'PY' || { echo "study $rel: not ended, left there"; continue; }
import json, sys
s = json.load(open(sys.argv[1]))
e = s["ended"]
sys.exit(0 if e["complete"] + e["pruned"] + e["fail"] >= s["budget"]["trials"] else 1)
PY
  if ! cmp -s "$d/study.db" "$rel/study.db"; then
    mkdir -p "$rel"; cp -a "$d/." "$rel/"; rm -f "$rel/.study.lock"; echo "study $rel"
  fi
done
for f in "$src"/recipes/tuned/*/*.yaml "$src"/recipes/*/kd-*tuned.yaml; do
  [ -e "$f" ] || continue
  rel=${f#"$src"/}
  if ! cmp -s "$f" "$rel"; then mkdir -p "$(dirname "$rel")"; cp "$f" "$rel"; echo "recipe $rel"; fi
done
for rel in $(git -C "$src" ls-tree -r --name-only HEAD -- recipes | grep -E '^recipes/[^/]+/kd-[a-z0-9]+-tuned\.yaml$'); do
  if [ ! -e "$src/$rel" ] && [ -e "$rel" ]; then git rm -q "$rel" 2>/dev/null || rm "$rel"; echo "removed $rel (removed there)"; fi
done
python3 - <<'PY'
import json
from collections import defaultdict
from pathlib import Path

for folder in sorted(Path("results/runs").iterdir()):
    hashes = defaultdict(int)
    for f in folder.glob("*.json"):
        hashes[json.loads(f.read_text())["recipe"]["hash"][:8]] += 1
    if len(hashes) > 1:
        print(f"{folder}: records of {len(hashes)} recipe hashes {dict(hashes)}: the older are superseded")
PY
