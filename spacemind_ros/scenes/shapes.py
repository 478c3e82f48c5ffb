"""Scene geometry: objects as vertical prisms and rooms as axis-aligned floor polygons (world frame, metres).

World frame (REP-103): x and y span the floor, z points up, the floor is z = 0. Every object is a vertical prism,
an axis-aligned rectangle or a disk extruded over [z0, z1], so closest-point distances are exact:
the distance between two prisms is sqrt(d_xy^2 + d_z^2) with d_xy the footprint distance and d_z the height gap.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prism:
    """``kind`` "box": footprint centre ``center`` (x, y) and half extents ``half`` (hx, hy);
    "cylinder": centre and radius ``half[0]`` (= ``half[1]``). Height interval ``z`` = (bottom, top)."""

    kind: str
    center: tuple[float, float]
    half: tuple[float, float]
    z: tuple[float, float]

    @property
    def lo(self) -> np.ndarray:
        """[3] lower corner of the bounding box."""
        return np.array([self.center[0] - self.half[0], self.center[1] - self.half[1], self.z[0]])

    @property
    def hi(self) -> np.ndarray:
        """[3] upper corner of the bounding box."""
        return np.array([self.center[0] + self.half[0], self.center[1] + self.half[1], self.z[1]])

    @property
    def size(self) -> tuple[float, float, float]:
        """(x extent, y extent, height) in metres; a cylinder's footprint extents are its diameter."""
        return 2 * self.half[0], 2 * self.half[1], self.z[1] - self.z[0]

    @property
    def longest_dimension(self) -> float:
        return max(self.size)

    def corners(self) -> np.ndarray:
        """[8, 3] corners of the bounding box."""
        lo, hi = self.lo, self.hi
        return np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                         for i in (0, 1) for j in (0, 1) for k in (0, 1)])

    def footprint_distance(self, xy) -> np.ndarray:
        """Distance in the floor plane from points ``xy`` [..., 2] to the footprint (0 inside)."""
        d = np.abs(np.asarray(xy, float) - np.asarray(self.center))
        if self.kind == "cylinder":
            return np.maximum(np.hypot(d[..., 0], d[..., 1]) - self.half[0], 0.0)
        g = np.maximum(d - np.asarray(self.half), 0.0)
        return np.hypot(g[..., 0], g[..., 1])


def _interval_gap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(a[0] - b[1], b[0] - a[1], 0.0)


def footprint_gap(a: Prism, b: Prism) -> float:
    """Distance between the two footprints in the floor plane (0 when they overlap)."""
    if a.kind == "box" and b.kind == "box":
        gx = _interval_gap((a.center[0] - a.half[0], a.center[0] + a.half[0]),
                           (b.center[0] - b.half[0], b.center[0] + b.half[0]))
        gy = _interval_gap((a.center[1] - a.half[1], a.center[1] + a.half[1]),
                           (b.center[1] - b.half[1], b.center[1] + b.half[1]))
        return math.hypot(gx, gy)
    if a.kind == "cylinder" and b.kind == "cylinder":
        return max(math.dist(a.center, b.center) - a.half[0] - b.half[0], 0.0)
    box, cyl = (a, b) if a.kind == "box" else (b, a)
    return max(float(box.footprint_distance(cyl.center)) - cyl.half[0], 0.0)


def closest_distance(a: Prism, b: Prism) -> float:
    """Distance in metres between the closest points of two prisms (VSI-Bench's absolute distance)."""
    return math.hypot(footprint_gap(a, b), _interval_gap(a.z, b.z))


@dataclass(frozen=True)
class Room:
    """A room: floor polygon ``floor`` (counter-clockwise (x, y) vertices, axis-aligned edges) and ``height``."""

    floor: tuple[tuple[float, float], ...]
    height: float

    def __post_init__(self):
        p = np.asarray(self.floor, float)
        if p.shape not in ((4, 2), (6, 2)):
            raise ValueError(f"a room floor is a rectangle or an L (4 or 6 vertices), not {p.shape[0]} vertices")
        e = np.roll(p, -1, axis=0) - p
        if not ((e[:, 0] == 0) ^ (e[:, 1] == 0)).all():
            raise ValueError("room walls must be axis-aligned and of non-zero length")
        signed = np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))
        if signed <= 0:
            raise ValueError("room floor vertices must run counter-clockwise")
        if self.height <= 0:
            raise ValueError(f"room height must be positive, not {self.height}")

    @staticmethod
    def rectangle(width: float, length: float, height: float) -> "Room":
        return Room(((0.0, 0.0), (width, 0.0), (width, length), (0.0, length)), height)

    @staticmethod
    def l_shape(width: float, length: float, cut_width: float, cut_length: float, height: float) -> "Room":
        """A ``width`` x ``length`` rectangle without its ``cut_width`` x ``cut_length`` corner at (width, length)."""
        w, l, cw, cl = width, length, cut_width, cut_length
        return Room(((0.0, 0.0), (w, 0.0), (w, l - cl), (w - cw, l - cl), (w - cw, l), (0.0, l)), height)

    @property
    def area(self) -> float:
        """Floor area in m^2 (shoelace formula)."""
        p = np.asarray(self.floor)
        x, y = p[:, 0], p[:, 1]
        return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)

    @property
    def shape(self) -> str:
        return "rectangle" if len(self.floor) == 4 else "L"

    def walls(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``(start [2], end [2], inward normal [2])`` per wall, in counter-clockwise order."""
        p = np.asarray(self.floor, float)
        out = []
        for a, b in zip(p, np.roll(p, -1, axis=0)):
            e = (b - a) / np.linalg.norm(b - a)
            out.append((a, b, np.array([-e[1], e[0]])))  # left of a counter-clockwise edge is inside
        return out

    def contains(self, xy, margin: float = 0.0) -> np.ndarray:
        """Whether points ``xy`` [..., 2] are inside the floor and at least ``margin`` from every wall."""
        xy = np.asarray(xy, float)
        x, y = xy[..., 0], xy[..., 1]
        p = np.asarray(self.floor)
        inside = np.zeros(x.shape, bool)
        for (x1, y1), (x2, y2) in zip(p, np.roll(p, -1, axis=0)):  # even-odd rule on the vertical edges
            if x1 == x2:
                crosses = (x < x1) & ((y1 <= y) != (y2 <= y))
                inside ^= crosses
        return inside & (self.wall_distance(xy) >= margin) if margin > 0 else inside

    def wall_distance(self, xy) -> np.ndarray:
        """Distance from points ``xy`` [..., 2] to the nearest wall segment."""
        xy = np.asarray(xy, float)[..., None, :]  # [..., 1, 2] against [K, 2] walls
        p = np.asarray(self.floor, float)
        a, ab = p, np.roll(p, -1, axis=0) - p
        s = np.clip(((xy - a) * ab).sum(-1) / (ab * ab).sum(-1), 0.0, 1.0)
        return np.linalg.norm(xy - (a + s[..., None] * ab), axis=-1).min(-1)

    def rectangles(self) -> list[tuple[float, float, float, float]]:
        """The floor as a union of one (rectangle) or two overlapping (L) rectangles (xmin, ymin, xmax, ymax)."""
        x0, y0, x1, y1 = self.bounds()
        if len(self.floor) == 4:
            return [(x0, y0, x1, y1)]
        p = np.asarray(self.floor, float)
        e_in, e_out = p - np.roll(p, 1, axis=0), np.roll(p, -1, axis=0) - p
        rx, ry = p[int(np.argmin(e_in[:, 0] * e_out[:, 1] - e_in[:, 1] * e_out[:, 0]))]  # the reflex corner
        verts = {tuple(v) for v in p.tolist()}
        cx, cy = next(c for c in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)) if c not in verts)  # the missing corner
        r1 = (x0, y0, x1, ry) if cy == y1 else (x0, ry, x1, y1)
        r2 = (x0, y0, rx, y1) if cx == x1 else (rx, y0, x1, y1)
        return [r1, r2]

    def bounds(self) -> tuple[float, float, float, float]:
        p = np.asarray(self.floor)
        return float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()), float(p[:, 1].max())
