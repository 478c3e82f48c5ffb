"""Score a predictions file: the official numbers, the labelled lenient ones, counts, baselines and latencies.

Reads ``question_type``, ``ground_truth`` and ``prediction`` (the raw answer text) per record; ``options``, ``parsed``
and ``latency_s`` are optional. Where an id appears more than once (a resumed run that retried a failure) the last
record counts. Bad records are reported with file and line and left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from spacemind_ros.eval.baselines import Baseline, Prior, majority_baseline, random_baseline
from spacemind_ros.eval.questions import Problem, read_jsonl
from spacemind_ros.eval.scoring import (
    MCA_TYPES,
    QUESTION_TYPES,
    TASKS,
    Aggregate,
    check_ground_truth,
    score_lenient,
    score_official,
)

OFFICIAL_NOTE = "official VSI-Bench scoring of the raw answer text (first word, MRA over 10 thresholds)"
LENIENT_NOTE = ("lenient, NOT official: scores the node's parsed fields (option letter, number with unit) instead "
                "of the raw text")


@dataclass
class _Scored:
    question_type: str
    official: float
    lenient: float
    ground_truth: str
    options: int  # number of options (multiple choice), 0 for numbers
    success: bool
    latency_s: float | None


@dataclass
class ScoreResult:
    official: Aggregate
    lenient: Aggregate
    baselines: dict[str, Baseline]  # random, majority and (where a prior was given) prior
    counts: dict[str, int]  # per question type
    errors: dict[str, int]  # error_code -> count (records without an answer; scored as empty answers)
    latencies_s: list[float]
    meta: dict
    problems: list[Problem] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    @property
    def tasks_present(self) -> list[str]:
        return [t for t in TASKS if self.task_count(t)]

    def latency_percentiles(self) -> dict[str, float]:
        if not self.latencies_s:
            return {}
        a = np.asarray(self.latencies_s)
        return {f"p{p}": float(np.percentile(a, p)) for p in (50, 90, 95, 99)} | {"mean": float(a.mean()),
                                                                                   "max": float(a.max())}

    def to_json(self) -> dict:
        """Top level: the tasks present and ``overall`` (official, 0..100); the rest under ``detail``."""
        out = self.official.summary()
        per_type = {t: 100.0 * v for t, v in self.official.per_type().items()}
        out["detail"] = {
            "note": OFFICIAL_NOTE,
            "per_question_type": per_type,
            "counts": {t: self.counts.get(t, 0) for t in QUESTION_TYPES},
            "records": self.records,
            "tasks_present": self.tasks_present,
            "missing_question_types": self.official.missing(),
            "missing_tasks": self.official.missing_tasks(),
            "errors": self.errors,
            "baselines": {name: b.to_json() for name, b in self.baselines.items()},
            "lenient": {"note": LENIENT_NOTE, **self.lenient.summary(),
                        "per_question_type": {t: 100.0 * v for t, v in self.lenient.per_type().items()}},
            "latency_s": self.latency_percentiles(),
            "meta": self.meta,
            "skipped_records": [p.to_dict() for p in self.problems],
        }
        return out

    def task_count(self, task: str) -> int:
        if task == "object_rel_direction":
            return sum(self.counts.get(t, 0) for t in QUESTION_TYPES if t.startswith("object_rel_direction_"))
        return self.counts.get(task, 0)

    def table(self) -> str:
        """A plain-text table: task, questions, official, lenient, then one column per baseline."""
        off, len_ = self.official.summary(), self.lenient.summary()
        names = list(self.baselines)
        lines = [f"{'task':<24} {'n':>6} {'official':>9} {'lenient*':>9}" + "".join(f" {n:>9}" for n in names)]
        for t in (*TASKS, "overall"):
            n = self.records if t == "overall" else self.task_count(t)
            cells = [score_cell(off.get(t)), score_cell(len_.get(t))] + [score_cell(self.baselines[b].scores.get(t)) for b in names]
            lines.append(f"{t:<24} {n:>6}" + "".join(f" {c:>9}" for c in cells))
        lines.append("* " + LENIENT_NOTE)
        lines.append(f"overall: mean of the {len(self.tasks_present)} task(s) with questions "
                     f"({', '.join(self.tasks_present) or 'none'})")
        for b in self.baselines.values():
            lines.append(f"{b.name}: {b.label}")
        return "\n".join(lines)


def score_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _parsed_or_parse(record: dict, qtype: str) -> tuple[str, float | None]:
    """The record's parsed fields, or the node's parser run on the raw text where a record has none."""
    parsed = record.get("parsed")
    if isinstance(parsed, dict):
        value = parsed.get("value")
        return str(parsed.get("choice") or ""), (float(value) if isinstance(value, (int, float)) else None)
    from spacemind_ros.pipeline.answer_parsing import parse_choice, parse_number
    from spacemind_ros.pipeline.prompting import NUMERICAL_TASKS

    text = record.get("prediction") or ""
    if qtype in MCA_TYPES:
        return parse_choice(text, record.get("options") or []), None
    value, _ = parse_number(text, NUMERICAL_TASKS[qtype])
    return "", (None if math.isnan(value) else value)


def score_records(path: str | Path, prior: Prior | None = None, prior_of_evaluated: bool = False) -> ScoreResult:
    """Score one predictions JSONL file (streams it; keeps a few numbers per id).

    ``prior``: answers learnt from a training split (``Prior.from_file``), scored as the ``prior`` baseline;
    ``prior_of_evaluated``: learn it from the evaluated records instead (labelled as reading their labels).
    """
    path = Path(path)
    scored: dict[str, _Scored] = {}
    problems: list[Problem] = []
    meta: dict = {}
    anonymous = 0
    errors_by_id: dict[str, str] = {}
    try:
        lines = read_jsonl(path)
        for line, record, why in lines:
            if record is None:
                problems.append(Problem(str(path), line, why))
                continue
            qtype = record.get("question_type")
            try:
                gt = check_ground_truth(qtype, record.get("ground_truth"))
                if "prediction" not in record:
                    raise ValueError("'prediction' (the raw answer text) is missing")
                pred = record["prediction"]
                if pred is None:
                    pred = ""
                if not isinstance(pred, str):
                    raise ValueError(f"'prediction' must be a string, got {type(pred).__name__}")
                options = record.get("options") or []
                if not isinstance(options, list):
                    raise ValueError("'options' must be a list")
            except ValueError as exc:
                problems.append(Problem(str(path), line, str(exc), str(record.get("id") or "")))
                continue
            choice, value = _parsed_or_parse(record, qtype)
            latency = record.get("latency_s")
            success = record.get("success", True) is not False
            key = str(record["id"]) if record.get("id") is not None else f"#{(anonymous := anonymous + 1)}"
            scored[key] = _Scored(qtype, score_official(qtype, pred, gt), score_lenient(qtype, choice, value, gt),
                                  gt, len(options) if qtype in MCA_TYPES else 0, success,
                                  float(latency) if success and isinstance(latency, (int, float)) else None)
            errors_by_id.pop(key, None)
            if not success:
                errors_by_id[key] = str(record.get("error_code") or "ERROR")
            for k in ("mode", "backend", "model", "frames"):
                if k in record:
                    meta.setdefault(k, set()).add(str(record[k]))
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), 0, f"cannot read the predictions file: {exc}"))
    official, lenient = Aggregate(), Aggregate()
    counts: dict[str, int] = {}
    for s in scored.values():
        official.add(s.question_type, s.official)
        lenient.add(s.question_type, s.lenient)
        counts[s.question_type] = counts.get(s.question_type, 0) + 1
    errors: dict[str, int] = {}
    for code in errors_by_id.values():
        errors[code] = errors.get(code, 0) + 1
    truths = [(s.question_type, s.ground_truth, s.options) for s in scored.values()]
    baselines = {"random": random_baseline(truths), "majority": majority_baseline(truths)}
    if prior is None and prior_of_evaluated and truths:
        prior = Prior.from_pairs(((t, gt) for t, gt, _ in truths), "the evaluated set", of_evaluated=True)
    if prior is not None:
        baselines["prior"] = prior.baseline(truths)
    return ScoreResult(official, lenient, baselines, counts, errors,
                       [s.latency_s for s in scored.values() if s.latency_s is not None],
                       {k: ", ".join(sorted(v)) for k, v in meta.items()}, problems)
