"""Least-squares similarity alignment (Umeyama 1991): dst ~ s R src + t, with the residual."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Similarity:
    """x -> scale * R x + t; ``rmse`` is the root-mean-square residual of the fit (destination units)."""

    scale: float
    rotation: np.ndarray  # [3, 3]
    translation: np.ndarray  # [3]
    rmse: float = 0.0
    max_error: float = 0.0
    count: int = 0

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``[..., 3]`` -> ``[..., 3]``."""
        return self.scale * np.asarray(points) @ self.rotation.T + self.translation

    def apply_pose(self, world_from_camera: np.ndarray) -> np.ndarray:
        """``[..., 4, 4]`` -> the same poses in the destination frame (rotation turned, centre mapped; no scale
        on the rotation part)."""
        out = np.array(world_from_camera, dtype=np.float64, copy=True)
        out[..., :3, :3] = self.rotation @ out[..., :3, :3]
        out[..., :3, 3] = self.apply(out[..., :3, 3])
        return out


def umeyama(src: np.ndarray, dst: np.ndarray, with_scale: bool = True) -> Similarity:
    """Points ``[N, 3]`` and their targets ``[N, 3]`` -> the similarity minimising sum |dst - (s R src + t)|^2.

    Needs N >= 3 points that are not all on one line (else the rotation about that line is undetermined);
    raises ValueError saying so.
    """
    src, dst = np.asarray(src, dtype=np.float64), np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 3:
        raise ValueError(f"need two [N, 3] arrays of the same shape, got {src.shape} and {dst.shape}")
    n = src.shape[0]
    if n < 3:
        raise ValueError(f"a similarity needs at least 3 matched positions, got {n}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs ** 2).sum() / n
    cov = xd.T @ xs / n
    U, D, Vt = np.linalg.svd(cov)
    scale_ref = max(D[0], 1e-300)
    if var_s <= 1e-18 or D[1] <= 1e-9 * scale_ref:
        raise ValueError("the positions are (nearly) collinear or identical: rotation and scale are undetermined "
                         "(move the camera along a non-straight path)")
    E = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        E[2, 2] = -1.0  # a reflection would fit better; take the best proper rotation instead
    R = U @ E @ Vt
    s = float(np.trace(np.diag(D) @ E) / var_s) if with_scale else 1.0
    t = mu_d - s * R @ mu_s
    err = np.linalg.norm(dst - (s * src @ R.T + t), axis=1)
    return Similarity(s, R, t, float(np.sqrt((err ** 2).mean())), float(err.max()), n)
