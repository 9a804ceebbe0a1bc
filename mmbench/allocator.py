"""Keep freed memory in the process (glibc): large tensors are then allocated without page faults.

glibc's ``malloc`` serves every block above ``M_MMAP_THRESHOLD`` (at most 32 MiB by default) with a fresh
``mmap`` and returns it to the system on ``free``, so each such tensor is zero-filled page by page by the kernel
on first touch. Training and evaluation allocate many same-sized ones per step (a LightGCN layer's output on
Amazon Beauty is 34k × 64 floats = 8.9 MB; an evaluation batch of scores is 4,096 × 12,101 floats = 198 MB).
Raising the thresholds keeps them in the heap for reuse: in the Beauty parity runs (``results/parity/``, 2 CPU
cores) the median LightGCN epoch went from 1.59 s to 1.16 s and 36 validation passes from 32.3 s to 20.7 s,
with identical metrics. The price is that the
process keeps its peak memory until it exits, which suits a benchmark run. The command line applies it;
``MMBENCH_MALLOC_TUNING=0`` turns it off. Elsewhere (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
SETTINGS = {M_MMAP_THRESHOLD: 1 << 30, M_TRIM_THRESHOLD: (1 << 31) - 1, M_TOP_PAD: 256 << 20}
ENV = "MMBENCH_MALLOC_TUNING"


def keep_freed_memory() -> bool:
    """Apply :data:`SETTINGS` with glibc's ``mallopt``; True if every setting was accepted."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
