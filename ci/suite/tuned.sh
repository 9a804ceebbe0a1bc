#!/usr/bin/env bash
# The fair leaderboard of one or more datasets, from scratch or from wherever it stopped:
#   ci/suite/tuned.sh tiktok lastfm beauty        (dataset names as in recipes/sweeps/tune-<dataset>-<model>.yaml)
# 1. every tuning study of the dataset (recipes/sweeps/tune-<dataset>-*.yaml; a study resumes from its storage and
#    skips when its budget is spent), which writes recipes/tuned/<dataset dir>/<dataset>-<model>.yaml;
# 2. every tuned recipe with 5 seeds (--missing: only the seeds without a record), all in one `mmbench run`;
# 3. the tuned KD recipes, in a second one (recipes/<dataset>/kd-*tuned.yaml), once the recipes they include exist: before the runs,
#    ci/suite/kd_recipes.py points kd-tuned.yaml (and kd-adapter-tuned.yaml) at the best tuned teacher on valid
#    once every teacher study has ended, and writes kd-<model>-tuned.yaml for the other ported teachers (commit
#    them with the records). If that changes a tracked recipe, the dataset's runs wait for it to be committed (a
#    record made meanwhile would say its tree was dirty).
# Each step runs as Ray tasks on 2 local workers (MMBENCH_SUITE_BACKEND="--backend local" to run in-process).
# Start it from a clean checkout (records say whether the tree was dirty), e.g. a `git worktree`.
set -u
backend=${MMBENCH_SUITE_BACKEND:-"--backend ray --workers 2"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export MMBENCH_RESULTS_DIR=${MMBENCH_RESULTS_DIR:-results}  # the committed suite (runs and sweeps default elsewhere)
status=0
for ds in "$@"; do
  dir=$ds; [ "$ds" = beauty ] && dir=amazon-beauty
  for sweep in recipes/sweeps/tune-"$ds"-*.yaml; do
    echo "=== $(date -u +%FT%T) study $sweep"
    mmbench sweep "$sweep" $backend || { echo "FAILED $sweep"; status=1; }
  done
  before=$(git status --porcelain --untracked-files=no -- . ':(exclude)results')
  python ci/suite/kd_recipes.py "$ds"  # a KD recipe for each ported teacher the studies have tuned
  if [ "$(git status --porcelain --untracked-files=no -- . ':(exclude)results')" != "$before" ]; then
    # a rewritten kd-tuned.yaml is a tracked recipe: every record made now would say the tree was dirty
    echo "=== $(date -u +%FT%T) $ds: kd_recipes.py changed tracked recipes; commit them, then re-run" \
         "ci/suite/tuned.sh $ds (its runs are skipped until then)"
    git status --short --untracked-files=no -- recipes
    status=1
    continue
  fi
  # the tuned recipes in one call (one pool of seeds: no worker waits for a recipe's last seed), then the KD
  # recipes in a second, once the teachers they reuse are trained
  for group in "recipes/tuned/$dir/$ds-*.yaml" "recipes/$ds/kd-*tuned.yaml"; do
    set -- $group
    [ -f "$1" ] || continue
    echo "=== $(date -u +%FT%T) run $*"
    mmbench run "$@" --missing $backend || { echo "FAILED $group"; status=1; }
  done
done
echo "=== $(date -u +%FT%T) done (status $status)"
exit $status
