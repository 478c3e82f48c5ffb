"""The camera's walk-through: a smooth loop at eye height, in one of ``WALK_STYLES``."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spacemind_ros.scenes.camera import Pose
from spacemind_ros.scenes.shapes import Room

# Shares of the walk: one lap while glancing left and right, a full turn on the spot, then part of the loop again.
LAP_SHARE, TURN_SHARE = 0.65, 0.15
REVISIT_LAPS = 0.3
# The steady walk: three quarters of the loop at an even pace, facing into the room, one slow sway.
STEADY_LAPS = 0.75
STEADY_FACING_DEG, STEADY_SWAY_DEG = 75.0, 15.0


@dataclass(frozen=True)
class Walk:
    """Per frame: ``positions`` [N, 3] m (world), ``yaw`` [N] and ``pitch`` [N] radians, ``stamps_ns`` [N]."""

    positions: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    stamps_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)

    def pose(self, i: int) -> Pose:
        return Pose.look(self.positions[i], float(self.yaw[i]), float(self.pitch[i]))

    def to_dict(self) -> dict:
        return {"stamps_ns": [int(s) for s in self.stamps_ns],
                "positions": np.round(self.positions, 4).tolist(),
                "yaw": np.round(self.yaw, 5).tolist(), "pitch": np.round(self.pitch, 5).tolist()}


def inset_polygon(floor, inset: float) -> np.ndarray:
    """[K, 2] the axis-aligned counter-clockwise polygon ``floor`` moved ``inset`` metres inwards."""
    p = np.asarray(floor, float)
    prev, nxt = np.roll(p, 1, axis=0), np.roll(p, -1, axis=0)
    e_in = (p - prev) / np.linalg.norm(p - prev, axis=1, keepdims=True)
    e_out = (nxt - p) / np.linalg.norm(nxt - p, axis=1, keepdims=True)
    left = lambda e: np.stack([-e[:, 1], e[:, 0]], 1)  # noqa: E731  (inward normal of a CCW edge)
    return p + inset * (left(e_in) + left(e_out))  # exact for perpendicular edges


def smooth_loop(polygon: np.ndarray, samples: int = 400, rounds: int = 4) -> np.ndarray:
    """[samples, 2] points evenly spaced by arc length along a closed Chaikin-smoothed ``polygon``."""
    p = np.asarray(polygon, float)
    for _ in range(rounds):
        q = np.roll(p, -1, axis=0)
        p = np.stack([0.75 * p + 0.25 * q, 0.25 * p + 0.75 * q], axis=1).reshape(-1, 2)
    closed = np.vstack([p, p[:1]])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    t = np.linspace(0.0, s[-1], samples, endpoint=False)
    return np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)


def loop_inset(room: Room) -> float:
    """How far the loop keeps from the walls: about a third of the narrowest part of the room, 0.8-1.6 m."""
    x0, y0, x1, y1 = room.bounds()
    narrow = min(x1 - x0, y1 - y0)
    if room.shape == "L":
        p = np.asarray(room.floor)
        narrow = min(narrow, *(np.abs(np.diff(np.vstack([p, p[:1]]), axis=0)).sum(1)))
    return float(np.clip(0.3 * narrow, 0.8, 1.6))


def walk_loop(room: Room, samples: int = 400) -> np.ndarray:
    """[samples, 2] the closed loop (x, y) the camera walks along in ``room``."""
    return smooth_loop(inset_polygon(room.floor, loop_inset(room)), samples=samples)


def _ease(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)


def wrap_angle(a) -> np.ndarray:
    """Angles (radians) wrapped to (-pi, pi]."""
    return np.angle(np.exp(1j * np.asarray(a)))


def _tour(phase: np.ndarray, swings: float):
    """Laps done at each ``phase`` (0..1 of the walk), and the view's yaw as a function of the loop's heading."""
    walking = np.where(phase < LAP_SHARE, phase / LAP_SHARE, 1.0)  # laps done, 0..1 during the first lap
    after = np.clip((phase - LAP_SHARE - TURN_SHARE) / (1.0 - LAP_SHARE - TURN_SHARE), 0.0, 1.0)
    laps = _ease(walking) + REVISIT_LAPS * after
    glance = math.radians(15.0) + math.radians(60.0) * np.sin(2 * math.pi * swings * laps)
    turning = np.clip((phase - LAP_SHARE) / TURN_SHARE, 0.0, 1.0)
    return laps, lambda heading: heading + glance + 2 * math.pi * _ease(turning)


def _steady(phase: np.ndarray, swings: float):
    """As ``_tour``; ``swings`` is not used (the sway is one, slow)."""
    sway = math.radians(STEADY_SWAY_DEG) * np.sin(2 * math.pi * phase)
    return STEADY_LAPS * phase, lambda heading: heading + math.radians(STEADY_FACING_DEG) + sway


_MOTIONS = {"tour": _tour, "steady": _steady}
WALK_STYLES = tuple(_MOTIONS)


def make_walk(room: Room, num_frames: int, fps: float, rng: np.random.Generator, start_ns: int = 0,
              eye_height: float | None = None, style: str = "tour") -> Walk:
    """A walk of ``num_frames`` frames at ``fps`` around ``room`` (counter-clockwise, so the walls are on the right).

    ``tour``: the view swings between ahead-right and well into the room on the left during the lap, turns a full
    circle on the spot, then walks on past the start (a revisit). ``steady``: three quarters of the loop at an even
    pace, facing into the room with one slow sway, so neighbouring views share much of what they show. Pitch looks
    down so floor objects stay in view. Both styles draw the same numbers from ``rng``, so what the generator draws
    after the walk (the objects) is the same for either.
    """
    if num_frames < 1:
        raise ValueError(f"a walk needs at least one frame, not {num_frames}")
    if style not in WALK_STYLES:
        raise ValueError(f"walk style {style!r} is not one of {', '.join(WALK_STYLES)}")
    loop = walk_loop(room)
    m = len(loop)
    start = rng.uniform(0.0, 1.0)
    eye = rng.uniform(1.4, 1.6) if eye_height is None else eye_height
    swings = rng.uniform(2.0, 3.0)  # left-right glances per lap
    base_pitch = math.radians(rng.uniform(-22.0, -14.0))
    phase = np.linspace(0.0, 1.0, num_frames, endpoint=num_frames > 1)
    laps, view_yaw = _MOTIONS[style](phase, swings)
    s = (start + laps) * m  # fractional index into the loop
    i0 = np.floor(s).astype(int) % m
    frac = (s - np.floor(s))[:, None]
    xy = (1 - frac) * loop[i0] + frac * loop[(i0 + 1) % m]
    tangent = loop[(i0 + 2) % m] - loop[(i0 - 2) % m]
    heading = np.arctan2(tangent[:, 1], tangent[:, 0])
    yaw = wrap_angle(view_yaw(heading))
    pitch = base_pitch + math.radians(4.0) * np.sin(2 * math.pi * 1.5 * phase)
    positions = np.column_stack([xy, np.full(num_frames, eye)])
    stamps = start_ns + np.round(np.arange(num_frames) * 1e9 / fps).astype(np.int64)
    return Walk(positions, yaw, pitch, stamps)
