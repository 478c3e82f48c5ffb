"""A bounded buffer of odometry positions, looked up at frame stamps (linear interpolation)."""
from __future__ import annotations

import bisect
import threading
from collections import deque

import numpy as np


class OdometryBuffer:
    """Stamped positions (ns, metres, in ``frame_id``), newest last; at most ``max_samples`` kept."""

    def __init__(self, max_samples: int = 2000, max_gap_s: float = 0.5):
        self.max_gap_ns = int(max_gap_s * 1e9)
        self.frame_id = ""
        self._stamps: deque[int] = deque(maxlen=max_samples)
        self._positions: deque[tuple[float, float, float]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._stamps)

    def add(self, stamp_ns: int, position, frame_id: str = "") -> None:
        """Samples arriving out of order are dropped (odometry is published in time order)."""
        with self._lock:
            if self._stamps and stamp_ns <= self._stamps[-1]:
                return
            self._stamps.append(int(stamp_ns))
            self._positions.append(tuple(float(v) for v in position))
            if frame_id:
                self.frame_id = frame_id

    def positions_at(self, stamps_ns) -> tuple[np.ndarray, np.ndarray]:
        """(positions ``[S, 3]``, found ``[S]`` bool): interpolated between the samples around each stamp, if the
        nearer one is within ``max_gap_s`` (found False otherwise; those rows are NaN)."""
        with self._lock:
            stamps, positions = list(self._stamps), np.asarray(self._positions, dtype=np.float64).reshape(-1, 3)
        out = np.full((len(stamps_ns), 3), np.nan)
        found = np.zeros(len(stamps_ns), bool)
        for n, t in enumerate(stamps_ns):
            i = bisect.bisect_left(stamps, t)
            lo, hi = max(i - 1, 0), min(i, len(stamps) - 1)
            if not stamps or min(abs(stamps[lo] - t), abs(stamps[hi] - t)) > self.max_gap_ns:
                continue
            if stamps[hi] == stamps[lo] or not stamps[lo] <= t <= stamps[hi]:
                out[n] = positions[lo if abs(stamps[lo] - t) <= abs(stamps[hi] - t) else hi]
            else:
                a = (t - stamps[lo]) / (stamps[hi] - stamps[lo])
                out[n] = (1 - a) * positions[lo] + a * positions[hi]
            found[n] = True
        return out, found
