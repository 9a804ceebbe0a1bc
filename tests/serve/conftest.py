from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _exports import write_export


@pytest.fixture
def toy(tmp_path) -> Path:
    """5 users × 7 items, random tables, a few seen items each."""
    rng = np.random.default_rng(1)
    return write_export(tmp_path / "toy", rng.normal(size=(5, 4)), rng.normal(size=(7, 4)),
                        [[0, 3], [], [6], [1, 2, 4, 5], [0]])
