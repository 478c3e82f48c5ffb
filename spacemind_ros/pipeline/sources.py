"""Frame sources for the CLI and benchmarks: an image folder, a video file, or an image topic of a ROS 2 bag.

``open_source`` checks a source before anything expensive happens (the model load) and counts its frames where the
container says. Frame generators take ``on_bad(where, exc)``: given, a bad image is reported there and skipped, as
the node drops and counts bad frames; not given, it raises ImageFormatError.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spacemind_ros.errors import ImageFormatError
from spacemind_ros.images import compressed_msg_to_rgb8, image_msg_to_rgb8

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
OnBad = Callable[[str, Exception], None]


def _bad(on_bad: OnBad | None, where: str, exc: Exception) -> None:
    if on_bad is None:
        raise ImageFormatError(f"{where}: {exc}") from exc
    on_bad(where, exc)


def image_paths(folder: str | Path) -> list[Path]:
    """Image files of ``folder`` sorted by name; a clear error for a missing, non-folder or empty path."""
    folder = Path(folder)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"{folder} is a file, not a folder: --images takes a folder of images (or use --video)")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {folder}")
    return paths


def folder_frames(folder: str | Path, fps: float = 2.0,
                  on_bad: OnBad | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Images sorted by name, stamped ``i / fps`` seconds (a skipped image keeps its slot in time)."""
    from PIL import Image, UnidentifiedImageError

    for i, path in enumerate(image_paths(folder)):
        try:
            with Image.open(path) as im:
                rgb = np.asarray(im.convert("RGB"))  # convert() loads: a truncated file fails here
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            _bad(on_bad, path.name, exc)
            continue
        yield int(i * 1e9 / fps), rgb


def video_frames(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded frames of a video file (PyAV / FFmpeg), stamped by their presentation time."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            yield int(t * 1e9), frame.to_ndarray(format="rgb24")


def bag_frames(bag: str | Path, topic: str, on_bad: OnBad | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """sensor_msgs/Image or CompressedImage messages of ``topic``, stamped by their header."""
    from rosbags.highlevel import AnyReader

    with AnyReader([Path(bag)]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            topics = sorted({c.topic for c in reader.connections})
            raise ValueError(f"topic {topic!r} is not in {bag}; it has: {', '.join(topics) or 'no topics'}")
        for i, (connection, timestamp, raw) in enumerate(reader.messages(connections=connections)):
            try:
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec or timestamp
                compressed = connection.msgtype.endswith("CompressedImage")
                rgb = compressed_msg_to_rgb8(msg) if compressed else image_msg_to_rgb8(msg)
            except Exception as exc:  # noqa: BLE001 - any bad message is skipped and counted, like the node does
                _bad(on_bad, f"{topic} message {i + 1}", exc)
                continue
            yield stamp, rgb


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


@dataclass
class Source:
    """A checked frame source: ``frames(on_bad)`` yields ``(stamp_ns, [H, W, 3] uint8 RGB)``; ``total`` may be None."""

    description: str
    frames: Callable[[OnBad | None], Iterator[tuple[int, np.ndarray]]]
    total: int | None = None


def open_images(folder: str | Path, fps: float = 2.0) -> Source:
    paths = image_paths(folder)
    return Source(f"{len(paths)} images in {folder}", lambda on_bad: folder_frames(folder, fps, on_bad), len(paths))


def open_video(path: str | Path) -> Source:
    import av

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            total = container.streams.video[0].frames or None  # 0 when the container does not say
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path} is not a readable video: {exc}") from exc
    return Source(f"video {path}", lambda on_bad: video_frames(path), total)


def open_bag(bag: str | Path, topic: str) -> Source:
    from rosbags.highlevel import AnyReader

    bag = Path(bag)
    if not bag.exists():
        raise FileNotFoundError(f"bag {bag} does not exist")
    try:
        with AnyReader([bag]) as reader:
            connections = [c for c in reader.connections if c.topic == topic]
            topics = sorted({c.topic for c in reader.connections})
    except Exception as exc:  # noqa: BLE001 - rosbags raises its own error types for unreadable bags
        raise ValueError(f"{bag} is not a readable ROS 2 bag: {exc}") from exc
    if not connections:
        raise ValueError(f"topic {topic!r} is not in {bag}; it has: {', '.join(topics) or 'no topics'}")
    return Source(f"{topic} in {bag}", lambda on_bad: bag_frames(bag, topic, on_bad),
                  sum(c.msgcount for c in connections))


def keyframes(frames: Iterable[tuple[int, np.ndarray]], min_gap_ns: int) -> Iterator[tuple[int, np.ndarray]]:
    """Frames at least ``min_gap_ns`` after the previous one kept (the window's keyframe rule, applied early)."""
    last = None
    for stamp, image in frames:
        if last is None or stamp - last >= min_gap_ns:
            last = stamp
            yield stamp, image


def uniform_budget(frames: Iterable[tuple[int, np.ndarray]], max_frames: int) -> list[tuple[int, np.ndarray]]:
    """At most ``max_frames`` frames spread uniformly over the whole stream, of unknown length, holding at most
    ``max_frames + 1`` in memory: keep every stride-th frame; on overflow drop every other kept one, double the
    stride. Returns between ``max_frames // 2`` and ``max_frames`` frames (fewer only if the stream is shorter)."""
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    kept, stride = [], 1
    for i, frame in enumerate(frames):
        if i % stride:
            continue  # dropped at once: a decoded frame lives only until the next one replaces it
        kept.append(frame)
        if len(kept) > max_frames:
            kept, stride = kept[::2], stride * 2
    return kept
