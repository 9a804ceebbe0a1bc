"""Facts about the code and machine that produced a run: git SHA, package versions, hardware tag."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import torch

from mmbench.runner.threads import threads_source

import mmbench

_PACKAGES = ("mmbench", "torch", "numpy", "pandas", "pydantic", "pyyaml", "click")


def git_info() -> dict[str, Any]:
    """SHA and dirtiness of the git checkout holding the mmbench package, or ``"unknown"``.

    Dirty means tracked code, recipes or data differ from the commit; run outputs under ``results/`` do not
    count (writing them is what runs do).
    """
    root = Path(mmbench.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":(exclude)results"],
                               capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {"sha": "unknown", "dirty": None}
    changed = [line[3:] for line in dirty.splitlines() if len(line) > 3]  # porcelain: "XY path"
    # which files differ, so a reader can tell a dirty record's difference (the first 50; the count is exact)
    return {"sha": sha, "dirty": bool(changed), **({"changed": changed[:50], "n_changed": len(changed)} if changed else {})}


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@cache
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device | None = None) -> dict[str, Any]:
    """The hardware tag (``cpu:<model>:<threads>t`` or ``cuda:<gpu>``) and its parts."""
    device = device or torch.device("cpu")
    info: dict[str, Any] = {"device": device.type, "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                            "torch_threads": torch.get_num_threads(), "threads_from": threads_source(),
                            "machine": platform.machine()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["tag"] = f"cuda:{info['gpu']}"
    else:
        info["tag"] = f"cpu:{info['cpu']}:{info['torch_threads']}t"
    return info
