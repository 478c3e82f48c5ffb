"""Annotation files -> :class:`QARecord` lists. Each reader returns (records, skipped) and never raises for one bad
record: ``skipped`` holds a :class:`BadSample` per record that was left out, naming the file.

Layouts (see docs/training.md, "Training data layouts"):
- ``vsibench`` / ``scenes``: JSON lines (or a JSON list) with the VSI-Bench fields ``id, dataset, scene_name,
  question_type, question, options, ground_truth``. Media: ``bag`` (+ ``image_topic``, optional ``stamp_ns``) relative
  to the file's folder (the synthetic scenes), else ``video`` / ``frames`` relative to ``media_root``, else
  ``{media_root}/{dataset}/{scene_name}.mp4`` (the official VSI-Bench video layout).
- ``vlm3r`` / ``vica`` (VLM-3R data, ViCA-322K): LLaVA-video JSON (list or lines) with ``id``, ``video`` (relative to
  ``media_root``) and ``conversations`` [{from: human|gpt, value}]; one sample per conversation, its later
  human/gpt pairs kept as follow-up turns after the first (a turn that cannot be used ends the conversation there).
- ``sqa3d``: the official ``v1_balanced_questions_*.json`` (``questions``) + ``v1_balanced_sqa_annotations_*.json``
  (``annotations``) joined on ``question_id``; the situation text precedes the question; media per scene
  ``{media_root}/{media_pattern}`` with ``{scene_id}`` substituted (a video or a frame folder).

Answers: multiple choice -> the letter; a number where the source's ``question_type`` says numerical, parsed from
free text if need be ("About 2.5 meters" -> 2.5); a free-form answer to a question that only looks numerical stays
an open record. ``read_dataset`` reports per file what was kept, converted and skipped, and why (ReadReport).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from spacemind_ros.pipeline.prompting import MCA_POST, NA_POST, PRE_PROMPT
from spacemind_ros.train.records import BadSample, QARecord, Turn, make_record

FORMATS = ("scenes", "vsibench", "vlm3r", "vica", "sqa3d")


@dataclass
class ReadReport:
    """What one ``data`` entry gave: records kept (and the question-answer turns in them), answers converted to be
    trainable (by how), and records or turns skipped (by why)."""

    format: str
    path: str
    kept: int = 0
    turns: int = 0
    converted: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, fmt: str, path: Path, records: list[QARecord], skipped: list[BadSample]) -> "ReadReport":
        report = cls(fmt, str(path), kept=len(records))
        for r in records:
            for turn in r.turns:
                report.turns += 1
                if turn.note:
                    report.converted[turn.note] += 1
        report.skipped.update(getattr(b, "kind", "invalid record") for b in skipped)
        return report

    def as_dict(self) -> dict:
        return {"format": self.format, "path": self.path, "kept": self.kept, "turns": self.turns,
                "converted": dict(self.converted), "skipped": dict(self.skipped)}

    def line(self) -> str:
        def counts(c: Counter) -> str:
            return "; ".join(f"{n} {why}" for why, n in c.most_common()) or "none"

        return (f"{self.path} ({self.format}): kept {self.kept} records ({self.turns} turns); converted: "
                f"{counts(self.converted)}; skipped: {counts(self.skipped)}")


def read_dataset(spec: dict) -> tuple[list[QARecord], list[BadSample], ReadReport]:
    """One ``data`` entry of the training config -> (records, skipped, report). ``spec``: format, path, and the
    format's options."""
    fmt = spec.get("format")
    if fmt not in FORMATS:
        raise ValueError(f"data format {fmt!r} is unknown; choose from {', '.join(FORMATS)}")
    path = Path(spec["path"])
    if not path.exists():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    media_root = Path(spec.get("media_root") or path.parent)
    if fmt in ("scenes", "vsibench"):
        records, skipped = read_vsibench(path, media_root, spec.get("topic"))
    elif fmt in ("vlm3r", "vica"):
        records, skipped = read_llava_video(path, media_root, dataset=fmt)
    else:
        records, skipped = read_sqa3d(path, Path(spec["annotations"]), media_root,
                                      spec.get("media_pattern", "{scene_id}"))
    limit = spec.get("limit")
    records = records[:limit] if limit else records
    return records, skipped, ReadReport.of(fmt, path, records, skipped)


def _load_items(path: Path) -> tuple[list, list[BadSample]]:
    """A JSON list, a JSON object with one list value, or JSON lines; bad lines are skipped and reported."""
    text = path.read_text()
    stripped = text.lstrip()
    if stripped.startswith("["):
        return json.loads(text), []
    if stripped.startswith("{") and "\n{" not in stripped.rstrip():
        obj = json.loads(text)  # one object: a record (one JSON line), or a wrapper like SQA3D's {"questions": [...]}
        lists = [v for v in obj.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        is_record = any(k in obj for k in ("question", "conversations"))
        return (lists[0] if len(lists) == 1 and not is_record else [obj]), []
    items, bad = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as exc:
            bad.append(BadSample(f"line {n} is not JSON ({exc.msg})", str(path), "line not JSON"))
    return items, bad


def _collect(items, build, source: Path) -> tuple[list[QARecord], list[BadSample]]:
    records, skipped = [], []
    for i, item in enumerate(items):
        try:
            out = build(item, i)
            records.extend(out if isinstance(out, list) else [out])
        except BadSample as exc:
            skipped.append(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            skipped.append(BadSample(f"item {i}: {type(exc).__name__}: {exc}", str(source), "malformed item"))
    return records, skipped


def read_vsibench(path: Path, media_root: Path, topic: str | None = None):
    items, bad = _load_items(path)

    def build(item, i):
        if item.get("bag"):
            media, kind_topic = path.parent / item["bag"], item.get("image_topic") or topic or "/camera/image_raw"
        elif item.get("video") or item.get("frames"):
            media, kind_topic = media_root / (item.get("video") or item.get("frames")), None
        else:
            media, kind_topic = media_root / str(item["dataset"]) / f"{item['scene_name']}.mp4", None
        return make_record(id=item.get("id", i), question=item["question"], options=item.get("options") or [],
                           answer=item.get("ground_truth"), question_type=item.get("question_type"), media=media,
                           topic=kind_topic, until_ns=item.get("stamp_ns"), source=str(path),
                           dataset=str(item.get("dataset", "")), scene_name=item.get("scene_name"))

    records, skipped = _collect(items, build, path)
    return records, bad + skipped


_PLACEHOLDER = re.compile(r"<(image|video)>\s*")
_OPTION_LINE = re.compile(r"^\s*\(?([A-Z])[.)]\s*\S")


def split_human_turn(text: str) -> tuple[str, list[str]]:
    """A LLaVA human turn -> (bare question, options): drops <image>/<video>, the VSI-Bench pre/post prompts and
    the "Options:" header, and collects "A. ..." lines as options."""
    text = _PLACEHOLDER.sub("", text)
    for fixed in (PRE_PROMPT, NA_POST, MCA_POST):
        text = text.replace(fixed, "")
    question, options = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.rstrip(":").lower() == "options":
            continue
        m = _OPTION_LINE.match(line)
        if m and (options or question):
            options.append(f"{m.group(1)}. {line[m.end() - 1:].strip()}")
        else:
            question.append(line)
    return " ".join(question).strip(), options


def read_llava_video(path: Path, media_root: Path, dataset: str):
    items, bad = _load_items(path)
    dropped: list[BadSample] = []  # later turns left out (the record keeps the turns before them)

    def build(item, i):
        turns = item.get("conversations") or []
        pairs = []
        for j in range(0, len(turns) - 1, 2):  # a turn out of human/gpt order ends the conversation there
            if turns[j].get("from") != "human" or turns[j + 1].get("from") != "gpt":
                break
            pairs.append((turns[j], turns[j + 1]))
        if not pairs:
            raise BadSample(f"item {item.get('id', i)}: empty conversation (no human/gpt pair)", str(path),
                            "empty conversation")
        rid = item.get("id", i)
        records = []
        for k, (human, gpt) in enumerate(pairs):
            question, options = split_human_turn(human.get("value", ""))
            try:
                records.append(make_record(
                    id=f"{rid}#{k}", question=question, options=options, answer=gpt.get("value"),
                    question_type=item.get("question_type"), media=media_root / item["video"], source=str(path),
                    dataset=item.get("data_source") or dataset))
            except BadSample as exc:
                if not records:
                    raise  # without its first turn the conversation has no context to keep
                # Later turns may refer to this one ("and the second one?"): without it they lose their context.
                dropped.append(exc)
                dropped.extend(BadSample(f"record {rid}#{j}: follows an unusable turn", str(path),
                                         "follows an unusable turn") for j in range(k + 1, len(pairs)))
                break
        first = records[0]
        first.id = str(rid)
        first.followups = [Turn(r.question, r.options, r.answer, r.task, r.note) for r in records[1:]]
        return first

    records, skipped = _collect(items, build, path)
    return records, bad + skipped + dropped


def read_sqa3d(questions: Path, annotations: Path, media_root: Path, media_pattern: str = "{scene_id}"):
    qs, bad = _load_items(questions)
    ans, bad2 = _load_items(annotations)
    by_id = {a["question_id"]: a for a in ans if isinstance(a, dict) and "question_id" in a}

    def build(item, i):
        qid = item["question_id"]
        if qid not in by_id:
            raise BadSample(f"question {qid} has no annotation in {annotations}", str(questions), "no annotation")
        answers = by_id[qid].get("answers") or []
        answer = answers[0].get("answer") if answers else None
        situation = (item.get("situation") or "").strip()
        question = f"{situation} {item['question'].strip()}".strip()
        return make_record(id=qid, question=question, options=[], answer=answer, question_type=None,
                           media=media_root / media_pattern.format(scene_id=item["scene_id"]), source=str(questions),
                           dataset="sqa3d", scene_id=item["scene_id"])

    records, skipped = _collect(qs, build, questions)
    return records, bad + bad2 + skipped
