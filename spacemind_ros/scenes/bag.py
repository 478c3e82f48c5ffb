"""A scene's ROS 2 bag, written with ``rosbags``: images, camera info, depth and ground-truth camera poses.

Topics (one message each per frame, all stamped with the frame's time, header and bag time alike):
  /camera/image_raw    sensor_msgs/Image rgb8            frame_id camera_optical
  /camera/camera_info  sensor_msgs/CameraInfo plumb_bob  frame_id camera_optical, no distortion
  /camera/depth        sensor_msgs/Image 32FC1           metres along the optical axis (REP-118)
  /camera/pose         geometry_msgs/PoseStamped         frame_id map: the camera_optical frame in the world
  /camera/semantic     sensor_msgs/Image mono8           per pixel the class the renderer drew there
                                                         (SEMANTIC_CLASSES: floor, ceiling, wall, then the object
                                                         categories), the dense label of the category objective
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from spacemind_ros.scenes.camera import Intrinsics, Pose

IMAGE_TOPIC = "/camera/image_raw"
INFO_TOPIC = "/camera/camera_info"
DEPTH_TOPIC = "/camera/depth"
POSE_TOPIC = "/camera/pose"
SEMANTIC_TOPIC = "/camera/semantic"
CAMERA_FRAME, WORLD_FRAME = "camera_optical", "map"
STORAGES = ("mcap", "sqlite3")


def _typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


class SceneBagWriter:
    """Context manager writing frames to a rosbag2 folder ``path`` (must not exist) with ``storage`` "mcap" or
    "sqlite3"; ``compress`` turns on zstd (mcap chunks, or per message in sqlite3)."""

    def __init__(self, path: str | Path, storage: str = "mcap", compress: bool = False):
        if storage not in STORAGES:
            raise ValueError(f"unknown bag storage {storage!r}; use one of: {', '.join(STORAGES)}")
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.path = Path(path)
        self.store = _typestore()
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=9, storage_plugin=plugin)
        if compress:
            from rosbags.rosbag2 import CompressionFormat, CompressionMode

            mode = CompressionMode.STORAGE if storage == "mcap" else CompressionMode.MESSAGE
            self._writer.set_compression(mode, CompressionFormat.ZSTD)
        self._conns: dict[str, object] = {}
        self._little = sys.byteorder == "little"

    def __enter__(self) -> "SceneBagWriter":
        self._writer.open()
        types = {IMAGE_TOPIC: "sensor_msgs/msg/Image", INFO_TOPIC: "sensor_msgs/msg/CameraInfo",
                 DEPTH_TOPIC: "sensor_msgs/msg/Image", POSE_TOPIC: "geometry_msgs/msg/PoseStamped",
                 SEMANTIC_TOPIC: "sensor_msgs/msg/Image"}
        for topic, msgtype in types.items():
            self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store)
        return self

    def __exit__(self, *exc) -> None:
        self._writer.close()

    def _header(self, stamp_ns: int, frame_id: str):
        t = self.store.types
        time = t["builtin_interfaces/msg/Time"](sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
        return t["std_msgs/msg/Header"](stamp=time, frame_id=frame_id)

    def _write(self, topic: str, stamp_ns: int, msg) -> None:
        self._writer.write(self._conns[topic], stamp_ns, self.store.serialize_cdr(msg, msg.__msgtype__))

    def write(self, stamp_ns: int, rgb: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics, pose: Pose,
              semantic: np.ndarray | None = None) -> None:
        """One frame: ``rgb`` [H, W, 3] uint8, ``depth`` [H, W] float32 metres, its camera and camera-to-world pose,
        and ``semantic`` [H, W] uint8 class ids (SEMANTIC_CLASSES) where given."""
        t = self.store.types
        h, w = rgb.shape[:2]
        header = self._header(stamp_ns, CAMERA_FRAME)
        image = t["sensor_msgs/msg/Image"]
        self._write(IMAGE_TOPIC, stamp_ns, image(header=header, height=h, width=w, encoding="rgb8", is_bigendian=0,
                                                 step=w * 3, data=np.ascontiguousarray(rgb).reshape(-1)))
        d = np.ascontiguousarray(depth, dtype=np.float32)
        self._write(DEPTH_TOPIC, stamp_ns, image(header=header, height=h, width=w, encoding="32FC1",
                                                 is_bigendian=int(not self._little), step=w * 4,
                                                 data=d.view(np.uint8).reshape(-1)))
        k = intrinsics
        self._write(INFO_TOPIC, stamp_ns, t["sensor_msgs/msg/CameraInfo"](
            header=header, height=h, width=w, distortion_model="plumb_bob", d=np.zeros(5),
            k=k.matrix.reshape(-1), r=np.eye(3).reshape(-1),
            p=np.array([k.fx, 0.0, k.cx, 0.0, 0.0, k.fy, k.cy, 0.0, 0.0, 0.0, 1.0, 0.0]), binning_x=0, binning_y=0,
            roi=t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)))
        if semantic is not None:
            self._write(SEMANTIC_TOPIC, stamp_ns, image(header=header, height=h, width=w, encoding="mono8",
                                                        is_bigendian=0, step=w,
                                                        data=np.ascontiguousarray(semantic, np.uint8).reshape(-1)))
        qx, qy, qz, qw = pose.quaternion()
        px, py, pz = (float(v) for v in pose.position)
        gm = "geometry_msgs/msg/"
        self._write(POSE_TOPIC, stamp_ns, t[gm + "PoseStamped"](
            header=self._header(stamp_ns, WORLD_FRAME),
            pose=t[gm + "Pose"](position=t[gm + "Point"](x=px, y=py, z=pz),
                                orientation=t[gm + "Quaternion"](x=qx, y=qy, z=qz, w=qw))))


def read_messages(path: str | Path, topic: str):
    """``(bag time ns, deserialised message)`` of ``topic``, in order (tests, tools)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(path)], default_typestore=_typestore()) as reader:
        conns = [c for c in reader.connections if c.topic == topic]
        if not conns:
            raise ValueError(f"topic {topic!r} is not in {path}")
        for conn, stamp, raw in reader.messages(connections=conns):
            yield stamp, reader.deserialize(raw, conn.msgtype)


def raw_messages(path: str | Path) -> list[tuple[str, int, bytes]]:
    """Every message as ``(topic, bag time ns, serialised bytes)`` (for comparing bags byte for byte)."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(path)], default_typestore=_typestore()) as reader:
        return [(c.topic, stamp, bytes(raw)) for c, stamp, raw in reader.messages()]
