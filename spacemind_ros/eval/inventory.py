"""Does the model read what the frames show? ``spacemind-eval inventory`` on the scenes' inventory questions.

The scenes' inventory records (``inventory_heldout.jsonl``, see ``spacemind_ros/scenes/inventory.py``) ask for the
objects a walk shows and for each kind's total; every word of their answers only the frames decide. The pipeline
watches each bag and answers them as the node would (greedy, ``MAX_NEW_TOKENS``: the lists are longer than VSI-Bench's
16 tokens), and each answer is compared with the truth as sets: ``f1`` of the categories named, and for the totals
question ``pairs_f1`` of the (category, count) pairs (a name said twice counts once). The bar is the training
split's frequency list (``prior``): its commonest categories, as many as its answers name on average, each with its
commonest total; a strong answer for a model that reads no frame (the same list for every walk). Not a VSI-Bench
task: no official score exists for it.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from spacemind_ros.eval.questions import read_jsonl

MAX_NEW_TOKENS = 64
KINDS = {"order": "Name the objects", "totals": "Name each kind"}  # question text starts (scenes/inventory.py)
SCORES = {"order": ("f1",), "totals": ("f1", "pairs_f1")}  # the order question never asks for counts


def parse_items(text: str) -> list[tuple[str, int | None]]:
    """``"chair 2, trash can 1"`` -> ``[("chair", 2), ("trash can", 1)]``; a missing or unreadable total is None."""
    items = []
    for part in text.strip().rstrip(".").split(","):
        words = part.split()
        if not words:
            continue
        count = int(words[-1]) if words[-1].isdecimal() else None
        name = " ".join(words[:-1] if count is not None else words).lower()
        if name:
            items.append((name, count))
    return items


def set_f1(predicted: set, truth: set) -> float:
    hit = len(predicted & truth)
    return 2.0 * hit / (len(predicted) + len(truth)) if hit else 0.0


def inventory_match(prediction: str, truth: str) -> dict[str, float]:
    """``f1`` of the category sets; ``pairs_f1`` of the (category, count) sets (the totals question's)."""
    p, t = parse_items(prediction), parse_items(truth)
    return {"f1": set_f1({n for n, _ in p}, {n for n, _ in t}), "pairs_f1": set_f1(set(p), set(t))}


def question_kind(question: str) -> str:
    for kind, start in KINDS.items():
        if question.startswith(start):
            return kind
    raise ValueError(f"not an inventory question: {question!r}")


def frequency_prior(records: list[dict]) -> dict[str, str]:
    """Per question kind, the answer a model reading no frame gives best on average (module docstring)."""
    lists = [parse_items(r["ground_truth"]) for r in records if question_kind(r["question"]) == "totals"]
    if not lists:
        raise ValueError("no totals questions to take the frequency list from")
    seen = Counter(name for items in lists for name, _ in items)
    size = int(sum(len(items) for items in lists) / len(lists) + 0.5)  # half up
    totals = {name: Counter(n for items in lists for c, n in items if c == name).most_common(1)[0][0]
              for name, _ in seen.most_common(size)}
    return {"order": ", ".join(totals), "totals": ", ".join(f"{c} {n}" for c, n in totals.items())}


def read_inventory(path: Path) -> list[dict]:
    """Inventory records; a line without bag, question and ground_truth, or another question, is refused
    (ValueError with its line)."""
    records = []
    for line, record, why in read_jsonl(path):
        if record is None:
            raise ValueError(f"{path}:{line}: {why}")
        missing = [k for k in ("bag", "question", "ground_truth") if k not in record]
        if missing:
            raise ValueError(f"{path}:{line}: inventory record lacks {', '.join(missing)}")
        try:
            question_kind(record["question"])
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: {exc}") from None
        records.append(record)
    return records


def run_inventory(path: Path, out: Path, prior_from: Path, model_path: str = "", preset: str = "small",
                  device: str = "cpu", limit: int | None = None) -> dict:
    """Answer every inventory record of ``path`` offline; ``out/inventory.jsonl`` (one line each) and the summary
    (``out/inventory_score.json``): per kind, the mean ``f1`` (and ``pairs_f1``) of the model and of the frequency
    list of ``prior_from`` (the training split's inventory records)."""
    from spacemind_ros.eval.offline import offline_model, watched_bags

    path, out = Path(path), Path(out)
    records = read_inventory(path)[:limit]
    prior = frequency_prior(read_inventory(Path(prior_from)))
    settings, model, processor = offline_model(model_path, preset, device)
    out.mkdir(parents=True, exist_ok=True)
    scores: dict[str, dict[str, list[float]]] = {}
    with open(out / "inventory.jsonl", "w", encoding="utf-8") as f:
        for group, reasoner in watched_bags(records, path.parent, settings, model, processor, MAX_NEW_TOKENS):
            for r in group:
                kind = question_kind(r["question"])
                answer = reasoner.ask(r["question"], task="open")
                match = inventory_match(answer.answer, r["ground_truth"])
                guess = inventory_match(prior[kind], r["ground_truth"])
                row = scores.setdefault(kind, {k: [] for s in SCORES[kind] for k in (s, "prior_" + s)})
                for k in SCORES[kind]:
                    row[k].append(match[k])
                    row["prior_" + k].append(guess[k])
                f.write(json.dumps({"id": r.get("id"), "kind": kind, "prediction": answer.answer,
                                    "ground_truth": r["ground_truth"], "success": answer.success,
                                    "error_code": answer.error_code, "match": match}) + "\n")
    summary = {"records": len(records), "model": settings.model_label, "frames": settings.frames, "prior": prior,
               **{kind: {"questions": len(row["f1"]), **{k: sum(v) / len(v) for k, v in row.items()}}
                  for kind, row in scores.items()}}
    (out / "inventory_score.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
