"""Image frames out of ROS 2 bags (sqlite3 or mcap, read and written with ``rosbags``), streamed one at a time."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from spacemind_ros.images import compressed_msg_to_rgb8, image_msg_to_rgb8


class BagError(Exception):
    """A bag that cannot be read (missing, unreadable, truncated) or lacks the topic."""


def bag_frames(bag: str | Path, topic: str, bad_frames: list | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(stamp ns, [H, W, 3] uint8 RGB)`` of ``topic`` in bag order, stamped by the message header (the bag's
    receive time where the header stamp is zero), as the node would see them. Streams: one frame in memory.

    Raises BagError (possibly after some frames, for a truncated bag). A message that does not decode to an image
    is skipped and its reason appended to ``bad_frames`` (the node drops such frames too).
    """
    from rosbags.highlevel import AnyReader

    bag = Path(bag)
    if not bag.exists():
        raise BagError(f"bag {bag} does not exist")
    try:
        with AnyReader([bag]) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            if not connections:
                topics = sorted({c.topic for c in reader.connections})
                raise BagError(f"topic {topic!r} is not in bag {bag}; it has: {', '.join(topics) or 'no topics'}")
            for connection, timestamp, raw in reader.messages(connections=connections):
                try:
                    msg = reader.deserialize(raw, connection.msgtype)
                    stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec or timestamp
                    if connection.msgtype.endswith("CompressedImage"):
                        rgb = compressed_msg_to_rgb8(msg)
                    else:
                        rgb = image_msg_to_rgb8(msg)
                except Exception as exc:  # noqa: BLE001 - one bad message loses one frame, not the bag
                    if bad_frames is not None:
                        bad_frames.append(f"bag {bag} message at {timestamp} ns: {type(exc).__name__}: {exc}")
                    continue
                yield int(stamp), rgb
    except BagError:
        raise
    except Exception as exc:  # noqa: BLE001 - rosbags raises many types for unreadable or truncated files
        raise BagError(f"bag {bag} cannot be read: {type(exc).__name__}: {exc}") from exc


def write_frames(bag: str | Path, frames: Iterable[tuple[int, np.ndarray]], topic: str = "/camera/image_raw",
                 storage: str = "sqlite3", frame_id: str = "camera") -> int:
    """Write ``(stamp ns, [H, W, 3] uint8 RGB)`` frames as rgb8 sensor_msgs/Image to a new ROS 2 bag folder
    (storage "sqlite3" or "mcap"), header stamp = bag time. Streams; returns the number of frames written."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    plugins = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}
    if storage not in plugins:
        raise ValueError(f"storage {storage!r}: use sqlite3 or mcap")
    store = get_typestore(Stores.ROS2_JAZZY)
    Image, Header, Time = (store.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                   "builtin_interfaces/msg/Time"))
    n = 0
    with Writer(Path(bag), version=8, storage_plugin=plugins[storage]) as writer:
        conn = writer.add_connection(topic, Image.__msgtype__, typestore=store)
        for stamp, rgb in frames:
            rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
            h, w = rgb.shape[:2]
            msg = Image(header=Header(stamp=Time(sec=stamp // 1_000_000_000, nanosec=stamp % 1_000_000_000),
                                      frame_id=frame_id),
                        height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3, data=rgb.reshape(-1))
            writer.write(conn, int(stamp), store.serialize_cdr(msg, Image.__msgtype__))
            n += 1
    return n
