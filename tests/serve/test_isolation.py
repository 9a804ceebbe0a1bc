"""Serving loads nothing but the export, numpy and safetensors: not the runner, the components, the datasets,
recipes or results, nor torch, transformers or pandas, through the Python API and through `mmbench recommend`."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY_TOP = {"torch", "transformers", "pandas", "pydantic", "faiss", "sklearn", "scipy", "pyarrow", "optuna", "ray"}
HEAVY_MMBENCH = ("mmbench.runner", "mmbench.components", "mmbench.data", "mmbench.recipe", "mmbench.results",
                 "mmbench.export", "mmbench.metrics", "mmbench.interop")

REPORT = f"""
import json, sys
heavy = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY_TOP)!r}
               or m.startswith({HEAVY_MMBENCH!r}))
print(json.dumps({{"heavy": heavy, "serve": "mmbench.serve" in sys.modules}}), file=sys.stderr)
"""


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_the_python_api_imports_nothing_heavy(exported):
    folder = exported[2]
    got = _run(f"""
from mmbench.serve import Recommender
rec = Recommender.load({str(folder)!r})
rec.recommend(rec.user_ids[0], k=10, exclude_seen=True)
""" + REPORT)
    assert got == {"heavy": [], "serve": True}


def test_the_recommend_command_imports_nothing_heavy(exported):
    folder = exported[2]
    user = json.loads((folder / "ids.json").read_text())["users"][3]
    got = _run(f"""
from mmbench.cli import main
try:
    main(["recommend", {str(folder)!r}, "--user", {user!r}, "-k", "5", "--exclude-seen"], standalone_mode=False)
finally:
""" + "\n".join("    " + line for line in REPORT.strip().splitlines()))
    assert got == {"heavy": [], "serve": True}


def test_the_check_sees_a_heavy_import(exported):
    """The report above is not blind: the exporter's import pulls in the runner and torch."""
    got = _run("import mmbench.export\n" + REPORT)
    assert "torch" in got["heavy"] and "mmbench.runner.run" in got["heavy"]
