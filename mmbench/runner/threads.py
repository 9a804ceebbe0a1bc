"""The CPU thread count of a run: a run setting (``mmbench run --threads``), recorded in every record.

torch's default is one thread per core. On an idle machine that is fastest; on a machine other jobs share, every
multi-threaded kernel waits for its slowest thread, and an epoch can take many times longer than with one thread
(seen here: 0.6-36 s against 0.2-0.7 s per epoch). Results can differ in the last digits between thread counts
(the reduction order of multi-threaded kernels), which is why the count is part of every record's hardware tag.
"""

from __future__ import annotations

import os

import torch

from mmbench.errors import MMBenchError

ENV = "MMBENCH_THREADS"


def threads_source() -> str:
    """Where this process's torch thread count came from, for the record."""
    if os.environ.get(ENV):
        return f"--threads / {ENV}"
    if os.environ.get("OMP_NUM_THREADS"):
        return "OMP_NUM_THREADS"
    return "torch default (one per core)"


def set_threads(threads: int | None) -> list[str]:
    """Use ``threads`` (else ``$MMBENCH_THREADS``, else torch's default) torch threads in this process and its
    children; returns advice lines to print (none on an idle machine).

    Raises:
        MMBenchError: ``$MMBENCH_THREADS`` is not a positive integer.
    """
    if threads is None and os.environ.get(ENV):
        raw = os.environ[ENV]
        if not raw.isdigit() or int(raw) < 1:
            raise MMBenchError(f"{ENV}={raw!r} is not a positive integer; fix: export {ENV}=1 (or unset it)")
        threads = int(raw)
    if threads is not None:
        os.environ[ENV] = str(threads)  # sweep workers and other children inherit it
        torch.set_num_threads(threads)
    n, cores = torch.get_num_threads(), os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return []
    if n > 1 and load >= 0.5 and load + n > cores + 0.5:
        return [f"note: this run uses {n} threads and the machine's 1-minute load is {load:.1f} on {cores} cores: "
                "with other jobs on the cores, multi-threaded kernels wait for each other and epochs can be many "
                "times slower; --threads 1 (or MMBENCH_THREADS=1) is often faster"]
    return []
