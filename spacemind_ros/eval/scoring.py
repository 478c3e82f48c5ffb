"""The official VSI-Bench scorer (thinking-in-space lmms_eval/tasks/vsibench/utils.py) as pure functions.

Official: the raw answer text, first space-separated word with trailing dots removed; MCA exact match (case-blind)
against the letter; NA Mean Relative Accuracy over thresholds linspace(0.50, 0.95, 10) with ``<=``; mean per
question type; object_rel_direction = mean of easy/medium/hard (a missing one counts 0); overall = mean of the tasks
that have questions, as the official ``sum(output.values()) / len(output)`` does (a task with none is left out and
listed as missing). Scores are fractions here, x100 when reported.

The lenient score reads the node's parsed fields (choice, value) instead of the raw text. It is reported beside the
official one, labelled, and never feeds it.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

NA_TYPES = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation")
MCA_TYPES = ("object_rel_distance", "object_rel_direction_easy", "object_rel_direction_medium",
             "object_rel_direction_hard", "route_planning", "obj_appearance_order")
QUESTION_TYPES = NA_TYPES + MCA_TYPES
DIRECTION_TYPES = ("object_rel_direction_easy", "object_rel_direction_medium", "object_rel_direction_hard")
TASKS = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation",
         "object_rel_distance", "object_rel_direction", "route_planning", "obj_appearance_order")
# Official: num_pts = (0.95 - 0.5) / 0.05 + 2 = 10.999..., int() -> 10 points 0.50, 0.55, ..., 0.95.
MRA_THRESHOLDS = np.linspace(0.50, 0.95, int((0.95 - 0.50) / 0.05 + 2))


def task_of(question_type: str) -> str:
    """The task a question type is aggregated into (the three direction sub-types -> object_rel_direction)."""
    return "object_rel_direction" if question_type in DIRECTION_TYPES else question_type


def fuzzy_matching(pred: str) -> str:
    """Official: ``pred.split(' ')[0].rstrip('.').strip()`` (no strip first: a leading space gives '')."""
    return pred.split(" ")[0].rstrip(".").strip()


def to_float(text) -> float | None:
    """Official to_float: Python ``float()``, None where it raises."""
    try:
        return float(text)
    except BaseException:  # noqa: BLE001 - the official code catches everything here
        return None


def exact_match(pred: str, target: str) -> float:
    return 1.0 if pred.lower() == target.lower() else 0.0


def mean_relative_accuracy(pred: float, target: float) -> float:
    """Fraction of the 10 thresholds theta with ``|pred - target| / target <= 1 - theta`` (official arithmetic).

    A target that is not a positive finite number has no relative error (the official code divides by it and
    raises): ValueError, which callers count as an unscorable record.
    """
    if not (math.isfinite(target) and target > 0):
        raise ValueError(f"ground truth {target!r} of a numerical question must be a positive number")
    return float((abs(pred - target) / target <= 1 - MRA_THRESHOLDS).mean())


def check_ground_truth(question_type: str, ground_truth) -> str:
    """The ground truth as a string, or ValueError saying why it cannot be scored."""
    if question_type not in QUESTION_TYPES:
        raise ValueError(f"unknown question_type {question_type!r}; expected one of: {', '.join(QUESTION_TYPES)}")
    if ground_truth is None or (isinstance(ground_truth, str) and not ground_truth.strip()):
        raise ValueError("ground_truth is missing or empty")
    if isinstance(ground_truth, bool) or not isinstance(ground_truth, (str, int, float)):
        raise ValueError(f"ground_truth must be a string or number, got {type(ground_truth).__name__}")
    gt = str(ground_truth)
    if question_type in NA_TYPES:
        y = to_float(gt)
        # The official code divides by the ground truth: 0 raises there, and a negative or non-finite one makes
        # every prediction (or none) count; such a record is refused rather than scored.
        if y is None or not math.isfinite(y) or y <= 0:
            raise ValueError(f"ground_truth {gt!r} of a numerical question must be a positive number")
    return gt


def score_official(question_type: str, prediction: str, ground_truth: str) -> float:
    """One record's official score in [0, 1] from the raw answer text.

    ValueError where the ground truth cannot be scored (see ``check_ground_truth``): count and skip the record.
    """
    ground_truth = check_ground_truth(question_type, ground_truth)
    pred = fuzzy_matching(prediction if isinstance(prediction, str) else "")
    if question_type in MCA_TYPES:
        return exact_match(pred, ground_truth)
    p, y = to_float(pred), to_float(ground_truth)
    if p is None or y is None:
        return 0.0  # official WORST_CASE_FOR_METRICS
    return mean_relative_accuracy(p, y)


def score_lenient(question_type: str, choice: str | None, value: float | None, ground_truth: str) -> float:
    """One record's score from the node's parsed fields (option letter, value in the task's unit). Not official."""
    if question_type in MCA_TYPES:
        return exact_match(choice or "", ground_truth) if choice else 0.0
    if value is None or not math.isfinite(value):
        return 0.0
    return mean_relative_accuracy(float(value), float(ground_truth))


def chance_level(question_type: str, options: list | None) -> float | None:
    """Expected score of a uniform random option (MCA); None for numerical questions."""
    if question_type in MCA_TYPES and options:
        return 1.0 / len(options)
    return None


@dataclass
class Aggregate:
    """Per-question-type sums; ``summary()`` applies the official aggregation."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, question_type: str, score: float) -> None:
        self.sums[question_type] = self.sums.get(question_type, 0.0) + float(score)
        self.counts[question_type] = self.counts.get(question_type, 0) + 1

    def per_type(self) -> dict[str, float]:
        return {t: self.sums[t] / self.counts[t] for t in QUESTION_TYPES if self.counts.get(t)}

    def tasks(self) -> dict[str, float]:
        """Scores (fractions) of the tasks that have questions; a missing direction sub-type counts 0 in
        object_rel_direction (the official mean of easy, medium and hard)."""
        per = self.per_type()
        out = {}
        for task in TASKS:
            if task == "object_rel_direction":
                if any(t in per for t in DIRECTION_TYPES):
                    out[task] = sum(per.get(t, 0.0) for t in DIRECTION_TYPES) / 3.0
            elif task in per:
                out[task] = per[task]
        return out

    def summary(self) -> dict:
        """``{task: 0..100 for each task present, 'overall': 0..100}`` (x100 like the official report). Overall is
        the mean of the tasks present (0 where none is)."""
        tasks = self.tasks()
        out = {t: 100.0 * v for t, v in tasks.items()}
        out["overall"] = 100.0 * sum(tasks.values()) / len(tasks) if tasks else 0.0
        return out

    def missing_tasks(self) -> list[str]:
        """The tasks without a question: left out of overall."""
        return [t for t in TASKS if t not in self.tasks()]

    def missing(self) -> list[str]:
        return [t for t in QUESTION_TYPES if not self.counts.get(t)]


def aggregate(records: Iterable[Mapping]) -> Aggregate:
    """Official aggregation over ``{question_type, score}`` mappings."""
    agg = Aggregate()
    for r in records:
        agg.add(r["question_type"], r["score"])
    return agg
