"""Camera poses from VGGT extrinsics (camera-from-world [R | t], OpenCV axes)."""
from __future__ import annotations

import numpy as np


def extrinsic_to_world_from_camera(extrinsic: np.ndarray) -> np.ndarray:
    """``[S, 3, 4]`` camera-from-world -> ``[S, 4, 4]`` world-from-camera (R^T, -R^T t).

    VGGT's rotation comes from a possibly non-unit quaternion scaled by 2/|q|^2, which is still orthonormal, so the
    transpose is the inverse.
    """
    extrinsic = np.asarray(extrinsic, dtype=np.float64)
    R, t = extrinsic[..., :3, :3], extrinsic[..., :3, 3]
    out = np.zeros(extrinsic.shape[:-2] + (4, 4))
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -np.einsum("...ij,...j->...i", Rt, t)
    out[..., 3, 3] = 1.0
    return out


def camera_centres(world_from_camera: np.ndarray) -> np.ndarray:
    """``[S, 4, 4]`` -> ``[S, 3]`` camera positions in the world frame."""
    return np.asarray(world_from_camera)[..., :3, 3]


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` -> unit quaternions ``[..., 4]`` (x, y, z, w; w >= 0), as ROS orders them."""
    R = np.asarray(R, dtype=np.float64)
    flat = R.reshape(-1, 3, 3)
    out = np.empty((flat.shape[0], 4))
    for n, m in enumerate(flat):
        tr = m[0, 0] + m[1, 1] + m[2, 2]
        # Branch on the largest diagonal term so the square root never approaches zero.
        if tr > 0:
            s = 2.0 * np.sqrt(tr + 1.0)
            q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
        elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
            s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
            q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
        elif m[1, 1] > m[2, 2]:
            s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
            q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
        else:
            s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
            q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
        q = np.asarray(q)
        q /= np.linalg.norm(q)
        out[n] = -q if q[3] < 0 else q
    return out.reshape(R.shape[:-2] + (4,))


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions ``[..., 4]`` (x, y, z, w) -> ``[..., 3, 3]``."""
    q = np.asarray(q, dtype=np.float64)
    x, y, z, w = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    m = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))
