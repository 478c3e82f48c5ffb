"""VSI-Bench-style data -> bags and a question file: one video per scene becomes one ROS 2 bag with rgb8
sensor_msgs/Image on ``/camera/image_raw`` at a chosen rate, and the question records become question JSONL.

Questions: JSON (a list of records, or an object with a "data"/"questions"/"rows" list), JSONL or parquet (the
nyu-visionx/VSI-Bench file, needs pyarrow), with id, dataset, scene_name, question_type, question, options,
ground_truth. Videos: ``VIDEOS/<dataset>/<scene_name>.<ext>`` or ``VIDEOS/<scene_name>.<ext>``. Bad records and
missing or unreadable videos are reported with file and record number; the rest is converted. A scene whose bag
is already complete is not converted again (resumable).
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacemind_ros.eval.bags import write_frames
from spacemind_ros.eval.questions import DEFAULT_IMAGE_TOPIC, Problem, read_jsonl
from spacemind_ros.eval.scoring import MCA_TYPES, NA_TYPES, check_ground_truth

VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")


@dataclass
class ConvertStats:
    scenes: int = 0
    bags_written: int = 0
    bags_reused: int = 0
    frames: int = 0
    questions: int = 0
    problems: list[Problem] = field(default_factory=list)


def read_records(path: Path) -> Iterator[tuple[int, dict | None, str]]:
    """``(record number (JSONL: line), record or None, why)`` from JSON, JSONL or parquet."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        yield from read_jsonl(path)
        return
    if suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError as exc:
            raise RuntimeError("reading parquet needs pyarrow (pip install pyarrow)") from exc
        table = pq.read_table(path)
        for i, row in enumerate(table.to_pylist(), 1):
            yield i, row, ""
        return
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data = next((data[k] for k in ("data", "questions", "rows") if isinstance(data.get(k), list)), None)
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of question records")
    for i, row in enumerate(data, 1):
        yield (i, row, "") if isinstance(row, dict) else (i, None, "a record must be a JSON object")


def find_video(videos: Path, dataset: str, scene: str) -> Path | None:
    for folder in (videos / dataset, videos) if dataset else (videos,):
        for suffix in VIDEO_SUFFIXES:
            p = folder / f"{scene}{suffix}"
            if p.is_file():
                return p
    return None


def video_frames_at_rate(path: Path, rate: float, max_side: int = 0) -> Iterator[tuple[int, np.ndarray]]:
    """Frames of a video at ``rate`` Hz (the first frame at or after each 1/rate tick), stamped by presentation
    time in ns, longer side scaled down to ``max_side`` (0 = as is). Streams (PyAV)."""
    import av
    from PIL import Image

    period = 1.0 / rate
    next_t = None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            t = float(frame.time) if frame.time is not None else 0.0
            if next_t is None:
                next_t = t
            if t + 1e-9 < next_t:
                continue
            while next_t <= t + 1e-9:
                next_t += period
            rgb = frame.to_ndarray(format="rgb24")
            h, w = rgb.shape[:2]
            if max_side and max(h, w) > max_side:
                scale = max_side / max(h, w)
                size = (max(1, round(w * scale)), max(1, round(h * scale)))
                rgb = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
            yield int(round(t * 1e9)), rgb


def _bag_complete(bag: Path) -> bool:
    return (bag / "metadata.yaml").is_file()


def convert(questions: Path, videos: Path, out: Path, rate: float = 2.0, storage: str = "sqlite3",
            max_side: int = 640, topic: str = DEFAULT_IMAGE_TOPIC, progress=None) -> ConvertStats:
    """Write ``out/bags/<dataset>/<scene>`` bags and ``out/questions.jsonl``; returns counts and problems."""
    if rate <= 0:
        raise ValueError("rate must be > 0 (frames per second in the bag)")
    questions, videos, out = Path(questions), Path(videos), Path(out)
    stats = ConvertStats()
    scenes: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    for n, record, why in read_records(questions):
        if record is None:
            stats.problems.append(Problem(str(questions), n, why))
            continue
        try:
            qtype = record.get("question_type")
            check_ground_truth(qtype, record.get("ground_truth"))
            if not record.get("scene_name"):
                raise ValueError("'scene_name' is missing")
            if record.get("id") is None:
                raise ValueError("'id' is missing")
            if not isinstance(record.get("question"), str) or not record["question"].strip():
                raise ValueError("'question' is missing or empty")
        except ValueError as exc:
            stats.problems.append(Problem(str(questions), n, str(exc), str(record.get("id") or "")))
            continue
        scenes.setdefault((str(record.get("dataset") or ""), str(record["scene_name"])), []).append((n, record))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "questions.jsonl", "w", encoding="utf-8") as qf:
        for (dataset, scene), records in scenes.items():
            stats.scenes += 1
            rel = Path("bags") / dataset / scene if dataset else Path("bags") / scene
            bag = out / rel
            if not _bag_complete(bag):
                video = find_video(videos, dataset, scene)
                if video is None:
                    for n, r in records:
                        stats.problems.append(Problem(str(questions), n, f"no video for scene {scene!r} under "
                                                      f"{videos} ({dataset}/{scene}.mp4 or {scene}.mp4)", str(r["id"])))
                    continue
                shutil.rmtree(bag, ignore_errors=True)  # a bag left half-written by an interrupted run
                bag.parent.mkdir(parents=True, exist_ok=True)
                try:
                    stats.frames += write_frames(bag, video_frames_at_rate(video, rate, max_side), topic, storage)
                except Exception as exc:  # noqa: BLE001 - a broken video loses its scene, not the run
                    shutil.rmtree(bag, ignore_errors=True)
                    for n, r in records:
                        stats.problems.append(Problem(str(questions), n, f"video {video} cannot be converted: "
                                                      f"{type(exc).__name__}: {exc}", str(r["id"])))
                    continue
                stats.bags_written += 1
            else:
                stats.bags_reused += 1
            for n, r in records:
                qtype = r["question_type"]
                options = r.get("options")
                options = [] if options is None or qtype in NA_TYPES else list(options)
                if qtype in MCA_TYPES and not options:
                    stats.problems.append(Problem(str(questions), n, f"{qtype} is multiple choice but has no "
                                                  "options", str(r["id"])))
                    continue
                rec = {"id": r["id"], "dataset": dataset, "scene_name": scene, "question_type": qtype,
                       "question": r["question"], "options": options, "ground_truth": str(r["ground_truth"]),
                       "bag": rel.as_posix(), "image_topic": topic}
                qf.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
                stats.questions += 1
            if progress is not None:
                progress(stats)
    return stats
