"""Dense grounding questions from what the renderer knows: which objects a walk shows, in order, and how many.

VSI-Bench's questions give one word or letter of supervision a walk; these give a list, every word of which only the
frames decide, so a language model learns to read its visual tokens before it learns the benchmark's harder
questions (the "caption first" step of VLM training). They are open questions, trained on and never scored by the
benchmark:

    "Name the objects this video shows, in the order they are first seen."  ->  "table, desk, lamp, stool"
    "Name each kind of object in this room and its total."                   ->  "table 1, desk 1, lamp 2, stool 2"

An object counts when the walk showed it clearly (``MIN_FRACTION`` of the pixels of some frame); categories are
ordered by the first frame any of their objects is seen in, ties by name.
"""
from __future__ import annotations

import json
from pathlib import Path

from spacemind_ros.scenes.questions import Question

ORDER_QUESTION = "Name the objects this video shows, in the order they are first seen."
TOTALS_QUESTION = "Name each kind of object in this room and its total."
MIN_FRACTION = 0.02  # 400 pixels of a 160x120 frame: about one visual token of the small model
SPLITS = ("train", "heldout")


def seen_categories(scene: dict) -> list[tuple[str, int]]:
    """(category, objects of it seen clearly) in order of first appearance, from a ``scene.json`` dict."""
    min_pixels = MIN_FRACTION * scene["settings"]["width"] * scene["settings"]["height"]
    first: dict[str, int] = {}
    count: dict[str, int] = {}
    for index, seen in scene["seen"].items():
        if seen["max_pixels"] < min_pixels:
            continue
        category = scene["objects"][int(index)]["category"]
        first[category] = min(first.get(category, seen["first_frame"]), seen["first_frame"])
        count[category] = count.get(category, 0) + 1
    return [(c, count[c]) for c in sorted(first, key=lambda c: (first[c], c))]


def inventory_records(scene: dict, bag: str, first_id: int, image_topic: str = "/camera/image_raw") -> list[dict]:
    """The scene's two inventory questions as question records (``question_type`` open); [] when nothing was seen."""
    seen = seen_categories(scene)
    if not seen:
        return []
    questions = [Question("open", ORDER_QUESTION, [], ", ".join(c for c, _ in seen)),
                 Question("open", TOTALS_QUESTION, [], ", ".join(f"{c} {n}" for c, n in seen))]
    return [q.record(first_id + k, scene["name"], bag, image_topic=image_topic) for k, q in enumerate(questions)]


def write_inventory(dataset: str | Path) -> dict[str, int]:
    """``inventory_train.jsonl`` and ``inventory_heldout.jsonl`` beside a dataset's splits (its ``dataset.json``
    says which seeds each holds); returns the record count per split."""
    dataset = Path(dataset)
    manifest = json.loads((dataset / "dataset.json").read_text())
    split_of = {seed: split for split in SPLITS for seed in manifest["splits"][split]}
    records: dict[str, list] = {split: [] for split in SPLITS}
    for path in sorted(dataset.glob("*/scene.json")):
        scene = json.loads(path.read_text())
        if scene["seed"] in split_of:
            records[split_of[scene["seed"]]] += inventory_records(
                scene, f"{path.parent.name}/bag", scene["seed"] * 1000 + 900, manifest["image_topic"])
    for split, rows in records.items():
        with open(dataset / f"inventory_{split}.jsonl", "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
    return {split: len(rows) for split, rows in records.items()}
