"""Fused point clouds: confidence filtering and voxel downsampling to a point budget."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PointCloud:
    """``points`` ``[N, 3]`` float32 (world units), ``colors`` ``[N, 3]`` uint8 RGB."""

    points: np.ndarray
    colors: np.ndarray

    def __post_init__(self):
        self.points = np.asarray(self.points, dtype=np.float32).reshape(-1, 3)
        self.colors = np.asarray(self.colors, dtype=np.uint8).reshape(-1, 3)
        if len(self.points) != len(self.colors):
            raise ValueError(f"{len(self.points)} points but {len(self.colors)} colours")

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def empty(cls) -> "PointCloud":
        return cls(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8))


def confidence_mask(conf: np.ndarray, min_confidence: float = 1.0, drop_fraction: float = 0.0) -> np.ndarray:
    """Boolean mask of the same shape as ``conf`` (VGGT confidences are >= 1): at least ``min_confidence`` and
    above the ``drop_fraction`` quantile (0.5 keeps the more confident half, as the official demo's 50% default)."""
    conf = np.asarray(conf)
    if not 0.0 <= drop_fraction < 1.0:
        raise ValueError(f"drop_fraction must be in [0, 1), got {drop_fraction}")
    mask = np.isfinite(conf) & (conf >= min_confidence)
    if drop_fraction > 0 and mask.any():
        mask &= conf >= np.quantile(conf[mask], drop_fraction)
    return mask


def voxel_downsample(cloud: PointCloud, voxel_size: float, max_points: int,
                     thin_factor: int = 8) -> tuple[PointCloud, float]:
    """Average points and colours per voxel; if more than ``max_points`` voxels remain, grow the voxel until they
    fit. Returns (cloud, voxel size used). ``voxel_size`` <= 0 starts from the size at which a surface spanning the
    central 96% of the points would fill the budget. Inputs over ``thin_factor * max_points`` points are first
    thinned by an even stride (deterministic), which bounds the cost for full-resolution windows."""
    if max_points < 1:
        raise ValueError(f"max_points must be >= 1, got {max_points}")
    finite = np.isfinite(cloud.points).all(axis=1)
    pts, cols = cloud.points[finite], cloud.colors[finite]
    if len(pts) > thin_factor * max_points:
        stride = -(-len(pts) // (thin_factor * max_points))
        pts, cols = pts[::stride], cols[::stride]
    if len(pts) == 0:
        return PointCloud.empty(), float(voxel_size)
    pts = pts.astype(np.float64)
    lo, hi = np.percentile(pts, [2, 98], axis=0)
    extent = float((hi - lo).max())
    size = float(voxel_size) if voxel_size > 0 else max(extent / np.sqrt(max_points), 1e-9)
    origin = pts.min(0)
    while True:
        inverse, counts = _voxel_ids(np.floor((pts - origin) / size).astype(np.int64))
        if len(counts) <= max_points:
            break
        # Occupied voxels of a surface scale with size^-2: jump most of the way, then settle in small steps.
        size *= max(1.1, min(4.0, float(np.sqrt(len(counts) / max_points))))
    n = len(counts)
    mean_pts = np.stack([np.bincount(inverse, pts[:, k], n) for k in range(3)], 1) / counts[:, None]
    mean_cols = np.stack([np.bincount(inverse, cols[:, k].astype(np.float64), n) for k in range(3)], 1)
    mean_cols = np.clip(np.rint(mean_cols / counts[:, None]), 0, 255)
    return PointCloud(mean_pts, mean_cols), size


def _voxel_ids(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer cells ``[N, 3]`` (>= 0) -> (voxel index per point ``[N]``, points per voxel ``[V]``)."""
    dims = cells.max(0) + 1
    if float(dims[0]) * float(dims[1]) * float(dims[2]) < 2 ** 62:
        # One int64 key per cell: a 1-D unique sorts millions of points far faster than rows do.
        keys = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    else:
        _, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    return inverse.reshape(-1), counts
