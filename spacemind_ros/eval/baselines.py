"""Baselines printed beside a run, each named for what it knows.

- ``random``: the expected score of a uniform random option (1 / options); numerical tasks have none.
- ``majority``: the commonest letter of each multiple-choice question type *of the evaluated set*: it reads the
  evaluated labels, so it is an upper bound for any answer-letter prior; numerical tasks have none.
- ``prior``: per question type, the median number and the commonest letter of a *training split*
  (``--prior-from FILE``), answered to every evaluated question. Only with ``--prior-from-evaluated`` is it taken
  from the evaluated set itself, and then its label says so.

All are scored with the official formulas and aggregated like a run (mean of the tasks they cover).
"""
from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from spacemind_ros.eval.questions import Problem, read_jsonl
from spacemind_ros.eval.scoring import (
    MCA_TYPES,
    NA_TYPES,
    Aggregate,
    check_ground_truth,
    exact_match,
    mean_relative_accuracy,
)

Truth = tuple[str, str, int]  # (question_type, ground truth, number of options)


@dataclass
class Baseline:
    name: str
    label: str  # what it is and which labels it read
    scores: dict[str, float]  # task -> 0..100 for the tasks it covers, and overall
    answers: dict[str, str] | None = None  # question type -> the answer it gives (prior, majority)

    def to_json(self) -> dict:
        out = {"label": self.label, "scores": self.scores}
        if self.answers is not None:
            out["answers"] = self.answers
        return out


def _baseline(name: str, label: str, scored: Iterable[tuple[str, float]], answers=None) -> Baseline:
    agg = Aggregate()
    for qtype, score in scored:
        agg.add(qtype, score)
    return Baseline(name, label, agg.summary() if agg.counts else {}, answers)


def random_baseline(truths: list[Truth]) -> Baseline:
    return _baseline("random", "a uniform random option (1 / options); multiple-choice tasks only",
                     ((t, 1.0 / n) for t, _, n in truths if t in MCA_TYPES and n))


def majority_baseline(truths: list[Truth]) -> Baseline:
    letters = _commonest_letters((t, gt) for t, gt, _ in truths)
    return _baseline("majority", "the commonest letter per question type of the evaluated set (reads its labels); "
                     "multiple-choice tasks only",
                     ((t, exact_match(letters[t], gt)) for t, gt, _ in truths if t in letters), letters)


def _commonest_letters(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    counts: dict[str, Counter] = {}
    for qtype, gt in pairs:
        if qtype in MCA_TYPES:
            counts.setdefault(qtype, Counter())[gt.strip().upper()] += 1
    # Ties go to the earlier letter, so the answer never depends on record order.
    return {t: min(c, key=lambda letter: (-c[letter], letter)) for t, c in counts.items()}


@dataclass
class Prior:
    """One fixed answer per question type, learnt from labelled records: the median number, the commonest letter."""

    answers: dict[str, str]
    source: str  # where it was learnt
    of_evaluated: bool = False  # learnt from the evaluated set itself (reads its labels)
    records: int = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], source: str, of_evaluated: bool = False) -> "Prior":
        pairs = list(pairs)
        numbers: dict[str, list[float]] = {}
        for qtype, gt in pairs:
            if qtype in NA_TYPES:
                numbers.setdefault(qtype, []).append(float(gt))
        answers = {t: _number(statistics.median(v)) for t, v in numbers.items()}
        answers.update(_commonest_letters(pairs))
        return cls(answers, source, of_evaluated, len(pairs))

    @classmethod
    def from_file(cls, path: str | Path) -> tuple["Prior", list[Problem]]:
        """From any JSONL with ``question_type`` and ``ground_truth`` (a question file or a predictions file).
        Records that cannot be scored are returned as problems and left out."""
        pairs, problems = [], []
        for line, record, why in read_jsonl(Path(path)):
            if record is None:
                problems.append(Problem(str(path), line, why))
                continue
            try:
                qtype = record.get("question_type")
                pairs.append((qtype, check_ground_truth(qtype, record.get("ground_truth"))))
            except ValueError as exc:
                problems.append(Problem(str(path), line, str(exc), str(record.get("id") or "")))
        if not pairs:
            raise ValueError(f"{path}: no record with a question_type and a scorable ground_truth to learn a prior")
        return cls.from_pairs(pairs, str(path)), problems

    @property
    def label(self) -> str:
        if self.of_evaluated:
            return ("median number and commonest letter per question type OF THE EVALUATED SET (reads its labels: "
                    "not a fair baseline)")
        return f"median number and commonest letter per question type of {self.source} ({self.records} records)"

    def baseline(self, truths: list[Truth]) -> Baseline:
        def scored():
            for qtype, gt, _ in truths:
                answer = self.answers.get(qtype)
                if answer is None:
                    continue
                yield qtype, (mean_relative_accuracy(float(answer), float(gt)) if qtype in NA_TYPES
                              else exact_match(answer, gt))
        return _baseline("prior", self.label, scored(), dict(self.answers))


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
