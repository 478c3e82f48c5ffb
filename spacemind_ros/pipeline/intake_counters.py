"""Intake bookkeeping the node reports in /diagnostics (ROS-free): drops by reason, and the unset-stamp policy."""
from __future__ import annotations

import threading
from collections import Counter


def resolve_stamp(stamp_ns: int, now_ns: int) -> int | None:
    """A frame's stamp for the window: its own, or (stamp 0 = unset, as some drivers send) its arrival time.

    None when the stamp is unset and there is no time yet either (use_sim_time before the first /clock): the
    frame is dropped as ``zero_stamp``.
    """
    if stamp_ns:
        return stamp_ns
    return now_ns or None


class DropCounter:
    """Thread-safe counts of frames dropped before the window saw them, by reason (decode, zero_stamp, ...)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1

    def as_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


def drop_summary(node_drops: dict[str, int], window_drops: dict[str, int] | None) -> dict[str, int]:
    """``frames_dropped`` (every reason together) and ``dropped_<reason>`` for each reason, for /diagnostics."""
    merged = Counter(window_drops or {})
    merged.update(node_drops)
    return {"frames_dropped": sum(merged.values()), **{f"dropped_{k}": v for k, v in sorted(merged.items())}}
