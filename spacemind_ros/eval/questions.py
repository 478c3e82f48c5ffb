"""Question files: JSONL, one VSI-Bench record per line plus where its frames are.

A record: ``id, dataset, scene_name, question_type, question, options ([] for numerical), ground_truth (string)``
(the VSI-Bench fields; question_type uses the official sub-type names) plus ``bag`` (relative to the JSONL file's
folder, or absolute; ``--bag-dir`` replaces that folder), ``image_topic`` (default "/camera/image_raw") and optional
``stamp_ns`` (int: ask with the frames stamped up to this time, in the frames' header stamps; absent = end of bag).
Bad lines are reported with file and line and skipped; the rest is read.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from spacemind_ros.eval.scoring import MCA_TYPES, NA_TYPES, check_ground_truth

DEFAULT_IMAGE_TOPIC = "/camera/image_raw"


@dataclass(frozen=True)
class Problem:
    """A bad input: where (file and line, 0 = the file itself) and why. Printed as ``file:line: message``."""

    file: str
    line: int
    message: str
    id: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}" + (f" (question {self.id})" if self.id else "")

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "id": self.id, "message": self.message}


@dataclass
class Question:
    id: str
    question_type: str
    question: str
    options: list[str]
    ground_truth: str
    bag: Path
    image_topic: str = DEFAULT_IMAGE_TOPIC
    stamp_ns: int | None = None
    dataset: str = ""
    scene_name: str = ""
    source: tuple[str, int] = ("", 0)  # (file, line) for error messages
    extra: dict = field(default_factory=dict, repr=False)

    def problem(self, message: str) -> Problem:
        return Problem(self.source[0], self.source[1], message, self.id)


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict | None, str]]:
    """``(line number, record, "")`` per non-blank line, or ``(line, None, why)`` for a malformed one. Streams."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                yield lineno, None, f"not valid JSON ({exc.msg} at column {exc.colno})"
                continue
            if not isinstance(record, dict):
                yield lineno, None, f"a record must be a JSON object, got {type(record).__name__}"
                continue
            yield lineno, record, ""


def parse_question(record: dict, file: str, line: int, bag_dir: Path) -> Question:
    """One record -> Question; ValueError with the reason if it cannot be asked and scored."""
    qid = record.get("id")
    if qid is None or (isinstance(qid, str) and not qid.strip()) or isinstance(qid, (dict, list, bool)):
        raise ValueError("'id' is missing")
    qtype = record.get("question_type")
    gt = check_ground_truth(qtype, record.get("ground_truth"))
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("'question' is missing or empty")
    options = record.get("options")
    options = [] if options is None else options
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ValueError("'options' must be a list of strings like 'A. sofa'")
    if qtype in MCA_TYPES and not options:
        raise ValueError(f"{qtype} is multiple choice but 'options' is empty")
    if qtype in NA_TYPES and options:
        raise ValueError(f"{qtype} has a numerical answer but 'options' is not empty")
    bag = record.get("bag")
    if not isinstance(bag, str) or not bag.strip():
        raise ValueError("'bag' (path of the ROS 2 bag with the frames) is missing")
    topic = record.get("image_topic") or DEFAULT_IMAGE_TOPIC
    if not isinstance(topic, str):
        raise ValueError("'image_topic' must be a string")
    stamp = record.get("stamp_ns")
    if stamp is not None and (isinstance(stamp, bool) or not isinstance(stamp, int) or stamp < 0):
        raise ValueError(f"'stamp_ns' must be a non-negative integer (ns), got {stamp!r}")
    known = {"id", "question_type", "ground_truth", "question", "options", "bag", "image_topic", "stamp_ns",
             "dataset", "scene_name"}
    return Question(
        id=str(qid), question_type=qtype, question=question, options=options, ground_truth=gt,
        bag=Path(bag) if Path(bag).is_absolute() else bag_dir / bag, image_topic=topic, stamp_ns=stamp,
        dataset=str(record.get("dataset") or ""), scene_name=str(record.get("scene_name") or ""),
        source=(file, line), extra={k: v for k, v in record.items() if k not in known},
    )


def load_questions(path: str | Path, bag_dir: str | Path | None = None) -> tuple[list[Question], list[Problem]]:
    """All good questions of a JSONL file (small records; frames are read later) and the problems found."""
    path = Path(path)
    folder = Path(bag_dir) if bag_dir else path.parent
    questions, problems, seen = [], [], {}
    try:
        lines = list(read_jsonl(path))
    except (OSError, UnicodeDecodeError) as exc:
        return [], [Problem(str(path), 0, f"cannot read the question file: {exc}")]
    for line, record, why in lines:
        if record is None:
            problems.append(Problem(str(path), line, why))
            continue
        try:
            q = parse_question(record, str(path), line, folder)
        except ValueError as exc:
            problems.append(Problem(str(path), line, str(exc), str(record.get("id") or "")))
            continue
        if q.id in seen:
            problems.append(q.problem(f"duplicate id (first at line {seen[q.id]}); this one is skipped"))
            continue
        seen[q.id] = line
        questions.append(q)
    return questions, problems


def group_by_bag(questions: list[Question]) -> list[tuple[tuple[Path, str], list[Question]]]:
    """Questions per (bag, topic), in first-appearance order; within a bag sorted by the stamp to ask at."""
    groups: dict[tuple[Path, str], list[Question]] = {}
    for q in questions:
        groups.setdefault((q.bag, q.image_topic), []).append(q)
    end = float("inf")
    return [(key, sorted(qs, key=lambda q: end if q.stamp_ns is None else q.stamp_ns)) for key, qs in groups.items()]
