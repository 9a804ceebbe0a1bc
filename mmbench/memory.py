"""Bounded blocks for users × items (or items × items) work: no dense matrix of a whole dataset is ever held.

Evaluation scores users against every item, distillation ranks every user's items by the teacher once, and the
modality k-NN graph compares every item with every item; each does it in blocks of rows sized by
:func:`rows_per_block`, so the peak stays near ``BLOCK_ELEMENTS`` values (256 MiB of float32) however many users
or items there are. Results never depend on the block size.
"""

from __future__ import annotations

BLOCK_ELEMENTS = 1 << 26


def rows_per_block(width: int, cap: int | None = None, budget: int | None = None) -> int:
    """How many rows of ``width`` values fit in ``budget`` values (default :data:`BLOCK_ELEMENTS`; at least 1, at
    most ``cap``)."""
    rows = max(1, (BLOCK_ELEMENTS if budget is None else budget) // max(int(width), 1))
    return min(rows, cap) if cap is not None else rows
