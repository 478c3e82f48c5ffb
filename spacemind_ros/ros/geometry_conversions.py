"""Window geometry -> ROS messages: PoseArray, PointCloud2 (x y z rgb), 32FC1 depth Image and its CameraInfo."""
from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion, Transform, TransformStamped, Vector3
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header

from spacemind_ros.geometry.cloud import PointCloud
from spacemind_ros.geometry.poses import matrix_to_quaternion

# The standard x y z rgb layout (PCL's PointXYZRGB as ROS tools write it): float32 x, y, z and the colour packed
# as 0x00RRGGBB into the bits of a float32 named rgb; 16 bytes per point, little-endian.
CLOUD_DTYPE = np.dtype({"names": ["x", "y", "z", "rgb"], "formats": ["<f4", "<f4", "<f4", "<f4"],
                        "offsets": [0, 4, 8, 12], "itemsize": 16})


def xyzrgb_fields() -> list[PointField]:
    return [PointField(name=n, offset=o, datatype=PointField.FLOAT32, count=1)
            for n, o in (("x", 0), ("y", 4), ("z", 8), ("rgb", 12))]


def pack_rgb(colors: np.ndarray) -> np.ndarray:
    """``[N, 3]`` uint8 -> ``[N]`` uint32 0x00RRGGBB."""
    c = np.asarray(colors, dtype=np.uint32).reshape(-1, 3)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def cloud_to_msg(cloud: PointCloud, header: Header) -> PointCloud2:
    """An unordered cloud (height 1). Uses sensor_msgs_py.point_cloud2 where it is installed (a ROS install), and
    the same bytes built with numpy where it is not (the PyPI wheels)."""
    records = np.zeros(len(cloud), dtype=CLOUD_DTYPE)
    records["x"], records["y"], records["z"] = cloud.points[:, 0], cloud.points[:, 1], cloud.points[:, 2]
    records["rgb"] = pack_rgb(cloud.colors).view("<f4")  # the bits, not a conversion
    try:
        from sensor_msgs_py import point_cloud2
    except ImportError:
        point_cloud2 = None
    if point_cloud2 is not None:
        return point_cloud2.create_cloud(header, xyzrgb_fields(), records)
    return PointCloud2(header=header, height=1, width=len(cloud), fields=xyzrgb_fields(), is_bigendian=False,
                       point_step=CLOUD_DTYPE.itemsize, row_step=CLOUD_DTYPE.itemsize * len(cloud),
                       data=records.tobytes(), is_dense=True)


def _rigid(world_from_camera: np.ndarray) -> list[tuple[tuple[float, ...], Quaternion]]:
    """``[S, 4, 4]`` -> each pose's translation (x, y, z) and rotation quaternion."""
    quats = matrix_to_quaternion(world_from_camera[:, :3, :3])
    return [(tuple(float(v) for v in t), Quaternion(x=float(q[0]), y=float(q[1]), z=float(q[2]), w=float(q[3])))
            for t, q in zip(world_from_camera[:, :3, 3], quats)]


def poses_to_msg(world_from_camera: np.ndarray, header: Header) -> PoseArray:
    """``[S, 4, 4]`` camera (optical axes) -> ``header.frame_id`` poses."""
    poses = [Pose(position=Point(x=t[0], y=t[1], z=t[2]), orientation=q) for t, q in _rigid(world_from_camera)]
    return PoseArray(header=header, poses=poses)


def depth_to_msg(depth: np.ndarray, header: Header) -> Image:
    """``[H, W]`` float depth -> 32FC1 Image (little-endian; NaN where there is none)."""
    depth = np.ascontiguousarray(depth, dtype="<f4")
    H, W = depth.shape
    return Image(header=header, height=H, width=W, encoding="32FC1", is_bigendian=0, step=4 * W,
                 data=depth.tobytes())


def camera_info_to_msg(intrinsic: np.ndarray, height: int, width: int, header: Header) -> CameraInfo:
    """The pinhole model of an image (intrinsic ``[3, 3]`` in its pixels) as CameraInfo: no distortion
    (plumb_bob, zeros), R identity, P = [K | 0]; what depth_image_proc and RViz need to unproject ``~/depth``."""
    K = np.asarray(intrinsic, dtype=np.float64)
    P = np.zeros((3, 4))
    P[:, :3] = K
    return CameraInfo(header=header, height=int(height), width=int(width), distortion_model="plumb_bob",
                      d=[0.0] * 5, k=K.reshape(-1).tolist(), r=np.eye(3).reshape(-1).tolist(),
                      p=P.reshape(-1).tolist())


def transform_to_msg(world_from_camera: np.ndarray, header: Header, child_frame_id: str) -> TransformStamped:
    """``[4, 4]`` camera -> ``header.frame_id`` as the TransformStamped TF carries (the camera's pose in the frame)."""
    ((t, q),) = _rigid(world_from_camera[None])
    return TransformStamped(header=header, child_frame_id=child_frame_id, transform=Transform(
        translation=Vector3(x=t[0], y=t[1], z=t[2]), rotation=q))
