"""A numpy ray caster for scenes: RGB, depth along the optical axis, and which surface each pixel sees.

One ray per pixel, all rays of a frame at once. Room surfaces (floor, ceiling, walls) are tested on the whole
frame; each object only inside the pixel rectangle its near-plane-clipped bounding box projects to, so the cost per
object is proportional to the pixels it covers. No per-pixel Python loops.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacemind_ros.scenes import textures
from spacemind_ros.scenes.camera import Intrinsics, Pose
from spacemind_ros.scenes.scene import FACINGS, Scene

FLOOR, CEILING, WALL = 0, 1, 2  # surface ids; walls are WALL + 0..3 for inside normals +x, -x, +y, -y
WALL_NORMALS = ((1.0, 0.0, 0.0), (-1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0))
OBJECT = 64  # object i is OBJECT + i
NEAR = 0.02  # m
EDGE = 0.012  # m: box edges closer than this to two faces are drawn darker
CONTACT_RES = 0.04  # m per cell of the floor's contact-shadow map
_EDGES = [(a, a | (1 << k)) for a in range(8) for k in range(3) if not a & (1 << k)]  # 12 cube edges, corner bits


@dataclass(frozen=True)
class Frame:
    """One rendered view: ``rgb`` [H, W, 3] uint8, ``depth`` [H, W] float32 metres along the optical axis (z of
    the optical frame), ``surface`` [H, W] int16 surface ids (FLOOR, CEILING, WALL + k, OBJECT + i)."""

    rgb: np.ndarray
    depth: np.ndarray
    surface: np.ndarray

    def semantic(self, object_classes: np.ndarray) -> np.ndarray:
        """``[H, W]`` uint8 class ids (SEMANTIC_CLASSES): floor 0, ceiling 1, wall 2, object i ``object_classes[i]``."""
        lut = np.concatenate([np.array([0, 1] + [2] * (OBJECT - 2), np.uint8), object_classes.astype(np.uint8)])
        return lut[self.surface]

    def object_pixels(self, num_objects: int) -> np.ndarray:
        """[num_objects] how many pixels show each object."""
        return np.bincount(self.surface.ravel(), minlength=OBJECT + num_objects)[OBJECT:OBJECT + num_objects]


class Renderer:
    """Renders ``scene`` through a camera with ``intrinsics``; ``render(pose)`` per frame."""

    def __init__(self, scene: Scene, intrinsics: Intrinsics):
        self.scene, self.intrinsics = scene, intrinsics
        k = intrinsics
        self._ru = ((np.arange(k.width) - k.cx) / k.fx).astype(np.float32)  # ray x per column
        self._rv = ((np.arange(k.height) - k.cy) / k.fy).astype(np.float32)  # ray y per row
        self._rects = [tuple(np.float32(v) for v in rect) for rect in scene.room.rectangles()]
        self._contact = self._contact_map()
        n = OBJECT + len(scene.objects)
        self._light_lut = np.ones(n, np.float32)  # object entries are overwritten per pixel
        self._light_lut[FLOOR] = textures.lambert(np.array([[0, 0, 1.0]]))[0]
        self._light_lut[CEILING] = textures.lambert(np.array([[0, 0, -1.0]]))[0] + 0.25
        self._light_lut[WALL:WALL + 4] = textures.lambert(np.array(WALL_NORMALS))
        self._albedo_lut = np.zeros((n, 3), np.float32)
        self._albedo_lut[WALL:WALL + 4] = scene.style.wall_color
        self._albedo_lut[CEILING] = scene.style.ceiling_color

    def _contact_map(self) -> tuple[np.ndarray, float, float]:
        """Floor darkening near objects standing on it (a cheap ambient-occlusion stand-in), on a coarse grid."""
        x0, y0, x1, y1 = self.scene.room.bounds()
        xs = np.arange(x0, x1 + CONTACT_RES, CONTACT_RES)
        ys = np.arange(y0, y1 + CONTACT_RES, CONTACT_RES)
        grid = np.stack(np.meshgrid(xs, ys), -1)
        dist = np.full(grid.shape[:2], np.inf)
        for o in self.scene.objects:
            if o.prism.z[0] < 0.05:
                dist = np.minimum(dist, o.prism.footprint_distance(grid))
        dist = np.minimum(dist, self.scene.room.wall_distance(grid) + 0.1)
        return (1.0 - 0.35 * np.exp(-dist / 0.12)).astype(np.float32), float(x0), float(y0)

    def render(self, pose: Pose) -> Frame:
        k = self.intrinsics
        r, o = pose.rotation.astype(np.float32), pose.position.astype(np.float32)
        # World ray per pixel: R @ (u, v, 1); separable in rows and columns, so three broadcast sums. Without roll
        # (r[2, 0] == 0) the vertical component is one value per row.
        d = [self._ru[None, :] * r[i, 0] + (self._rv * r[i, 1] + r[i, 2])[:, None] for i in range(2)]
        if r[2, 0] == 0:
            d.append(np.broadcast_to((self._rv * r[2, 1] + r[2, 2])[:, None], (k.height, k.width)))
        else:
            d.append(self._ru[None, :] * r[2, 0] + (self._rv * r[2, 1] + r[2, 2])[:, None])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t, surface = self._room(o, d)
            boxes = self._objects(pose, o, d, t, surface)
            rgb = self._shade(o, d, t, surface, boxes)
        return Frame(rgb, t, surface)

    # -- intersection ---------------------------------------------------------------------------------------------

    def _room(self, o, d):
        """Depth [H, W] and surface ids of the room's inside (the camera is inside the floor polygon).

        The floor polygon is one rectangle or the union of two (an L). A ray leaves a rectangle it starts in at the
        nearer of its far x and far y slabs; it leaves the union of two at the later exit when it starts in both or
        reaches the second before leaving the first. Floor and ceiling are whichever of the two planes is ahead.
        """
        inv = [np.float32(1.0) / d[i] for i in range(2)]
        exits, entries, along_x = [], [], []
        two = len(self._rects) == 2
        for x0, y0, x1, y1 in self._rects:
            tx0, tx1 = (x0 - o[0]) * inv[0], (x1 - o[0]) * inv[0]
            ty0, ty1 = (y0 - o[1]) * inv[1], (y1 - o[1]) * inv[1]
            fx, fy = np.maximum(tx0, tx1), np.maximum(ty0, ty1)
            exits.append(np.minimum(fx, fy))
            along_x.append(fx < fy)
            if two:
                entries.append(np.maximum(np.minimum(tx0, tx1), np.minimum(ty0, ty1)))
        t, exit_x = exits[0], along_x[0]
        if two:
            inside = [x0 < o[0] < x1 and y0 < o[1] < y1 for x0, y0, x1, y1 in self._rects]
            first = 0 if inside[0] else 1
            other = 1 - first
            if inside[other]:
                t = np.maximum(exits[0], exits[1])
                exit_x = np.where(exits[first] >= exits[other], along_x[first], along_x[other])
            else:
                joined = (entries[other] <= exits[first]) & (entries[other] < exits[other])
                t = np.where(joined, np.maximum(exits[0], exits[1]), exits[first])
                from_first = ~joined | (exits[first] >= exits[other])
                exit_x = np.where(from_first, along_x[first], along_x[other])
        # Wall id by the way its inside faces: +x, -x, +y, -y (the ray runs against the normal).
        wall = np.where(exit_x, d[0] > 0, d[1] > 0).view(np.int8) + np.where(exit_x, WALL, WALL + 2).astype(np.int16)
        dz = d[2][:, :1] if d[2].strides[1] == 0 else d[2]  # per row without roll
        tz = np.maximum((0.0 - o[2]) / dz, (np.float32(self.scene.room.height) - o[2]) / dz)
        flat = tz < t
        surface = np.where(flat, np.where(dz < 0, np.int16(FLOOR), np.int16(CEILING)), wall)
        return np.minimum(t, tz), surface

    def _rect(self, pose: Pose, corners: np.ndarray) -> tuple[int, int, int, int] | None:
        """Pixel rectangle (v0, v1, u0, u1) covering ``corners`` [8, 3] clipped to z >= NEAR; None if behind."""
        c = pose.world_to_camera(corners)
        pts = [c[c[:, 2] >= NEAR]]
        for a, b in _EDGES:
            za, zb = c[a, 2], c[b, 2]
            if (za - NEAR) * (zb - NEAR) < 0:
                s = (NEAR - za) / (zb - za)
                pts.append((c[a] + s * (c[b] - c[a]))[None])
        p = np.concatenate(pts)
        if not len(p):
            return None
        uv = self.intrinsics.project(p)
        k = self.intrinsics
        u0, v0 = np.floor(uv.min(0)).astype(int) - 1
        u1, v1 = np.ceil(uv.max(0)).astype(int) + 2
        u0, u1, v0, v1 = max(u0, 0), min(u1, k.width), max(v0, 0), min(v1, k.height)
        return (v0, v1, u0, u1) if u0 < u1 and v0 < v1 else None

    def _objects(self, pose, o, d, t, surface):
        rects = {}
        for obj in self.scene.objects:
            rect = self._rect(pose, obj.prism.corners())
            if rect is None:
                continue
            v0, v1, u0, u1 = rect
            sl = (slice(v0, v1), slice(u0, u1))
            ds = [c[sl] for c in d]
            p = obj.prism
            if p.kind == "box":
                tn, tf = self._slab(o, ds, p.lo.astype(np.float32), p.hi.astype(np.float32))
                hit = (tn <= tf) & (tn > NEAR) & (tn < t[sl])
            else:
                tn, hit = self._cylinder(o, ds, p)
                hit &= tn < t[sl]
            np.copyto(t[sl], tn, where=hit)
            surface[sl][hit] = OBJECT + obj.index
            rects[obj.index] = rect
        return rects

    @staticmethod
    def _slab(o, ds, lo, hi):
        tn = tf = None
        for i in range(3):
            a = (lo[i] - o[i]) / ds[i]
            b = (hi[i] - o[i]) / ds[i]
            near, far = np.minimum(a, b), np.maximum(a, b)
            tn = near if tn is None else np.maximum(tn, near)
            tf = far if tf is None else np.minimum(tf, far)
        return tn, tf

    @staticmethod
    def _cylinder(o, ds, p):
        cx, cy = np.float32(p.center[0]), np.float32(p.center[1])
        r, z0, z1 = np.float32(p.half[0]), np.float32(p.z[0]), np.float32(p.z[1])
        ox, oy = o[0] - cx, o[1] - cy
        dx, dy, dz = ds
        a = dx * dx + dy * dy
        b = ox * dx + oy * dy
        c = ox * ox + oy * oy - r * r
        disc = b * b - a * c
        ts = (-b - np.sqrt(np.maximum(disc, 0))) / a
        zs = o[2] + ts * dz
        t = np.where((disc >= 0) & (ts > NEAR) & (zs >= z0) & (zs <= z1), ts, np.inf).astype(np.float32)
        for zc in (z0, z1):  # caps
            tc = (zc - o[2]) / dz
            xc, yc = ox + tc * dx, oy + tc * dy
            cap = (tc > NEAR) & (xc * xc + yc * yc <= r * r) & (tc < t)
            np.copyto(t, tc, where=cap)
        return t, np.isfinite(t)

    # -- shading --------------------------------------------------------------------------------------------------

    def _shade(self, o, d, t, surface, rects):
        style = self.scene.style
        # Room surfaces: constant colour and brightness per surface id, looked up in one pass each.
        light = self._light_lut[surface]
        albedo = self._albedo_lut[surface]
        # Skirting: wall pixels below SKIRTING_HEIGHT, i.e. further along a downward ray than a per-row depth.
        dz = d[2][:, :1] if d[2].strides[1] == 0 else d[2]
        below = np.where(dz < 0, (textures.SKIRTING_HEIGHT - o[2]) / dz, np.inf)
        skirting = (surface >= WALL) & (surface < OBJECT) & (t > below)
        albedo[skirting] = textures.SKIRTING_COLOR
        floor = surface == FLOOR
        if floor.any():
            tf = t[floor]
            fx, fy = o[0] + tf * d[0][floor], o[1] + tf * d[1][floor]
            cmap, x0, y0 = self._contact
            ix = np.clip(((fx - x0) / CONTACT_RES).astype(np.int32), 0, cmap.shape[1] - 1)
            iy = np.clip(((fy - y0) / CONTACT_RES).astype(np.int32), 0, cmap.shape[0] - 1)
            albedo[floor] = textures.floor_albedo(style, fx, fy) * cmap[iy, ix][:, None]
        for index, (v0, v1, u0, u1) in rects.items():
            sl = (slice(v0, v1), slice(u0, u1))
            m = surface[sl] == OBJECT + index
            if m.any():
                ts = t[sl][m]
                points = np.stack([o[i] + ts * d[i][sl][m] for i in range(3)], 1)
                albedo[sl][m], light[sl][m] = self._object_surface(self.scene.objects[index], points)
        # Light falls off a little with distance, which helps the eye read depth.
        light *= 255.0 / (1.0 + 0.035 * t)  # every ray hits the closed room, so t is finite
        rgb = albedo * light[..., None]
        np.minimum(rgb, 255.0, out=rgb)
        return rgb.astype(np.uint8)

    @staticmethod
    def _object_surface(obj, points):
        """Albedo [n, 3] and brightness [n] of an object's surface at world ``points`` [n, 3]."""
        cat, prism = obj.info, obj.prism
        q = points - prism.lo.astype(np.float32)  # object coordinates
        size = np.asarray(prism.size, np.float32)
        facing = np.asarray(FACINGS[obj.facing], np.float32)
        if prism.kind == "box":
            gaps = np.minimum(q, size - q)  # distance to the lower and upper face along each axis
            axis = np.argmin(gaps, axis=1)
            upper = np.take_along_axis(q, axis[:, None], 1)[:, 0] > size[axis] / 2
            normals = np.zeros_like(q)
            normals[np.arange(len(q)), axis] = np.where(upper, 1.0, -1.0)
            front = (normals[:, 0] * facing[0] + normals[:, 1] * facing[1]) > 0.5
            edge = (gaps < EDGE).sum(1) >= 2
        else:
            rel = q[:, :2] - size[:2] / 2
            on_cap = (np.abs(q[:, 2]) < 1e-3) | (np.abs(q[:, 2] - size[2]) < 1e-3)
            axis = np.where(on_cap, 2, -1)
            radius = np.maximum(np.linalg.norm(rel, axis=1, keepdims=True), 1e-6)
            normals = np.concatenate([rel / radius, np.zeros((len(q), 1), np.float32)], 1)
            normals[on_cap] = (0.0, 0.0, 1.0)
            normals[on_cap & (q[:, 2] < 1e-3), 2] = -1.0
            # Round objects: arc length round the axis stands in for the horizontal coordinate.
            q = np.stack([np.arctan2(rel[:, 1], rel[:, 0]) * np.float32(prism.half[0]), q[:, 1], q[:, 2]], 1)
            front = np.zeros(len(q), bool)
            edge = on_cap & (radius[:, 0] > prism.half[0] - EDGE)
        color = textures.mix(cat.colors, textures.pattern(cat.pattern, q, axis, size, front))
        color[edge] *= 0.55
        return color, textures.lambert(normals)
