"""One training sample: a question about a video (or frame folder, or bag topic) and its answer target.

The prompt is the one the node serves with (``pipeline.prompting.build_question_text``); the target is the option
letter for multiple choice, the number for numerical questions, the answer text for open questions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from spacemind_ros.pipeline.prompting import (
    MULTIPLE_CHOICE_TASKS,
    NUMERICAL_TASKS,
    OPEN_TASK,
    ROUTE_ADVICE_TASK,
    build_question_text,
    resolve_task,
    validate_options,
    validate_question,
)

BAG_SUFFIXES = {".mcap", ".db3"}
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


class BadSample(ValueError):
    """A record that cannot be trained on; ``source`` names the file it came from."""

    def __init__(self, reason: str, source: str = ""):
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason, self.source = reason, source


@dataclass
class QARecord:
    id: str
    question: str  # the bare question (no frame, option or answer-format text)
    options: list[str]  # "A. sofa", ... ; [] for numerical / open questions
    answer: str  # target text: "B", "2.5", "left"
    task: str  # a pipeline task name (VSI-Bench question type, or "open")
    media: str  # video file, frame folder, or ROS 2 bag (folder, .mcap or .db3)
    media_kind: str  # "video" | "frames" | "bag"
    topic: str | None = None  # image topic, bags only
    until_ns: int | None = None  # bags: only messages logged at or before this time (the question's moment)
    source: str = ""  # annotation file the record came from (named in skip messages)
    dataset: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """The text after the frames, exactly as the node builds it for this question."""
        return build_question_text(self.question, self.options, self.task)


def media_kind(path: Path) -> str:
    """'bag' for a ROS 2 bag (folder with metadata.yaml, .mcap, .db3), 'frames' for another folder (or a path
    without a suffix), else 'video'."""
    if path.suffix.lower() in BAG_SUFFIXES:
        return "bag"
    if path.is_dir():
        return "bag" if (path / "metadata.yaml").is_file() else "frames"
    return "video" if path.suffix else "frames"


def make_record(*, id, question, options, answer, media, question_type=None, topic=None, until_ns=None,
                source="", dataset="", **extra) -> QARecord:
    """Validate and normalise one sample; raises :class:`BadSample` naming what is wrong."""
    try:
        question = validate_question(question)
        options = validate_options(options or [])
        fits = (question_type in MULTIPLE_CHOICE_TASKS and options) or (
            question_type in (*NUMERICAL_TASKS, ROUTE_ADVICE_TASK) and not options)
        task = resolve_task(question_type if fits else None, question, options)  # a stale type is re-inferred
    except ValueError as exc:
        raise BadSample(f"record {id}: {exc}", source) from None
    target = normalise_answer(answer, options, task)
    if target is None:
        shown = [o[:40] for o in options]
        raise BadSample(f"record {id}: answer {str(answer)[:80]!r} is not among the options {shown}"
                        if options else f"record {id}: answer {str(answer)[:80]!r} is empty or not a number "
                        f"(task {task})", source)
    media = Path(media)
    return QARecord(id=str(id), question=question, options=options, answer=target, task=task, media=str(media),
                    media_kind=media_kind(media), topic=topic, until_ns=until_ns, source=str(source),
                    dataset=dataset or "", extra=extra)


def normalise_answer(answer, options: list[str], task: str) -> str | None:
    """MC: the option letter (accepts "B", "B.", "B. sofa" or the option's text); numerical: the number; open: the
    text. None when the answer does not fit."""
    text = "" if answer is None else str(answer).strip()
    if not text:
        return None
    if options:
        letters = [o[0] for o in options]
        bodies = [o[1:].lstrip(" .)").strip().lower() for o in options]
        m = re.match(r"^\(?([A-Z])\)?(?:[.)]|\s|$)", text)
        if m and m.group(1) in letters:
            return m.group(1)
        if text.lower().rstrip(".") in bodies:
            return letters[bodies.index(text.lower().rstrip("."))]
        return None
    if task in NUMERICAL_TASKS:
        return text if _NUMBER.match(text) else None
    return text if task == OPEN_TASK or text else None
