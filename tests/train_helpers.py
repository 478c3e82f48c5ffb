"""Small training data written by the tests themselves: ROS 2 bags of a synthetic room, the scenes' question JSONL,
frame folders and videos, and a tiny-preset training config."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spacemind_ros.pipeline.sources import write_image_bag
from spacemind_ros.scenes import walkthrough_frames
from spacemind_ros.train.config import load_config

TOPIC = "/camera/image_raw"


def scene_frames(scene: int, n: int = 12, h: int = 48, w: int = 64):
    frames = walkthrough_frames(num_frames=n, height=h, width=w, fps=10.0)
    if scene % 2:  # a second, visibly different room: colour channels rotated
        frames = [(t, np.ascontiguousarray(img[:, :, ::-1])) for t, img in frames]
    return frames


def write_scenes(root: Path, scenes: int = 2, frames: int = 12) -> Path:
    """Bags under root/bags/ and root/questions.jsonl in the synthetic scenes' format; 2 questions per scene."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for s in range(scenes):
        bag = root / "bags" / f"scene{s}"
        bag.parent.mkdir(parents=True, exist_ok=True)
        write_image_bag(bag, TOPIC, scene_frames(s, frames))
        base = dict(dataset="synthetic", scene_name=f"scene{s}", bag=f"bags/scene{s}", image_topic=TOPIC)
        rows.append(dict(base, id=f"s{s}-count", question_type="object_counting",
                         question="How many boxes are in this room?", options=[], ground_truth=str(3 + s)))
        rows.append(dict(base, id=f"s{s}-closest", question_type="object_rel_distance",
                         question="Which object is closest to the red box?",
                         options=["A. green box", "B. blue box"], ground_truth="AB"[s % 2]))
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def tiny_config(out: Path, jsonl: Path, *overrides: str, eval_same: bool = True):
    data = f"[{{format: scenes, path: '{jsonl}'}}]"
    return load_config(None, [
        f"data.train={data}", *( [f"data.eval={data}"] if eval_same else []),
        "data.sample_frames=6", "data.drop_ends=1", "data.min_frames=2",
        "train.lr=1e-2", "train.warmup_ratio=0", "train.global_batch=2", "train.micro_batch=1", "train.epochs=3",
        "train.device=cpu", f"output.dir='{out}'", "output.progress_bar=false", "output.save_every=0",
        *overrides])
