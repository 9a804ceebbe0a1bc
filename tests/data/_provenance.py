"""Checks shared by the embedded-dataset tests: git blob SHAs of shipped files against their PROVENANCE.md."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path


def blob_sha(data: bytes) -> str:
    """What ``git hash-object`` prints for a file with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def provenance_table(folder: Path) -> dict[str, tuple[str, int]]:
    """``{shipped file: (git blob, bytes)}`` from the rows of PROVENANCE.md that name a file in ``folder``."""
    rows = {}
    for line in (folder / "PROVENANCE.md").read_text().splitlines():
        m = re.match(r"^\|\s*(\S+)\s*\|.*?\|\s*([0-9a-f]{40})\b[^|]*\|\s*(\d+)", line)
        if m and (folder / m.group(1)).is_file():
            rows[m.group(1)] = (m.group(2), int(m.group(3)))
    return rows
