"""Window geometry (ROS-free): camera poses, depth, fused point clouds, metric alignment to odometry.

Conventions: camera axes are OpenCV (x right, y down, z forward; the ROS optical frame, REP-103); VGGT's world is
the first sampled camera's frame, up to an unknown scale, until aligned to odometry (metres, odometry frame).
Shapes: S sampled frames, H, W VGGT image size in pixels, N points.
"""
from spacemind_ros.geometry.alignment import Similarity, umeyama
from spacemind_ros.geometry.cloud import PointCloud, confidence_mask, voxel_downsample
from spacemind_ros.geometry.poses import camera_centres, extrinsic_to_world_from_camera, matrix_to_quaternion
from spacemind_ros.geometry.unproject import unproject_depth

__all__ = [
    "PointCloud",
    "Similarity",
    "camera_centres",
    "confidence_mask",
    "extrinsic_to_world_from_camera",
    "matrix_to_quaternion",
    "umeyama",
    "unproject_depth",
    "voxel_downsample",
]
