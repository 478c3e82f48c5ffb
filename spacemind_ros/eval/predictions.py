"""predictions.jsonl: one record per answered question, appended and flushed as it comes (resumable).

A record: id, question_type, ground_truth, options, ``prediction`` (the model's raw answer text: the only thing the
official score reads), ``parsed`` (the node's lenient parse: choice, value, unit, task), success, error_code,
error_message, latency_s, frame_stamps (ns, bag time; in the order the model saw them), stamp_ns asked at, mode,
backend, model, frames, perturbation (``clean`` or the specs), scene.
A resumed run skips ids already answered successfully; failed ones are asked again and the newest record counts.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from spacemind_ros.eval.questions import Question, read_jsonl


def make_record(q: Question, answer: dict, mode: str, settings, stamp_ns: int | None, **extra) -> dict:
    """``answer``: the Answer fields (success, error_code, error_message, answer, choice, value, unit, task,
    frame_stamps in ns of bag time, latency_s)."""
    value = answer.get("value")
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    return {
        "id": q.id, "dataset": q.dataset, "scene_name": q.scene_name, "question_type": q.question_type,
        "question": q.question, "options": q.options, "ground_truth": q.ground_truth,
        "prediction": answer.get("answer", ""),
        "parsed": {"choice": answer.get("choice", ""), "value": value, "unit": answer.get("unit", ""),
                   "task": answer.get("task", "")},
        "success": bool(answer.get("success")), "error_code": answer.get("error_code", ""),
        "error_message": answer.get("error_message", ""), "latency_s": round(float(answer.get("latency_s", 0.0)), 6),
        "frame_stamps": [int(s) for s in answer.get("frame_stamps", [])], "stamp_ns": stamp_ns,
        "bag": str(q.bag), "image_topic": q.image_topic, "mode": mode, "backend": settings.backend,
        "model": settings.model_label, "frames": settings.frames, "perturbation": settings.perturbation_label,
        **extra,
    }


def repair_tail(path: Path) -> bool:
    """Cut a last line left half-written by an interrupted run; True if something was cut."""
    if not path.exists() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return False
        # Walk back to the last newline in blocks (bounded memory for any file size).
        pos = f.tell()
        while pos > 0:
            step = min(65536, pos)
            f.seek(pos - step)
            block = f.read(step)
            i = block.rfind(b"\n")
            if i >= 0:
                f.truncate(pos - step + i + 1)
                return True
            pos -= step
        f.truncate(0)
        return True


def answered_ids(path: Path) -> set[str]:
    """Ids with a successful record in an existing predictions file (streams the file)."""
    done = set()
    if not path.exists():
        return done
    for _, record, _ in read_jsonl(path):
        if record is not None and record.get("success") and "id" in record:
            done.add(str(record["id"]))
    return done


class PredictionWriter:
    """Appends records as JSON lines and flushes each, so an interrupted run loses at most the line in flight."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired = repair_tail(self.path)
        self._f = open(self.path, "a", encoding="utf-8")
        self.written = 0

    def write(self, record: dict) -> None:
        self._f.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._f.flush()
        self.written += 1

    def close(self) -> None:
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
