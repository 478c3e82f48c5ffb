"""How much of what one view shows another view shows too, from true depth and poses."""
from __future__ import annotations

import numpy as np

from spacemind_ros.geometry.unproject import unproject_depth


def covisible_share(depth_a: np.ndarray, intrinsic_a: np.ndarray, world_from_a: np.ndarray, depth_b: np.ndarray,
                    intrinsic_b: np.ndarray, world_from_b: np.ndarray, tolerance: float = 0.05) -> float:
    """The share of view a's pixels with depth (``[H, W]`` metres, 0 = none) whose 3D point view b also sees: in front
    of b, inside its image and not hidden behind what b's depth shows there (within ``tolerance`` metres). Intrinsics
    ``[3, 3]`` pixels, poses ``[4, 4]`` world-from-camera (OpenCV axes). 0 when a has no depth."""
    valid = np.asarray(depth_a) > 0
    if not valid.any():
        return 0.0
    world = unproject_depth(np.asarray(depth_a)[None], np.asarray(intrinsic_a)[None],
                            np.asarray(world_from_a)[None])[0][valid]
    b_from_world = np.linalg.inv(world_from_b)
    p = world @ b_from_world[:3, :3].T + b_from_world[:3, 3]
    z = p[:, 2]
    front = z > 1e-6
    zs = np.where(front, z, 1.0)
    K = np.asarray(intrinsic_b, dtype=np.float64)
    # the pixel whose centre is nearest, halves up: pixel u spans [u - 0.5, u + 0.5), as unproject_depth has it
    col = np.floor(K[0, 0] * p[:, 0] / zs + K[0, 2] + 0.5).astype(np.int64)
    row = np.floor(K[1, 1] * p[:, 1] / zs + K[1, 2] + 0.5).astype(np.int64)
    h, w = np.asarray(depth_b).shape
    inside = front & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    seen = np.zeros(len(p), bool)
    there = np.asarray(depth_b)[row[inside], col[inside]]
    seen[inside] = (there > 0) & (there >= z[inside] - tolerance)
    return float(seen.mean())
