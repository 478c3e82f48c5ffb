"""Request validation, task inference and prompts (VSI-Bench rules; see docs/vsibench in shared spec)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from spacemind_ros.errors import BadRequestError

NUMERICAL_TASKS = {  # task -> unit of the answer
    "object_counting": "count",
    "object_abs_distance": "m",
    "object_size_estimation": "cm",
    "room_size_estimation": "m^2",
}
MULTIPLE_CHOICE_TASKS = (
    "object_rel_distance", "object_rel_direction_easy", "object_rel_direction_medium",
    "object_rel_direction_hard", "route_planning", "obj_appearance_order",
)
OPEN_TASK = "open"  # free-form answer (no VSI-Bench type fits)
ROUTE_ADVICE_TASK = "route_advice"
TASKS = (*NUMERICAL_TASKS, *MULTIPLE_CHOICE_TASKS, OPEN_TASK, ROUTE_ADVICE_TASK)

MAX_QUESTION_CHARS = 2000
MAX_OPTIONS = 26
PRE_PROMPT = "These are frames of a video."
NA_POST = "Please answer the question using a single word or phrase."
MCA_POST = "Answer with the option's letter from the given choices directly."
ROUTE_POST = ("Give the route as numbered steps, one per line, each starting with go forward, turn left, "
              "turn right, turn back or stop, and naming the landmark it reaches.")
_OPTION = re.compile(r"^\s*([A-Z])\s*[.)]\s*\S")


def validate_question(question: str, what: str = "question") -> str:
    if not isinstance(question, str) or not question.strip():
        raise BadRequestError(f"{what} is empty: ask something about the scene")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadRequestError(f"{what} has {len(question)} characters; the limit is {MAX_QUESTION_CHARS}")
    return question.strip()


def validate_options(options: Sequence[str]) -> list[str]:
    """Options must read "A. text", "B. text", ... in order, at most 26."""
    options = list(options or ())
    if len(options) > MAX_OPTIONS:
        raise BadRequestError(f"{len(options)} options given; at most {MAX_OPTIONS} (A-Z) are allowed")
    for i, option in enumerate(options):
        m = _OPTION.match(option) if isinstance(option, str) else None
        if not m:
            raise BadRequestError(f"option {i + 1} ({option!r}) must start with its letter, like 'A. sofa'")
        if m.group(1) != chr(ord("A") + i):
            raise BadRequestError(f"option {i + 1} has letter {m.group(1)}; expected {chr(ord('A') + i)} (in order)")
    return [o.strip() for o in options]


_RULES = [  # (pattern, task) checked in order on the lower-cased question; whole words only
    (r"\bhow many\b|\bnumber of\b|\bcount(s|ing)?\b", "object_counting"),
    (r"\b(size of|area of) (this|the) room\b|\broom size\b|\bhow big is (this|the) room\b",
     "room_size_estimation"),
    (r"\bdistance between\b|\bhow far\b|\bdistance from\b", "object_abs_distance"),
    (r"\blongest dimension\b|\bhow (big|tall|long|wide)\b|\b(size|height|length) of\b", "object_size_estimation"),
    (r"\bappear(s|ance)? first\b|\border\b.*\bappear|\bfirst-time appearance\b", "obj_appearance_order"),
    (r"\broute\b|\bhow (do|can|should) i (get|go|reach|navigate)\b|\bnavigate\b|\bget to\b", "route_planning"),
    (r"\b(closest|nearest|farthest|furthest)\b", "object_rel_distance"),
    (r"\b(left|right|behind|in front|back)\b", "object_rel_direction_medium"),
]


def infer_task(question: str, options: Sequence[str]) -> str:
    q = question.lower()
    for pattern, task in _RULES:
        if re.search(pattern, q):
            if task in MULTIPLE_CHOICE_TASKS and not options:
                continue  # an MC type needs options; fall through to what fits an open answer
            if task in NUMERICAL_TASKS and options:
                continue
            return task
    return OPEN_TASK  # with options, answered and parsed as multiple choice


def resolve_task(task: str | None, question: str, options: Sequence[str]) -> str:
    if not task:
        return infer_task(question, options)
    if task not in TASKS:
        raise BadRequestError(f"unknown task {task!r}; use '' (infer) or one of: {', '.join(TASKS)}")
    if task in MULTIPLE_CHOICE_TASKS and not options:
        raise BadRequestError(f"task {task} is multiple choice: give options like 'A. sofa'")
    if task in NUMERICAL_TASKS and options:
        raise BadRequestError(f"task {task} has a numerical answer: options must be empty")
    return task


def build_question_text(question: str, options: Sequence[str], task: str) -> str:
    """The text after the frames, per the VSI-Bench prompt rules."""
    if task in MULTIPLE_CHOICE_TASKS or (options and task == OPEN_TASK):
        return "\n".join([PRE_PROMPT, question, "Options:\n" + "\n".join(options), MCA_POST])
    if task == ROUTE_ADVICE_TASK:
        return "\n".join([PRE_PROMPT, question, ROUTE_POST])
    return "\n".join([PRE_PROMPT, question, NA_POST])


def route_question(goal: str, start: str | None) -> str:
    goal = validate_question(goal, "goal")
    where = f"I am {start.strip()}." if start and start.strip() else "I am where the last frame was taken, facing its view."
    return f"{where} How do I get to {goal}?"
