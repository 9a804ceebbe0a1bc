"""The README's main job, end to end on the full embedded data (slow: run with `pytest -m slow`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmbench.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.integration
def test_quickstart_lands_in_the_literature_range(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["run", str(ROOT / "recipes" / "quickstart.yaml"), "--seed", "0",
                                  "--results-dir", str(tmp_path), "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = json.loads(runner.invoke(main, ["leaderboard", "--results-dir", str(tmp_path), "--format", "json"]).output)
    by = {r["component"]: r for r in rows}
    # PROTOCOL.md, same split: RecBole Pop HR@10 0.0115 / NDCG@10 0.0056; RecBole BPR-MF HR@10 0.0357 / NDCG@10 0.0176
    assert by["pop"]["HR@10"] == pytest.approx(0.0115, abs=0.001)
    assert by["pop"]["NDCG@10"] == pytest.approx(0.0056, abs=0.0005)
    assert 0.028 < by["mf"]["HR@10"] < 0.045 and 0.013 < by["mf"]["NDCG@10"] < 0.023
    assert by["mf"]["latency_ms_p50"] > 0 and by["mf"]["params"] == 64 * (22363 + 12101)
