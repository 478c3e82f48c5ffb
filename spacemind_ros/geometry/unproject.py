"""Depth maps -> 3D points with pinhole intrinsics."""
from __future__ import annotations

import numpy as np


def unproject_depth(depth: np.ndarray, intrinsic: np.ndarray, world_from_camera: np.ndarray | None = None
                    ) -> np.ndarray:
    """depth ``[S, H, W]`` (z along the optical axis), intrinsic ``[S, 3, 3]`` in pixels -> points ``[S, H, W, 3]``.

    Pixel (u, v) is the centre of column u, row v (no half-pixel shift), as VGGT's own unprojection does. With
    ``world_from_camera`` ``[S, 4, 4]`` the points are moved into the world frame, else they stay per camera.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 3:
        raise ValueError(f"depth must be [S, H, W], got shape {depth.shape}")
    S, H, W = depth.shape
    K = np.asarray(intrinsic, dtype=np.float64)
    if K.shape != (S, 3, 3):
        raise ValueError(f"intrinsic must be [{S}, 3, 3], got {K.shape}")
    v, u = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    fx, fy = K[:, 0, 0, None, None], K[:, 1, 1, None, None]
    cx, cy = K[:, 0, 2, None, None], K[:, 1, 2, None, None]
    points = np.stack([(u - cx) / fx * depth, (v - cy) / fy * depth, depth], axis=-1)
    if world_from_camera is not None:
        T = np.asarray(world_from_camera, dtype=np.float64)
        points = np.einsum("sij,shwj->shwi", T[:, :3, :3], points) + T[:, None, None, :3, 3]
    return points
