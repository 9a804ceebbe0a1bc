"""Checks shared by the embedded-dataset tests: git blob SHAs of shipped files against their PROVENANCE.md."""

from __future__ import annotations

import gzip
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


def assert_ships_exactly(folder: Path, shipped: set[str]) -> None:
    """The folder holds exactly ``shipped``, and every data file matches its PROVENANCE blob SHA and size
    (a ``.gz`` file is checked by its decompressed bytes, as the PROVENANCE says)."""
    assert {p.name for p in folder.iterdir()} == shipped
    table = provenance_table(folder)
    assert set(table) == shipped - {"PROVENANCE.md"}
    for name, (sha, size) in table.items():
        content = (folder / name).read_bytes()
        if name.endswith(".gz"):
            content = gzip.decompress(content)
        assert (blob_sha(content), len(content)) == (sha, size), name
