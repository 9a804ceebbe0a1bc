"""Fixtures of the results tests: the figures a test saved."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """The matplotlib figures saved during the test (by any module), in order."""
    from matplotlib.figure import Figure

    seen: list[Any] = []
    savefig = Figure.savefig

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", spy)
    yield seen
