"""A bounded, thread-safe window of timestamped keyframes, and uniform sampling over it.

Intake policies (docs/reliability.md): a frame stamped more than ``max_stamp_jump_s`` ahead of the newest frame
(or that far behind it, or older than the window) is dropped and counted, so one bad stamp cannot evict the window;
``jump_confirm_frames`` consecutive frames that agree with each other confirm a real time jump (a bag restarted
or looped, a clock reset) and the window follows them. Frames wider or taller than ``max_aspect`` are rejected,
frames over ``max_pixels`` are downscaled by an integer factor, and the pixels held stay under ``max_bytes``.
"""
from __future__ import annotations

import bisect
import math
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
    max_bytes: int = 1 << 30  # pixel bytes held at most (0 = no bound); the oldest frames go first
    max_pixels: int = 1920 * 1080  # larger frames are downscaled on intake (integer factor; 0 = never)
    max_aspect: float = 8.0  # frames wider or taller than this are rejected (0 = any aspect)
    max_stamp_jump_s: float = 10.0  # frames this far ahead of (or behind) the newest are dropped ...
    jump_confirm_frames: int = 3  # ... until this many consistent ones in a row confirm a real time jump

    def __post_init__(self):
        if self.max_frames < 1 or self.duration_s <= 0 or self.min_gap_s < 0:
            raise ValueError("max_frames >= 1, duration_s > 0 and min_gap_s >= 0 are required")
        if self.max_bytes < 0 or self.max_pixels < 0 or self.max_aspect < 0 or self.max_stamp_jump_s <= 0 \
                or self.jump_confirm_frames < 1:
            raise ValueError("max_bytes, max_pixels, max_aspect >= 0, max_stamp_jump_s > 0 and "
                             "jump_confirm_frames >= 1 are required")
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
    future: int = 0  # stamped more than max_stamp_jump_s ahead of the newest frame
    aspect: int = 0  # wider or taller than max_aspect
    too_large: int = 0  # more bytes than the whole window may hold
    downscaled: int = 0  # kept, at fewer pixels
    time_jumps: int = 0  # confirmed jumps of the stream's time that the window followed

    DROP_REASONS = ("duplicate", "too_old", "future", "invalid", "aspect", "too_large")

    def drops(self) -> dict[str, int]:
        """Frames dropped, by reason (the keyframe gap is a policy, not a drop: ``skipped_gap``)."""
        return {r: getattr(self, "duplicates" if r == "duplicate" else r) for r in self.DROP_REASONS}


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


def downscale(image: np.ndarray, max_pixels: int) -> np.ndarray:
    """``[H, W, 3]`` uint8 -> box-averaged by the smallest integer factor that brings it to <= ``max_pixels``."""
    from PIL import Image

    h, w = image.shape[:2]
    k = max(2, math.ceil(math.sqrt(h * w / max_pixels)))
    while math.ceil(h / k) * math.ceil(w / k) > max_pixels:
        k += 1
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).reduce(k))


def sample_indices(n: int, config: WindowConfig) -> list[int]:
    """Uniform sample of ``n`` window frames: 34 over the window, first and last dropped (32); fewer if n is small."""
    target = config.target_frames
    if n >= config.sample_frames:
        idx = np.linspace(0, n - 1, config.sample_frames).round().astype(int)
        return idx[config.drop_ends: len(idx) - config.drop_ends].tolist()
    if n > target:
        return np.linspace(0, n - 1, target).round().astype(int).tolist()
    return list(range(n))


class _Rejected(BadRequestError):
    """A frame refused by the size policy (already counted under its reason, not as invalid)."""


class FrameWindow:
    """Keyframes sorted by stamp. ``offer`` is cheap (a decision and at most a copy) and safe beside queries."""

    def __init__(self, config: WindowConfig | None = None, on_keyframe: Callable[[Frame], None] | None = None,
                 on_evict: Callable[[Frame], None] | None = None):
        self.config = config or WindowConfig()
        self._frames: list[Frame] = []
        self._stamps: list[int] = []
        self._lock = threading.Lock()
        self.stats = IngestStats()
        self.nbytes = 0  # pixel bytes held
        self._jump_run: list[int] = []  # stamps of the latest consecutive outliers (a time jump, if consistent)
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
        if image.shape[0] * image.shape[1] > cfg.max_pixels > 0 and self._skipped_anyway(stamp_ns, gap):
            return False  # spare the downscale of a frame the keyframe rule drops (4K at 30 Hz: most of them)
        fitted = self._fit(image)  # raises (counted under its reason) for a frame the size policy refuses
        copy = copy and fitted is image  # a downscaled frame is already our own array
        image = fitted
        evicted: list[Frame] = []
        with self._lock:
            stamps = self._stamps
            if stamps and not self._follows_stream(stamp_ns, evicted):
                return False
            i = bisect.bisect_left(stamps, stamp_ns)
            if self._duplicate_or_too_close(i, stamp_ns, gap):
                return False
            frame = Frame(int(stamp_ns), np.array(image, copy=True) if copy else np.ascontiguousarray(image),
                          camera_info)
            stamps.insert(i, frame.stamp_ns)
            self._frames.insert(i, frame)
            self.nbytes += frame.image.nbytes
            self.stats.kept += 1
            horizon = stamps[-1] - int(cfg.duration_s * 1e9)
            while stamps and (stamps[0] < horizon or len(stamps) > cfg.max_frames
                              or (cfg.max_bytes and self.nbytes > cfg.max_bytes)):
                self._pop_oldest(evicted)
        self._release(evicted)
        if self.on_keyframe and all(frame is not old for old in evicted):
            self.on_keyframe(frame)
        return True

    def _skipped_anyway(self, stamp_ns: int, gap: int) -> bool:
        """The duplicate and keyframe-gap rules alone, for a frame inside the stream's time (counted if skipped)."""
        with self._lock:
            stamps = self._stamps
            jump = int(self.config.max_stamp_jump_s * 1e9)
            if not stamps or not stamps[-1] - min(jump, int(self.config.duration_s * 1e9)) <= stamp_ns <= \
                    stamps[-1] + jump:
                return False
            self._jump_run.clear()  # a frame of the stream's own time, as in _follows_stream
            return self._duplicate_or_too_close(bisect.bisect_left(stamps, stamp_ns), stamp_ns, gap)

    def _duplicate_or_too_close(self, i: int, stamp_ns: int, gap: int) -> bool:
        """Under the lock, ``i`` the insertion point: True (counted) for a stamp already held or closer than ``gap``
        to a neighbour. Out-of-order frames are inserted in place, under the same gap rule against both neighbours."""
        stamps = self._stamps
        if i < len(stamps) and stamps[i] == stamp_ns:
            self.stats.duplicates += 1
            return True
        if (i > 0 and stamp_ns - stamps[i - 1] < gap) or (i < len(stamps) and stamps[i] - stamp_ns < gap):
            self.stats.skipped_gap += 1
            return True
        return False

    def _fit(self, image: np.ndarray) -> np.ndarray:
        """The size policy: reject extreme aspect ratios and frames over the byte budget; downscale big ones."""
        cfg = self.config
        h, w = image.shape[:2]
        if cfg.max_aspect and max(h, w) > cfg.max_aspect * min(h, w):
            with self._lock:
                self.stats.aspect += 1
            raise _Rejected(f"frame {w}x{h} has an aspect ratio over {cfg.max_aspect:g}:1 (max_aspect)")
        if cfg.max_pixels and h * w > cfg.max_pixels:
            image = downscale(image, cfg.max_pixels)
            with self._lock:
                self.stats.downscaled += 1
        if cfg.max_bytes and image.nbytes > cfg.max_bytes:
            with self._lock:
                self.stats.too_large += 1
            raise _Rejected(f"frame of {image.nbytes} bytes is larger than the window's {cfg.max_bytes} bytes "
                            "(window_max_bytes)")
        return image

    def _follows_stream(self, stamp_ns: int, evicted: list[Frame]) -> bool:
        """Stamp policy (under the lock, window not empty): False drops the frame (counted)."""
        cfg = self.config
        newest = self._stamps[-1]
        jump = int(cfg.max_stamp_jump_s * 1e9)
        behind = min(jump, int(cfg.duration_s * 1e9))
        if newest - behind <= stamp_ns <= newest + jump:
            self._jump_run.clear()
            return True
        run = self._jump_run
        if run and not 0 < stamp_ns - run[-1] <= jump:
            run.clear()  # not consistent with the previous outliers: a new run starts here
        run.append(stamp_ns)
        if len(run) < cfg.jump_confirm_frames:
            if stamp_ns > newest:
                self.stats.future += 1
            else:
                self.stats.too_old += 1
            return False
        # A real jump: the stream's time moved. Behind: the old timeline goes; ahead: the horizon evicts it.
        run.clear()
        self.stats.time_jumps += 1
        if stamp_ns < newest:
            while self._stamps:
                self._pop_oldest(evicted)
        return True

    def _pop_oldest(self, evicted: list[Frame]) -> None:
        self._stamps.pop(0)
        old = self._frames.pop(0)
        self.nbytes -= old.image.nbytes
        self.stats.evicted += 1
        evicted.append(old)

    def _release(self, evicted: list[Frame]) -> None:
        for old in evicted:
            old.features = old.vggt_input = None  # free what was cached with the frame
            if self.on_evict:
                self.on_evict(old)

    def drops(self) -> dict[str, int]:
        with self._lock:
            return self.stats.drops()

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
