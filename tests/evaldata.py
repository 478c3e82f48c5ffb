"""Small bags and question files for the evaluation tests (frames from the synthetic panning room)."""
from __future__ import annotations

import json
from pathlib import Path

from spacemind_ros.eval.bags import write_frames
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


def make_bag(path: Path, storage: str = "sqlite3", frames: int = 12, start_ns: int = 5 * S, fps: float = 10.0,
             size=(48, 64), topic: str = "/camera/image_raw") -> list[int]:
    """A bag of ``frames`` rgb8 images; returns their stamps (ns)."""
    data = walkthrough_frames(num_frames=frames, height=size[0], width=size[1], fps=fps, start_ns=start_ns)
    write_frames(path, data, topic=topic, storage=storage)
    return [s for s, _ in data]


def questions_for(bag: str, prefix: str, stamps: list[int]) -> list[dict]:
    """Four questions on one bag: two numerical, two multiple choice, one of them asked mid-bag."""
    base = {"dataset": "synthetic", "scene_name": prefix, "bag": bag, "image_topic": "/camera/image_raw"}
    return [
        {**base, "id": f"{prefix}-count", "question_type": "object_counting", "question": "How many boxes are there?",
         "options": [], "ground_truth": "3"},
        {**base, "id": f"{prefix}-dir", "question_type": "object_rel_direction_easy",
         "question": "Standing at the red box facing the green box, is the blue box to my left or right?",
         "options": ["A. left", "B. right"], "ground_truth": "B"},
        {**base, "id": f"{prefix}-dist", "question_type": "object_abs_distance",
         "question": "How far is the red box from the blue box (in meters)?", "options": [], "ground_truth": "1.8",
         "stamp_ns": stamps[len(stamps) // 2]},
        {**base, "id": f"{prefix}-order", "question_type": "obj_appearance_order",
         "question": "Which box appears first?", "options": ["A. red", "B. green", "C. blue", "D. none"],
         "ground_truth": "A"},
    ]


def write_jsonl(path: Path, records: list) -> Path:
    with open(path, "w") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
    return path


def read_predictions(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
