"""Sampled frames of one sample's media: count the frames, pick them with the pipeline's sampler (34 uniformly,
first and last dropped -> 32), decode only the picked ones (memory stays bounded by the sample, not the video)."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from spacemind_ros.pipeline.frame_window import WindowConfig, sample_indices
from spacemind_ros.pipeline.sources import IMAGE_SUFFIXES


class FrameCache:
    """Decoded samples kept in memory, least recently used dropped first, at most ``max_bytes``: the questions of one
    video share its sampled frames, and decoding them again for every question costs more than the model's step on
    the small preset. Keyed by the media file's path, size and mtime and the sampling, so a changed file is read
    again."""

    def __init__(self, max_bytes: int = 0):
        self.max_bytes, self.nbytes = max_bytes, 0
        self._items: OrderedDict[tuple, list[np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            frames = self._items.get(key)
            if frames is not None:
                self._items.move_to_end(key)
            return frames

    def put(self, key: tuple, frames: list[np.ndarray]) -> None:
        size = sum(f.nbytes for f in frames)
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = frames
            self.nbytes += size
            while self.nbytes > self.max_bytes:
                _, old = self._items.popitem(last=False)
                self.nbytes -= sum(f.nbytes for f in old)


def sampled_frames(kind: str, media: str | Path, sampling: WindowConfig, topic: str | None = None,
                   until_ns: int | None = None, cache: FrameCache | None = None) -> list[np.ndarray]:
    """``[H, W, 3]`` uint8 RGB frames of a video / frame folder / bag topic, sampled like the node samples its
    window. Raises ValueError / OSError with the file named when the media cannot be read."""
    media = Path(media)
    if cache is not None and cache.max_bytes > 0 and media.exists():
        stat = media.stat()
        key = (str(media.resolve()), stat.st_size, stat.st_mtime_ns, kind, sampling.sample_frames,
               sampling.drop_ends, topic, until_ns)
        frames = cache.get(key)
        if frames is None:
            frames = sampled_frames(kind, media, sampling, topic, until_ns)
            cache.put(key, frames)
        return frames
    if not media.exists():
        raise FileNotFoundError(f"{media} does not exist")
    reader = {"video": _video, "frames": _folder, "bag": _bag}[kind]
    frames = reader(media, sampling, topic, until_ns)
    if len(frames) < sampling.min_frames:
        raise ValueError(f"{media}: {len(frames)} frame(s); at least {sampling.min_frames} are needed")
    return frames


def _pick(n: int, sampling: WindowConfig) -> list[int]:
    return sample_indices(n, sampling) if n else []


def _folder(folder: Path, sampling, topic, until_ns):
    from PIL import Image

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    out = []
    for i in _pick(len(paths), sampling):
        with Image.open(paths[i]) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def _video(path: Path, sampling, topic, until_ns):
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        n = stream.frames or sum(1 for _ in container.decode(stream))  # some containers do not store the count
    wanted = set(_pick(n, sampling))
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(container.streams.video[0])):
            if i in wanted:
                out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == len(wanted):
                break
    return out


def _bag(path: Path, sampling, topic, until_ns):
    from rosbags.highlevel import AnyReader

    from spacemind_ros.images import compressed_msg_to_rgb8, image_msg_to_rgb8

    topic = topic or "/camera/image_raw"
    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        if not connections:
            topics = sorted({c.topic for c in reader.connections})
            raise ValueError(f"topic {topic!r} is not in {path}; it has: {', '.join(topics) or 'no topics'}")
        stop = None if until_ns is None else int(until_ns) + 1
        n = sum(1 for _ in reader.messages(connections=connections, stop=stop)) if stop else \
            sum(c.msgcount for c in connections)
        wanted = set(_pick(n, sampling))
        out = []
        for i, (conn, _, raw) in enumerate(reader.messages(connections=connections, stop=stop)):
            if i in wanted:  # only the picked messages are deserialised and converted
                msg = reader.deserialize(raw, conn.msgtype)
                out.append(compressed_msg_to_rgb8(msg) if conn.msgtype.endswith("CompressedImage")
                           else image_msg_to_rgb8(msg))
                if len(out) == len(wanted):
                    break
    return out
