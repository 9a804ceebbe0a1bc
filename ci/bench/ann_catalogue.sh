#!/usr/bin/env bash
# Approximate search on a catalogue of about a million items, in one command (from the repository root):
#   ci/bench/ann_catalogue.sh [OUT_JSON]        (default results/bench/ann/ann-synthetic-1m-<date>.json)
# 1. trains MF on the seeded synthetic log of recipes/scale/synthetic-mf-1m-items.yaml (records and the export go
#    to $MMBENCH_ANN_WORK, default ./mmbench-ann-1m, never into the committed results/);
# 2. exports the student with its faiss HNSW index (the export is verified against the record's test metrics);
# 3. measures recall@10 against exact search over every user and the one-user query time, with seen items
#    included, at several efSearch values; one thread for the queries (the setting for single requests).
# Training and the index build use $MMBENCH_BUILD_THREADS threads (default 2).
set -euo pipefail
out=${1:-results/bench/ann/ann-synthetic-1m-$(date -u +%F).json}
work=${MMBENCH_ANN_WORK:-mmbench-ann-1m}
threads=${MMBENCH_BUILD_THREADS:-2}
recipe=recipes/scale/synthetic-mf-1m-items.yaml
mkdir -p "$work"
OMP_NUM_THREADS=$threads mmbench run "$recipe" --missing --threads "$threads" --results-dir "$work/results"
rm -rf "$work/export"
OMP_NUM_THREADS=$threads mmbench export --recipe synthetic-mf-1m-items --results-dir "$work/results" \
  --out "$work/export" --ann
OMP_NUM_THREADS=1 mmbench bench ann "$work/export" --include-seen --ef-search 16,64,128,256 --out "$out"
