"""Pinhole camera model and poses.

Frames (REP-103 / REP-105): the world ("map") has x and y on the floor and z up. The camera's optical frame has
x right, y down, z forward (the ``_optical`` convention of REP-103, as OpenCV and VGGT use). A pose is
camera-to-world: ``p_world = R @ p_cam + t``. Pixels follow OpenCV/ROS CameraInfo: integer pixel centres, so pixel
(u, v) sees the ray ((u - cx) / fx, (v - cy) / fy, 1) and the image centre is ((W - 1) / 2, (H - 1) / 2).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels for a ``width`` x ``height`` image (no distortion)."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @staticmethod
    def from_fov(width: int, height: int, hfov_deg: float = 70.0) -> "Intrinsics":
        """Square pixels, principal point at the image centre, horizontal field of view ``hfov_deg``."""
        if width < 2 or height < 2:
            raise ValueError(f"image size {width}x{height} is too small (at least 2x2)")
        f = width / (2.0 * math.tan(math.radians(hfov_deg) / 2.0))
        return Intrinsics(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    @property
    def matrix(self) -> np.ndarray:
        """[3, 3] K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_cam) -> np.ndarray:
        """[..., 3] points in the optical frame -> [..., 2] pixel coordinates (u, v)."""
        p = np.asarray(points_cam, float)
        return np.stack([self.fx * p[..., 0] / p[..., 2] + self.cx, self.fy * p[..., 1] / p[..., 2] + self.cy], -1)

    def rays(self) -> np.ndarray:
        """[H, W, 3] float32 ray per pixel in the optical frame with z = 1 (so a hit at parameter t has depth t)."""
        u = (np.arange(self.width, dtype=np.float64) - self.cx) / self.fx
        v = (np.arange(self.height, dtype=np.float64) - self.cy) / self.fy
        rays = np.empty((self.height, self.width, 3), np.float32)
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = 1.0
        return rays


@dataclass(frozen=True)
class Pose:
    """Camera-to-world: ``rotation`` [3, 3] (optical axes as columns in world coordinates), ``position`` [3] m."""

    rotation: np.ndarray
    position: np.ndarray

    @staticmethod
    def look(position, yaw: float, pitch: float = 0.0) -> "Pose":
        """Camera at ``position`` looking along heading ``yaw`` (radians, counter-clockwise from +x) tilted up by
        ``pitch`` radians (negative looks down); no roll."""
        cy, sy, cp, sp = math.cos(yaw), math.sin(yaw), math.cos(pitch), math.sin(pitch)
        z = np.array([cp * cy, cp * sy, sp])  # forward
        x = np.array([sy, -cy, 0.0])  # right
        y = np.cross(z, x)  # down
        return Pose(np.stack([x, y, z], axis=1), np.asarray(position, float))

    def world_to_camera(self, points) -> np.ndarray:
        """[..., 3] world points -> [..., 3] optical-frame points."""
        return (np.asarray(points, float) - self.position) @ self.rotation

    def quaternion(self) -> tuple[float, float, float, float]:
        """Rotation as a unit quaternion (x, y, z, w) with w >= 0."""
        m = self.rotation
        w = math.sqrt(max(0.0, 1.0 + m[0, 0] + m[1, 1] + m[2, 2])) / 2
        x = math.sqrt(max(0.0, 1.0 + m[0, 0] - m[1, 1] - m[2, 2])) / 2
        y = math.sqrt(max(0.0, 1.0 - m[0, 0] + m[1, 1] - m[2, 2])) / 2
        z = math.sqrt(max(0.0, 1.0 - m[0, 0] - m[1, 1] + m[2, 2])) / 2
        x = math.copysign(x, m[2, 1] - m[1, 2])
        y = math.copysign(y, m[0, 2] - m[2, 0])
        z = math.copysign(z, m[1, 0] - m[0, 1])
        n = math.sqrt(w * w + x * x + y * y + z * z)
        return x / n, y / n, z / n, w / n

    def matrix(self) -> np.ndarray:
        """[4, 4] camera-to-world."""
        m = np.eye(4)
        m[:3, :3], m[:3, 3] = self.rotation, self.position
        return m
