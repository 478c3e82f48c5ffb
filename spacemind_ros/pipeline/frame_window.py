"""A bounded, thread-safe window of timestamped keyframes, and uniform sampling over it."""
from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from spacemind_ros.errors import BadRequestError, NotEnoughFramesError


@dataclass
class WindowConfig:
    max_frames: int = 128  # memory bound: frames (and their cached features) held at most
    duration_s: float = 60.0  # frames older than newest - duration are evicted
    min_gap_s: float = 0.25  # keyframe policy: a frame closer than this to a kept neighbour is skipped
    sample_frames: int = 34  # sampled uniformly over the window at query time ...
    drop_ends: int = 1  # ... minus this many at each end -> 32
    min_frames: int = 4  # fewer frames than this answers NOT_ENOUGH_FRAMES

    def __post_init__(self):
        if self.max_frames < 1 or self.duration_s <= 0 or self.min_gap_s < 0:
            raise ValueError("max_frames >= 1, duration_s > 0 and min_gap_s >= 0 are required")
        if self.min_frames < 1 or self.sample_frames - 2 * self.drop_ends < 1:
            raise ValueError("min_frames and sample_frames - 2 * drop_ends must be at least 1")

    @property
    def target_frames(self) -> int:
        return self.sample_frames - 2 * self.drop_ends


@dataclass(eq=False)
class Frame:
    stamp_ns: int
    image: np.ndarray  # [H, W, 3] uint8 RGB, owned by the window
    camera_info: object | None = None
    features: object | None = field(default=None, repr=False)  # per-frame InternViT tokens, filled by a worker
    vggt_input: object | None = field(default=None, repr=False)  # [3, H, W] uint8 at VGGT's size, same worker


@dataclass
class IngestStats:
    offered: int = 0
    kept: int = 0
    skipped_gap: int = 0
    duplicates: int = 0
    too_old: int = 0
    invalid: int = 0
    evicted: int = 0


def validate_image(image) -> np.ndarray:
    """``[H, W, 3]`` uint8 (or float in [0, 1], converted) -> uint8; raises BadRequestError otherwise."""
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise BadRequestError(f"frame must be [H, W, 3] RGB, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise BadRequestError("frame contains NaN or inf values")
        return (np.clip(arr, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    raise BadRequestError(f"frame dtype {arr.dtype} is not supported (uint8, or float in [0, 1])")


def sample_indices(n: int, config: WindowConfig) -> list[int]:
    """Uniform sample of ``n`` window frames: 34 over the window, first and last dropped (32); fewer if n is small."""
    target = config.target_frames
    if n >= config.sample_frames:
        idx = np.linspace(0, n - 1, config.sample_frames).round().astype(int)
        return idx[config.drop_ends: len(idx) - config.drop_ends].tolist()
    if n > target:
        return np.linspace(0, n - 1, target).round().astype(int).tolist()
    return list(range(n))


class FrameWindow:
    """Keyframes sorted by stamp. ``offer`` is cheap (a decision and at most a copy) and safe beside queries."""

    def __init__(self, config: WindowConfig | None = None, on_keyframe: Callable[[Frame], None] | None = None,
                 on_evict: Callable[[Frame], None] | None = None):
        self.config = config or WindowConfig()
        self._frames: list[Frame] = []
        self._stamps: list[int] = []
        self._lock = threading.Lock()
        self.stats = IngestStats()
        self.on_keyframe = on_keyframe
        self.on_evict = on_evict

    def __len__(self) -> int:
        return len(self._frames)

    def offer(self, stamp_ns: int, image, camera_info=None, copy: bool = True) -> bool:
        """Consider one frame; returns True if kept as a keyframe. Bad frames raise BadRequestError (counted).

        ``copy=False`` keeps the caller's array as it is (made C-contiguous): only for buffers nobody writes to
        afterwards, such as a received message's data. The default copies, so a reused camera buffer is safe.
        """
        cfg = self.config
        gap = int(cfg.min_gap_s * 1e9)
        with self._lock:
            self.stats.offered += 1
        try:
            image = validate_image(image)
        except BadRequestError:
            with self._lock:
                self.stats.invalid += 1
            raise
        evicted: list[Frame] = []
        with self._lock:
            stamps = self._stamps
            if stamps and stamp_ns < stamps[-1] - int(cfg.duration_s * 1e9):
                self.stats.too_old += 1
                return False
            i = bisect.bisect_left(stamps, stamp_ns)
            if i < len(stamps) and stamps[i] == stamp_ns:
                self.stats.duplicates += 1
                return False
            # Out-of-order frames are inserted in place, under the same gap rule against both neighbours.
            if (i > 0 and stamp_ns - stamps[i - 1] < gap) or (i < len(stamps) and stamps[i] - stamp_ns < gap):
                self.stats.skipped_gap += 1
                return False
            frame = Frame(int(stamp_ns), np.array(image, copy=True) if copy else np.ascontiguousarray(image),
                          camera_info)
            stamps.insert(i, frame.stamp_ns)
            self._frames.insert(i, frame)
            self.stats.kept += 1
            horizon = stamps[-1] - int(cfg.duration_s * 1e9)
            while stamps and (stamps[0] < horizon or len(stamps) > cfg.max_frames):
                stamps.pop(0)
                evicted.append(self._frames.pop(0))
            self.stats.evicted += len(evicted)
        for old in evicted:
            old.features = old.vggt_input = None  # free what was cached with the frame
            if self.on_evict:
                self.on_evict(old)
        if self.on_keyframe and all(frame is not old for old in evicted):
            self.on_keyframe(frame)
        return True

    def frames(self) -> list[Frame]:
        with self._lock:
            return list(self._frames)

    def sample(self, until_ns: int | None = None) -> list[Frame]:
        """The frames a query uses: up to ``until_ns`` (None = latest), sampled uniformly."""
        with self._lock:
            frames = list(self._frames)
        if not frames:
            raise NotEnoughFramesError(
                f"no frames yet: at least {self.config.min_frames} are needed; publish images first")
        if until_ns is not None:
            if until_ns < frames[0].stamp_ns:
                raise BadRequestError(
                    f"'until' ({until_ns} ns) is before the oldest frame in the window ({frames[0].stamp_ns} ns)")
            frames = frames[: bisect.bisect_right([f.stamp_ns for f in frames], until_ns)]
        if len(frames) < self.config.min_frames:
            raise NotEnoughFramesError(
                f"{len(frames)} frame(s) in the window, at least {self.config.min_frames} are needed; "
                "wait for more frames (keyframes need min_gap_s between them)")
        return [frames[i] for i in sample_indices(len(frames), self.config)]

    def latest_stamp(self) -> int | None:
        with self._lock:
            return self._stamps[-1] if self._stamps else None
