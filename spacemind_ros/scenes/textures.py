"""Procedural surface colour: each category's pattern, floors, walls, lighting. Vectorised over hit points.

Patterns are solid textures: functions of the hit point in the object's own coordinates (metres from its lower
corner), so a surface looks the same from every frame. All colours are sRGB in [0, 1].
"""
from __future__ import annotations

import numpy as np

# Directional key light and fill light (unit vectors towards the light), and their weights.
KEY = np.array([0.35, 0.55, 0.76], np.float32) / np.linalg.norm([0.35, 0.55, 0.76])
FILL = np.array([-0.55, -0.35, 0.45], np.float32) / np.linalg.norm([-0.55, -0.35, 0.45])
AMBIENT, KEY_WEIGHT, FILL_WEIGHT = 0.42, 0.48, 0.2


def hash01(*coords: np.ndarray) -> np.ndarray:
    """A deterministic pseudo-random float32 in [0, 1) per integer lattice point (integer hash, no trigonometry)."""
    h = np.zeros(np.broadcast(*coords).shape, np.uint32)
    for c, k in zip(coords, (0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D)):
        h ^= np.asarray(c).astype(np.int32).view(np.uint32) * np.uint32(k)
        h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    return (h >> np.uint32(8)).astype(np.float32) * np.float32(1.0 / (1 << 24))


NOISE_PERIOD, NOISE_TEXELS = 16, 16  # lattice cells per tile, texels per cell


def _noise_table() -> np.ndarray:
    n = NOISE_PERIOD * NOISE_TEXELS
    c = np.arange(n, dtype=np.float32) / NOISE_TEXELS
    x, y = np.meshgrid(c, c)
    xi, yi = np.floor(x), np.floor(y)
    fx, fy = x - xi, y - yi
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    p = NOISE_PERIOD
    a, b = hash01(xi % p, yi % p), hash01((xi + 1) % p, yi % p)
    c0, d = hash01(xi % p, (yi + 1) % p), hash01((xi + 1) % p, (yi + 1) % p)
    return ((a + (b - a) * fx) * (1 - fy) + (c0 + (d - c0) * fx) * fy).astype(np.float32)


NOISE = _noise_table()


def value_noise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth 2-D value noise in [0, 1], one lattice cell per unit, looked up in a precomputed tileable table."""
    mask = NOISE.shape[0] - 1
    ix = (np.asarray(x) * NOISE_TEXELS).astype(np.int32) & mask
    iy = (np.asarray(y) * NOISE_TEXELS).astype(np.int32) & mask
    return NOISE[iy, ix]


def _frac(x):
    return x - np.floor(x)


def pattern(name: str, q: np.ndarray, axis: np.ndarray, size: np.ndarray, front: np.ndarray) -> np.ndarray:
    """Mix factor [n] in [0, 1] between a category's two colours.

    q [n, 3]: hit points in object coordinates (m, from the lower corner); axis [n]: the face's normal axis
    (0 x, 1 y, 2 z; cylinders' sides are -1); size [3]: the object's extents; front [n]: on the front face.
    """
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    top = axis == 2
    # A coordinate running horizontally along each face (so vertical stripes go round the object).
    along = np.where(axis == 0, y, x)
    if name == "stripes":
        return (_frac((x + y) * 3.0) < 0.5).astype(np.float32) * 0.85
    if name == "fabric":
        return 0.6 * value_noise(along * 14 + z * 3, z * 14 + x * 2) + 0.4 * (_frac(along / 0.45) < 0.04)
    if name == "slats":
        return np.where(top, 0.15, (_frac(along * 7.0) < 0.35).astype(np.float32))
    if name == "grain":
        g = np.where(top, x * 0.9 + y * 0.25, along)
        w = np.where(top, y, z)
        return 0.5 + 0.5 * np.sin(g * 55.0 + 5.0 * value_noise(g * 3, w * 6))
    if name == "screen":
        border = 0.035
        inner = (along > border) & (along < np.where(axis == 0, size[1], size[0]) - border)
        inner &= (z > border) & (z < size[2] - border)
        glow = 0.75 + 0.25 * value_noise(along * 4, z * 4)
        return np.where(front & inner, glow, 0.0)
    if name == "fridge":
        split = np.abs(z - 0.62 * size[2]) < 0.012
        handle = front & (np.abs(along - 0.12) < 0.02) & (np.abs(z - 0.62 * size[2]) < 0.45)
        return (split | handle).astype(np.float32)
    if name == "basin":
        inset = 0.07
        basin = top & (x > inset) & (x < size[0] - inset) & (y > inset) & (y < size[1] - inset)
        doors = ~top & front & (_frac(along / max(size[0], size[1]) * 2) < 0.02)
        return (basin | doors).astype(np.float32)
    if name == "burners":
        cx, cy = np.floor(x / (size[0] / 2)), np.floor(y / (size[1] / 2))
        dx, dy = x - (cx + 0.5) * size[0] / 2, y - (cy + 0.5) * size[1] / 2
        r = np.hypot(dx, dy)
        rings = top & (((r > 0.07) & (r < 0.09)) | ((r > 0.03) & (r < 0.045)))
        knobs = front & (np.abs(z - size[2] + 0.06) < 0.025) & (_frac(along / 0.12) < 0.3)
        return (rings | knobs).astype(np.float32)
    if name == "rings":
        return np.where(top, 0.3, (_frac(z * 4.0) < 0.5).astype(np.float32))
    if name == "panels":
        u, h = along, z
        groove = (np.abs(_frac(h / (size[2] / 2.2)) - 0.5) > 0.46) | (np.abs(_frac(u / 0.28) - 0.5) > 0.44)
        knob = front & (np.abs(h - 1.0) < 0.03) & (np.abs(u - 0.08) < 0.03)
        return np.where(front, np.maximum(groove * 0.8, knob.astype(np.float32)), 0.4)
    if name == "leaves":
        return (value_noise(along * 25 + x * 7, z * 25 + y * 7) > 0.55).astype(np.float32)
    if name == "drawers":
        lines = front & (_frac(z / 0.3) < 0.06)
        handles = front & (np.abs(_frac(z / 0.3) - 0.5) < 0.05) & (np.abs(_frac(along / 0.6) - 0.5) < 0.08)
        return (lines | handles).astype(np.float32)
    if name == "checker":
        return ((np.floor(x * 5) + np.floor(y * 5) + np.floor(z * 5)) % 2).astype(np.float32) * 0.7
    raise ValueError(f"unknown pattern {name!r}")


def mix(colors, m: np.ndarray) -> np.ndarray:
    """[n, 3] colour between ``colors[0]`` (m = 0) and ``colors[1]`` (m = 1)."""
    a, b = (np.asarray(c, np.float32) for c in colors)
    return a + (b - a) * np.asarray(m, np.float32)[:, None]


def floor_albedo(style, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n, 3] floor colour at world (x, y): wooden planks along x, or square tiles."""
    base = np.asarray(style.floor_color, np.float32)
    if style.floor_pattern == "tiles":
        size = 0.5
        row, col = np.floor(y / size), np.floor(x / size)
        tone = 0.88 + 0.12 * hash01(row, col)
        grout = (_frac(x / size) < 0.03) | (_frac(y / size) < 0.03)
        light = np.clip(base * 1.6, 0, 1)
        return np.where(grout[:, None], light * 0.55, light * tone[:, None]).astype(np.float32)
    width, length = 0.18, 1.3
    row = np.floor(y / width)
    col = np.floor(x / length + hash01(row, row) * 3.0)
    tone = 0.8 + 0.3 * hash01(row, col)
    grain = 0.93 + 0.07 * np.sin(x * 40.0 + 6.0 * value_noise(x * 2, y * 9))
    seam = (_frac(y / width) < 0.06) | (_frac(x / length + hash01(row, row) * 3.0) < 0.01)
    shade = np.where(seam, 0.55, tone * grain)
    return (base[None, :] * shade[:, None]).astype(np.float32)


SKIRTING_HEIGHT, SKIRTING_COLOR = 0.09, 0.93  # m; a white board along the bottom of the walls


def lambert(normals: np.ndarray) -> np.ndarray:
    """[n] brightness of surfaces with unit ``normals`` [n, 3] under the key and fill lights."""
    n = normals.astype(np.float32)
    return (AMBIENT + KEY_WEIGHT * np.maximum(n @ KEY, 0.0) + FILL_WEIGHT * np.maximum(n @ FILL, 0.0))
