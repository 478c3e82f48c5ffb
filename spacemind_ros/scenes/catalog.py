"""Object categories: typical real-world sizes (metres), shape, placement, and a look of their own."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One kind of furniture or fixture.

    Sizes are ranges in metres: ``width`` along the wall it stands against (or x for free-standing things),
    ``depth`` away from that wall, ``height`` of the body; ``elevation`` lifts it off the floor (a wall-mounted tv).
    Cylinders use ``width`` as their diameter. ``colors`` are two sRGB colours in [0, 1] that ``pattern`` mixes.
    """

    name: str
    shape: str  # "box" | "cylinder"
    width: tuple[float, float]
    depth: tuple[float, float]
    height: tuple[float, float]
    placement: str  # "wall" (back against a wall) | "free" (anywhere on the floor)
    colors: tuple[tuple[float, float, float], tuple[float, float, float]]
    pattern: str  # see textures.py
    max_count: int = 1
    elevation: tuple[float, float] = (0.0, 0.0)

    @property
    def plural(self) -> str:
        return f"{self.name}(s)"


def _c(hex_rgb: str) -> tuple[float, float, float]:
    return tuple(int(hex_rgb[i:i + 2], 16) / 255.0 for i in (0, 2, 4))  # type: ignore[return-value]


CATEGORIES: dict[str, Category] = {c.name: c for c in (
    Category("bed", "box", (1.4, 1.8), (1.95, 2.1), (0.45, 0.6), "wall", (_c("5b8fd6"), _c("e8eef8")), "stripes"),
    Category("sofa", "box", (1.8, 2.3), (0.8, 0.95), (0.8, 0.9), "wall", (_c("b8412f"), _c("7a2a1e")), "fabric"),
    Category("chair", "box", (0.45, 0.55), (0.45, 0.55), (0.8, 1.0), "free", (_c("3f9c48"), _c("2a6b31")),
             "slats", max_count=4),
    Category("table", "box", (1.0, 1.6), (0.7, 0.9), (0.72, 0.78), "free", (_c("a8733f"), _c("7c5128")), "grain"),
    Category("tv", "box", (0.9, 1.4), (0.08, 0.12), (0.55, 0.8), "wall", (_c("1b1b1f"), _c("2f5fae")), "screen",
             elevation=(0.9, 1.1)),
    Category("refrigerator", "box", (0.6, 0.8), (0.65, 0.75), (1.7, 1.9), "wall", (_c("e4e7ea"), _c("9aa3ab")),
             "fridge"),
    Category("sink", "box", (0.5, 0.8), (0.45, 0.55), (0.85, 0.9), "wall", (_c("c9cfd6"), _c("3c4a57")), "basin"),
    Category("stove", "box", (0.6, 0.76), (0.6, 0.65), (0.88, 0.92), "wall", (_c("4a4a4a"), _c("d06a1c")),
             "burners"),
    Category("lamp", "cylinder", (0.3, 0.44), (0.3, 0.44), (1.4, 1.7), "free", (_c("f2c744"), _c("8a6d12")),
             "rings", max_count=2),
    Category("door", "box", (0.8, 0.9), (0.04, 0.06), (2.0, 2.1), "wall", (_c("8b5a2b"), _c("5e3b1a")), "panels"),
    Category("plant", "cylinder", (0.4, 0.6), (0.4, 0.6), (0.6, 1.2), "free", (_c("2f7d32"), _c("9bd35a")),
             "leaves", max_count=3),
    Category("cabinet", "box", (0.6, 1.2), (0.4, 0.6), (0.8, 2.0), "wall", (_c("d9c39a"), _c("8f7b52")), "drawers",
             max_count=3),
    Category("desk", "box", (1.0, 1.4), (0.6, 0.7), (0.72, 0.76), "wall", (_c("6e7f8d"), _c("46535e")), "checker"),
    Category("trash can", "cylinder", (0.28, 0.36), (0.28, 0.36), (0.35, 0.5), "free", (_c("8e44ad"), _c("5b2a70")),
             "rings", max_count=2),
    Category("stool", "cylinder", (0.32, 0.4), (0.32, 0.4), (0.45, 0.7), "free", (_c("e67e22"), _c("9c4f0e")),
             "grain", max_count=3),
)}


# Classes of a scene bag's /camera/semantic image: the room's surfaces, then the object categories in catalog order.
SEMANTIC_CLASSES: tuple[str, ...] = ("floor", "ceiling", "wall", *CATEGORIES)


def semantic_class(category: str) -> int:
    return SEMANTIC_CLASSES.index(category)
