"""In-process time of the Python serving API on an export: import, load, a first and a next request, all users.

Run from the repository root: ``OMP_NUM_THREADS=1 python ci/bench/serve_timing.py EXPORT_FOLDER RAW_USER_ID``.
Every request is ``recommend(user, k=10, exclude_seen=True)``, exact search; the figures are printed with the
thread settings. ``mmbench recommend FOLDER --user ID --timing`` gives the same split for the command line.
"""

from __future__ import annotations

import os
import sys
import time

t0 = time.perf_counter()
from mmbench.serve import Recommender  # noqa: E402  (the import is part of what is timed)

t1 = time.perf_counter()
rec = Recommender.load(sys.argv[1])
t2 = time.perf_counter()
rec.recommend(sys.argv[2], k=10, exclude_seen=True)
t3 = time.perf_counter()
rec.recommend(rec.user_ids[1], k=10, exclude_seen=True)
t4 = time.perf_counter()
rec.recommend_many(rec.user_ids, k=10, exclude_seen=True)
t5 = time.perf_counter()
print(f"import {1e3 * (t1 - t0):.0f} ms, load {1e3 * (t2 - t1):.0f} ms (sha256 checked), first request "
      f"{1e3 * (t3 - t2):.2f} ms, next request {1e3 * (t4 - t3):.2f} ms, all {rec.n_users:,} users "
      f"{t5 - t4:.2f} s; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} CPUs")
