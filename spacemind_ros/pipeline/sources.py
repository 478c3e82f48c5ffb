"""Frame sources for the CLI and benchmarks: an image folder, a video file, or an image topic of a ROS 2 bag."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from spacemind_ros.images import compressed_msg_to_rgb8, image_msg_to_rgb8

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def folder_frames(folder: str | Path, fps: float = 2.0) -> Iterator[tuple[int, np.ndarray]]:
    """Images sorted by name, stamped ``i / fps`` seconds."""
    from PIL import Image

    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            yield int(i * 1e9 / fps), np.asarray(im.convert("RGB"))


def video_frames(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded frames of a video file (PyAV / FFmpeg), stamped by their presentation time."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            yield int(t * 1e9), frame.to_ndarray(format="rgb24")


def bag_frames(bag: str | Path, topic: str) -> Iterator[tuple[int, np.ndarray]]:
    """sensor_msgs/Image or CompressedImage messages of ``topic``, stamped by their header."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            topics = sorted({c.topic for c in reader.connections})
            raise ValueError(f"topic {topic!r} is not in {bag}; it has: {', '.join(topics) or 'no topics'}")
        for connection, timestamp, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, connection.msgtype)
            stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec or timestamp
            if connection.msgtype.endswith("CompressedImage"):
                yield stamp, compressed_msg_to_rgb8(msg)
            else:
                yield stamp, image_msg_to_rgb8(msg)


def write_image_bag(bag: str | Path, topic: str, frames, encoding: str = "rgb8") -> None:
    """Write ``(stamp_ns, [H, W, 3] RGB)`` frames as sensor_msgs/Image to a ROS 2 (sqlite3) bag."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    Image, Header, Time = (store.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                   "builtin_interfaces/msg/Time"))
    with Writer(Path(bag), version=8) as writer:
        conn = writer.add_connection(topic, Image.__msgtype__, typestore=store)
        for stamp, rgb in frames:
            data = rgb if encoding == "rgb8" else rgb[:, :, ::-1]
            h, w = rgb.shape[:2]
            msg = Image(header=Header(stamp=Time(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                                      frame_id="camera"),
                        height=h, width=w, encoding=encoding, is_bigendian=0, step=w * 3,
                        data=np.ascontiguousarray(data).reshape(-1))
            writer.write(conn, stamp, store.serialize_cdr(msg, Image.__msgtype__))
