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


# How a record's answer was changed to be trainable (QARecord.note / Turn.note; counted in a ReadReport)
NUMBER_PARSED = "number parsed from a free-form answer to a numerical question"
KEPT_OPEN = "free-form answer to a question that only looks numerical, kept as open"

_WORDS = {w: n for n, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
               "a dozen": 12, "dozen": 12})
_TENS = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
_WORD_NUMBER = re.compile(rf"\b(?:({_TENS})[- ](one|two|three|four|five|six|seven|eight|nine)|a dozen|"
                          rf"{'|'.join(sorted((w for w in _WORDS if w != 'a dozen'), key=len, reverse=True))})\b")
_NUMBER_IN_TEXT = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?!\.?\d)")  # "1.5m", "12cm" too


class BadSample(ValueError):
    """A record that cannot be trained on; ``source`` names the file it came from, ``kind`` says why in a few words
    (what a ReadReport counts)."""

    def __init__(self, reason: str, source: str = "", kind: str = "invalid record"):
        super().__init__(f"{source}: {reason}" if source else reason)
        self.reason, self.source, self.kind = reason, source, kind


@dataclass
class Turn:
    """A later turn of a conversation about the same frames, trained after the turns before it."""

    question: str
    options: list[str]
    answer: str
    task: str
    note: str = ""

    @property
    def prompt_text(self) -> str:
        return build_question_text(self.question, self.options, self.task)


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
    note: str = ""  # how the answer was made trainable (NUMBER_PARSED, KEPT_OPEN), "" when taken as given
    followups: list[Turn] = field(default_factory=list)  # the conversation's later turns, in order

    @property
    def turns(self) -> list[Turn]:
        """Every question-answer turn of the sample: this record's, then its follow-ups."""
        return [Turn(self.question, self.options, self.answer, self.task, self.note), *self.followups]

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
        raise BadSample(f"record {id}: {exc}", source, "invalid question or options") from None
    target, note = normalise_answer(answer, options, task), ""
    text = "" if answer is None else str(answer).strip()
    if target is None and text and task in NUMERICAL_TASKS:
        if fits:  # the source says the answer is a number: find the one it states
            target, note = parse_number(text), NUMBER_PARSED
        else:  # only the question's wording looked numerical: keep what was answered, scored by exact match
            task, target, note = OPEN_TASK, text, KEPT_OPEN
    if target is None:
        shown = [o[:40] for o in options]
        if not text:
            raise BadSample(f"record {id}: the answer is empty", source, "empty answer")
        if options:
            raise BadSample(f"record {id}: answer {text[:80]!r} is not among the options {shown}", source,
                            "answer not among the options")
        raise BadSample(f"record {id}: answer {text[:80]!r} states no single number (task {task})", source,
                        "numerical answer without one number")
    media = Path(media)
    return QARecord(id=str(id), question=question, options=options, answer=target, task=task, media=str(media),
                    media_kind=media_kind(media), topic=topic, until_ns=until_ns, source=str(source),
                    dataset=dataset or "", extra=extra, note=note)


def parse_number(text: str) -> str | None:
    """The one number a free-form answer states: "About 2.5 meters" -> "2.5", "There are 3 chairs." -> "3",
    "two" -> "2", "1,200 cm" -> "1200". None when it states none, or several different ones."""
    if _NUMBER.match(text.strip()):
        return text.strip()
    found = {float(m.group().replace(",", "")): m.group().replace(",", "") for m in _NUMBER_IN_TEXT.finditer(text)}
    for m in _WORD_NUMBER.finditer(text.lower()):
        value = _WORDS[m.group(1)] + _WORDS[m.group(2)] if m.group(1) else _WORDS[m.group()]
        found.setdefault(float(value), str(value))
    return next(iter(found.values())) if len(found) == 1 else None


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
