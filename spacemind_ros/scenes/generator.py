"""Seeded random indoor scenes: a room, a camera walk, and 5-15 objects placed without overlap off the walk."""
from __future__ import annotations

import colorsys

import numpy as np

from spacemind_ros.scenes.catalog import CATEGORIES, Category
from spacemind_ros.scenes.scene import FACINGS, Scene, SceneObject, Style
from spacemind_ros.scenes.shapes import Prism, Room, footprint_gap
from spacemind_ros.scenes.walk import Walk, make_walk, walk_loop

GAP_BETWEEN_OBJECTS = 0.15  # m between footprints
GAP_TO_WALK = 0.5  # m between the camera's path and any footprint
MIN_OBJECTS, MAX_OBJECTS = 5, 15


def random_room(rng: np.random.Generator) -> Room:
    """Rectangle (3-8 m sides) or L-shape (5-8 m overall, each arm at least ~2.2 m wide); 2.6-3.0 m high."""
    height = rng.uniform(2.6, 3.0)
    if rng.random() < 0.4:
        w, l = rng.uniform(5.0, 8.0, size=2)
        cw, cl = w * rng.uniform(0.35, 0.55), l * rng.uniform(0.35, 0.55)
        return Room.l_shape(round(w, 2), round(l, 2), round(cw, 2), round(cl, 2), height)
    w, l = rng.uniform(3.0, 8.0, size=2)
    return Room.rectangle(round(w, 2), round(l, 2), height)


def random_style(rng: np.random.Generator) -> Style:
    hue = rng.uniform(0.0, 1.0)
    wall = colorsys.hls_to_rgb(hue, rng.uniform(0.78, 0.88), rng.uniform(0.15, 0.35))
    floor = colorsys.hls_to_rgb(rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.55), rng.uniform(0.3, 0.55))
    return Style(floor_pattern=str(rng.choice(["planks", "tiles"])), floor_color=tuple(floor),
                 wall_color=tuple(wall))


def choose_categories(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` category names: distinct ones first (for distance and direction questions), then repeats to count."""
    names = list(CATEGORIES)
    distinct = list(rng.choice(names, size=min(len(names), max(5, int(round(n * 0.75)))), replace=False))
    chosen = distinct[:n]
    repeatable = [c for c in distinct if CATEGORIES[c].max_count > 1] or [c for c in names
                                                                          if CATEGORIES[c].max_count > 1]
    while len(chosen) < n:
        c = str(rng.choice(repeatable))
        if chosen.count(c) < CATEGORIES[c].max_count:
            chosen.append(c)
        elif all(chosen.count(r) >= CATEGORIES[r].max_count for r in repeatable):
            break
    return [str(c) for c in chosen]


def _inside(room: Room, prism: Prism) -> bool:
    """Footprint within the floor polygon (corners inside and no room corner poking into it)."""
    lo, hi = prism.lo[:2], prism.hi[:2]
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    if not room.contains(corners - np.sign(corners - np.asarray(prism.center)) * 1e-6).all():
        return False
    p = np.asarray(room.floor)
    poke = (p[:, 0] > lo[0] + 1e-6) & (p[:, 0] < hi[0] - 1e-6) & (p[:, 1] > lo[1] + 1e-6) & (p[:, 1] < hi[1] - 1e-6)
    return not poke.any()


def propose(rng: np.random.Generator, room: Room, cat: Category) -> tuple[Prism, int]:
    """A random prism for ``cat`` (not yet checked for collisions) and the index of the side its front faces."""
    width, depth, height = (rng.uniform(*r) for r in (cat.width, cat.depth, cat.height))
    bottom = rng.uniform(*cat.elevation)
    z = (round(bottom, 3), round(bottom + height, 3))
    if cat.shape == "cylinder":
        width = depth
    if cat.placement == "wall":
        walls = room.walls()
        lengths = np.array([np.linalg.norm(b - a) for a, b, _ in walls])
        k = int(rng.choice(len(walls), p=lengths / lengths.sum()))
        a, b, normal = walls[k]
        along = (b - a) / lengths[k]
        s = rng.uniform(0.05 + width / 2, max(0.05 + width / 2, lengths[k] - 0.05 - width / 2))
        gap = 0.0 if cat.name == "door" else 0.02
        center = a + s * along + (gap + depth / 2) * normal
        half = (width / 2, depth / 2) if abs(along[0]) > 0.5 else (depth / 2, width / 2)
        facing = FACINGS.index((float(round(normal[0])) + 0.0, float(round(normal[1])) + 0.0))
    else:
        x0, y0, x1, y1 = room.bounds()
        center = np.array([rng.uniform(x0, x1), rng.uniform(y0, y1)])
        facing = int(rng.integers(4))
        half = (width / 2, depth / 2) if facing % 2 == 0 else (depth / 2, width / 2)
    if cat.shape == "cylinder":
        half = (width / 2, width / 2)
    center = (round(float(center[0]), 3), round(float(center[1]), 3))
    return Prism(cat.shape, center, (round(half[0], 3), round(half[1], 3)), z), facing


def place_objects(rng: np.random.Generator, room: Room, walk_xy: np.ndarray, names: list[str],
                  attempts: int = 300) -> list[SceneObject]:
    """Place each of ``names`` (in order) without overlap and off the walk; a category that does not fit is left out."""
    placed: list[SceneObject] = []
    for name in names:
        cat = CATEGORIES[name]
        for _ in range(attempts):
            prism, facing = propose(rng, room, cat)
            if any(footprint_gap(prism, o.prism) < GAP_BETWEEN_OBJECTS for o in placed):
                continue
            if prism.footprint_distance(walk_xy).min() < GAP_TO_WALK or not _inside(room, prism):
                continue
            placed.append(SceneObject(len(placed), name, prism, facing))
            break
    return placed


def generate(seed: int, num_frames: int = 300, fps: float = 10.0, start_ns: int = 0,
             walk_style: str = "tour") -> tuple[Scene, Walk]:
    """The scene and camera walk for ``seed`` (same seed, same scene and walk; the same scene for every
    ``walk_style``)."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    rng = np.random.default_rng(seed)
    for _ in range(50):
        room = random_room(rng)
        walk = make_walk(room, num_frames, fps, rng, start_ns=start_ns, style=walk_style)
        walk_xy = walk_loop(room, samples=200)  # objects stay off the whole loop, not only the frames' points
        target = int(np.clip(5 + room.area / 2.5, MIN_OBJECTS, MAX_OBJECTS))
        n = int(rng.integers(max(MIN_OBJECTS, target - 3), target + 1))
        names = choose_categories(rng, n)
        names.sort(key=lambda c: -CATEGORIES[c].width[1] * CATEGORIES[c].depth[1])  # big things first: they fit
        objects = place_objects(rng, room, walk_xy, names)
        if len(objects) >= MIN_OBJECTS:
            return Scene(room, tuple(objects), random_style(rng), seed=seed), walk
    raise RuntimeError(f"seed {seed}: could not place {MIN_OBJECTS} objects in 50 rooms")

