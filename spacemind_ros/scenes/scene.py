"""The scene description: a room, its objects and the look of its surfaces (everything the renderer needs)."""
from __future__ import annotations

from dataclasses import dataclass, field

from spacemind_ros.scenes.catalog import CATEGORIES, Category
from spacemind_ros.scenes.shapes import Prism, Room

# Unit vectors in the floor plane an object's front can face: +x, +y, -x, -y.
FACINGS = ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))


@dataclass(frozen=True)
class SceneObject:
    """One object: ``index`` in the scene, ``category`` name, its prism and the side its front faces (FACINGS)."""

    index: int
    category: str
    prism: Prism
    facing: int = 0

    @property
    def info(self) -> Category:
        return CATEGORIES[self.category]

    def to_dict(self) -> dict:
        p = self.prism
        return {"index": self.index, "category": self.category, "shape": p.kind,
                "center": [round(p.center[0], 4), round(p.center[1], 4), round((p.z[0] + p.z[1]) / 2, 4)],
                "size": [round(v, 4) for v in p.size], "z_range": [round(p.z[0], 4), round(p.z[1], 4)],
                "facing": list(FACINGS[self.facing])}


@dataclass(frozen=True)
class Style:
    """Room surfaces: floor pattern ("planks" | "tiles") and colours (sRGB in [0, 1])."""

    floor_pattern: str = "planks"
    floor_color: tuple[float, float, float] = (0.62, 0.47, 0.32)
    wall_color: tuple[float, float, float] = (0.86, 0.84, 0.78)
    ceiling_color: tuple[float, float, float] = (0.95, 0.95, 0.94)


@dataclass(frozen=True)
class Scene:
    """A room with objects. ``seed`` is the generator seed (None for hand-built scenes)."""

    room: Room
    objects: tuple[SceneObject, ...]
    style: Style = field(default_factory=Style)
    seed: int | None = None

    @property
    def name(self) -> str:
        return f"synth_{self.seed:06d}" if self.seed is not None else "handmade"

    def count(self, category: str) -> int:
        return sum(o.category == category for o in self.objects)

    def to_dict(self) -> dict:
        return {"name": self.name, "seed": self.seed,
                "room": {"shape": self.room.shape, "floor": [list(v) for v in self.room.floor],
                         "height": round(self.room.height, 4), "area_m2": round(self.room.area, 4)},
                "objects": [o.to_dict() for o in self.objects],
                "style": {"floor_pattern": self.style.floor_pattern, "floor_color": list(self.style.floor_color),
                          "wall_color": list(self.style.wall_color)}}


def make_scene(room: Room, objects: list[tuple[str, Prism] | tuple[str, Prism, int]], **kwargs) -> Scene:
    """A hand-built scene from ``(category, prism[, facing])`` tuples (tests and examples)."""
    return Scene(room, tuple(SceneObject(i, o[0], o[1], o[2] if len(o) > 2 else 0) for i, o in enumerate(objects)),
                 **kwargs)
