"""The allocator setting the command line applies: glibc keeps large freed blocks for reuse."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

import pytest

from mmbench import allocator


def test_off_switch(monkeypatch):
    monkeypatch.setenv(allocator.ENV, "0")
    assert allocator.keep_freed_memory() is False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_large_blocks_come_from_the_heap_afterwards(monkeypatch):
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("glibc < 2.33 has no mallinfo2")

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mmapped_while_holding(nbytes: int) -> int:
        ptr = libc.malloc(nbytes)
        try:
            return libc.mallinfo2().hblks
        finally:
            libc.free(ptr)

    monkeypatch.delenv(allocator.ENV, raising=False)
    assert allocator.keep_freed_memory() is True
    before = libc.mallinfo2().hblks
    assert mmapped_while_holding(64 << 20) == before  # 64 MB: from the heap, no mmap of its own
