"""ci/analysis/serving_choices.py: counts the serving choice each validation kept, per seed and model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("serving_choices", REPO / "ci/analysis/serving_choices.py")
serving_choices = importlib.util.module_from_spec(spec)
spec.loader.exec_module(serving_choices)


def test_counts_the_head_wins_of_models_with_serving_choices_only(tmp_path):
    history = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "valid": 0.1, "serving": "no cold head"},
               {"epoch": 4, "valid": 0.2, "serving": "cold head λ=0"}, {"epoch": 6, "valid": 0.3, "serving": "no cold head"}]
    record = {"seed": 3, "models": [
        {"role": "teacher", "history": [{"epoch": 2, "valid": 0.1}], "served": None},
        {"role": "student", "history": history, "served": "no cold head (chosen on valid)",
         "slices": {"cold": {"metrics": {"NDCG@20": 0.0}}}}]}
    (tmp_path / "r-s3.json").write_text(json.dumps(record))
    (row,) = serving_choices.serving_rows(tmp_path)
    assert (row["seed"], row["role"], row["validations"], row["head_wins"]) == (3, "student", 3, 1)
    assert row["wins"] == {"no cold head": 2, "cold head λ=0": 1}
    assert row["cold_ndcg20"] == 0.0
