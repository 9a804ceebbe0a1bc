from __future__ import annotations

import pytest

from mmbench.data.load import load_dataset
from mmbench.data.splits import loo_time
from mmbench.data.types import Split


@pytest.fixture(scope="session")
def small_split() -> Split:
    """Real data, small: the first 400 users of Amazon Beauty, split loo-time."""
    return loo_time(load_dataset("amazon-beauty", {"max_users": 400}).interactions)
