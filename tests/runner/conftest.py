from __future__ import annotations

import pytest

from mmbench.data.amazon_beauty import AmazonBeautyDataset
from mmbench.data.splits import loo_time
from mmbench.data.types import Split


@pytest.fixture(scope="session")
def small_split() -> Split:
    """Real data, small: the first 400 users of Amazon Beauty, split loo-time."""
    return loo_time(AmazonBeautyDataset(max_users=400).load())
