"""Metric route waypoints: from the newest camera to a goal located in the window geometry."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from spacemind_ros.geometry.cloud import confidence_mask
from spacemind_ros.geometry.unproject import unproject_depth
from spacemind_ros.geometry.window_geometry import WindowGeometry, valid_intrinsics

NEAREST_FRACTION = 0.1  # the goal is the median of the nearest tenth of a frame's confident points
STANDOFF_M = 0.5  # stop this far short of the goal (metric paths)


@dataclass
class RoutePath:
    """Waypoints ``[K, 4, 4]`` (x axis towards the goal) in the geometry's frame; empty with a note otherwise."""

    poses: np.ndarray = field(default_factory=lambda: np.zeros((0, 4, 4)))
    goal: np.ndarray | None = None  # [3]
    note: str = ""


def frame_question(goal: str) -> str:
    """The follow-up question that asks the model which sampled frame shows the goal (it sees Frame1..FrameN)."""
    return f"In which frame is {goal.strip()} most clearly visible? Answer with the frame number only."


def parse_frame_number(text: str, num_frames: int) -> int | None:
    """"Frame 7" / "7" -> index 6; None when no number in 1..num_frames is given."""
    m = re.search(r"\d+", text or "")
    if not m:
        return None
    k = int(m.group(0))
    return k - 1 if 1 <= k <= num_frames else None


def locate_in_frame(geometry: WindowGeometry, index: int, min_confidence: float = 1.0,
                    drop_fraction: float = 0.5) -> np.ndarray | None:
    """The median of the nearest confident points of frame ``index`` (its depth unprojected into the window frame)."""
    if geometry.depth is None or not valid_intrinsics(geometry.intrinsic[index:index + 1])[0]:
        return None
    depth = geometry.depth[index:index + 1]
    mask = confidence_mask(geometry.depth_conf[index:index + 1], min_confidence, drop_fraction) & (depth > 0)
    if not mask.any():
        return None
    points = unproject_depth(depth, geometry.intrinsic[index:index + 1], geometry.world_from_camera[index:index + 1])
    d, p = depth[mask], points[mask]
    nearest = p[np.argsort(d)[: max(1, int(len(d) * NEAREST_FRACTION))]]
    return np.median(nearest, axis=0)


def _facing(direction: np.ndarray, up: np.ndarray) -> np.ndarray:
    """A rotation whose x axis is ``direction`` and whose z axis is as close to ``up`` as possible."""
    x = direction / np.linalg.norm(direction)
    z = up - np.dot(up, x) * x
    if np.linalg.norm(z) < 1e-9:  # looking straight up or down: any perpendicular will do
        z = np.cross(x, [1.0, 0, 0] if abs(x[0]) < 0.9 else [0, 1.0, 0])
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], axis=1)


def straight_path(start: np.ndarray, goal: np.ndarray, metric: bool, step_m: float = 0.5,
                  steps_unscaled: int = 10) -> np.ndarray:
    """Waypoints ``[K, 4, 4]`` from ``start`` towards ``goal``: every ``step_m`` metres, stopping STANDOFF_M short
    (metric); or ``steps_unscaled`` equal steps to the goal (up to scale). Up is +z (odometry) or -y (camera)."""
    start, goal = np.asarray(start, float), np.asarray(goal, float)
    delta = goal - start
    dist = float(np.linalg.norm(delta))
    if dist < 1e-9:
        return np.zeros((0, 4, 4))
    if metric:
        end = max(dist - STANDOFF_M, 0.0)
        ticks = np.append(np.arange(0.0, end, step_m), end) / dist
    else:
        ticks = np.linspace(0.0, 1.0, steps_unscaled + 1)
    R = _facing(delta, np.array([0.0, 0, 1]) if metric else np.array([0.0, -1, 0]))
    poses = np.tile(np.eye(4), (len(ticks), 1, 1))
    poses[:, :3, :3] = R
    poses[:, :3, 3] = start + ticks[:, None] * delta
    return poses


def route_path(geometry: WindowGeometry | None, goal: str, model_answer: str) -> RoutePath:
    """The model's answer to ``frame_question(goal)`` -> waypoints from the newest sampled camera to the nearest
    confident points of the frame it named; empty with the reason when any step is missing."""
    if geometry is None:
        return RoutePath(note="no window geometry (no frames or the geometry failed)")
    n = len(geometry.frame_stamps)
    index = parse_frame_number(model_answer, n)
    if index is None:
        return RoutePath(note=f"the model did not name a frame (1-{n}) showing {goal!r}: answered {model_answer!r}")
    target = locate_in_frame(geometry, index)
    if target is None:
        why = ("no depth head (geometry_dense_heads off)" if geometry.depth is None
               else "no confident depth or a degenerate predicted field of view")
        return RoutePath(note=f"frame {index + 1} shows {goal!r} per the model, but it has {why}")
    poses = straight_path(geometry.world_from_camera[-1, :3, 3], target, geometry.metric)
    where = (f"metres, odometry frame {geometry.odometry_frame_id}" if geometry.metric
             else "up to scale, first sampled camera's frame")
    return RoutePath(poses, target, f"straight line to the nearest confident points of frame {index + 1} "
                                    f"(where the model sees {goal!r}); {where}")
