"""Process-wide settings for a long-running node that copies camera frames while a model runs beside it."""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3


def tune_for_streaming(gil_switch_interval_s: float = 0.0002, keep_heap_mb: int = 512) -> None:
    """Lower image-intake latency beside inference. Safe to call more than once; a no-op off glibc.

    - GIL hand-over every ``gil_switch_interval_s`` instead of Python's 5 ms: an image callback otherwise waits up
      to 5 ms behind the query thread's Python between torch ops.
    - glibc serves frame-sized blocks (< 64 MB) from the heap and keeps up to ``keep_heap_mb`` of freed heap:
      otherwise every 0.9 MB frame copy gets fresh pages from the kernel and pays ~0.3 ms in page faults.
    """
    sys.setswitchinterval(gil_switch_interval_s)
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("mallopt not available; keeping the allocator's defaults")
        return
    ok = mallopt(_M_MMAP_THRESHOLD, 64 << 20) and mallopt(_M_TRIM_THRESHOLD, keep_heap_mb << 20)
    if not ok:
        log.warning("mallopt refused the streaming settings; frame copies may be slower")
