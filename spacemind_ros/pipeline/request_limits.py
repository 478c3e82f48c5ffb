"""Size limits of every text field of a request, a total prompt budget, and the timeout range (docs/reliability.md).

Checked before anything else looks at a request, so an oversized field costs a length comparison, never a
tokenisation or a forward pass (the LLM's memory grows with the prompt). Error messages quote at most a short
excerpt of what was sent.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from spacemind_ros.errors import BadRequestError

MAX_QUESTION_CHARS = 2000  # also enforced by prompting.validate_question
MAX_OPTION_CHARS = 200  # one option, "A. ..." included
MAX_TASK_CHARS = 64  # longer than any task name
MAX_GOAL_CHARS = 500  # route advice: where to go
MAX_START_CHARS = 500  # route advice: where the robot stands
MAX_PROMPT_CHARS = 4000  # everything the caller wrote, together (question + options, or goal + start)
MAX_TIMEOUT_S = 3600.0  # the longest timeout_s a request may ask for (0 = the node's default)


def excerpt(text, limit: int = 60) -> str:
    """A short quotation of user input for an error message."""
    text = text if isinstance(text, str) else repr(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def _check_field(text, what: str, limit: int) -> int:
    n = len(text) if isinstance(text, str) else 0
    if n > limit:
        raise BadRequestError(f"{what} has {n} characters; the limit is {limit}")
    return n


def _check_budget(total: int) -> None:
    if total > MAX_PROMPT_CHARS:
        raise BadRequestError(f"the request's text has {total} characters in all; the prompt budget is "
                              f"{MAX_PROMPT_CHARS} (question and options together)")


def check_query_text(question, options: Sequence, task) -> None:
    """Lengths of a spatial query's fields and their total; raises BadRequestError with the numbers."""
    total = _check_field(question, "question", MAX_QUESTION_CHARS)
    for i, option in enumerate(options or ()):
        total += _check_field(option, f"option {i + 1}", MAX_OPTION_CHARS)
    _check_field(task, "task", MAX_TASK_CHARS)
    _check_budget(total)


def check_route_text(goal, start) -> None:
    """Lengths of a route advice request's fields and their total."""
    total = _check_field(goal, "goal", MAX_GOAL_CHARS) + _check_field(start, "start", MAX_START_CHARS)
    _check_budget(total)


def check_timeout(timeout_s) -> float | None:
    """``timeout_s`` of a request -> seconds, or None for the node's default (0 or None).

    NaN, infinite, negative or over MAX_TIMEOUT_S is a bad request: it would otherwise mean 'no deadline' or
    overflow a lock's timeout.
    """
    if timeout_s is None or timeout_s == 0:
        return None
    t = float(timeout_s)
    if not math.isfinite(t) or not 0 < t <= MAX_TIMEOUT_S:
        raise BadRequestError(f"timeout_s {timeout_s!r} is out of range: use 0 (the node's default) or a value in "
                              f"(0, {MAX_TIMEOUT_S:g}] seconds")
    return t
