"""Route advice against the scenes' ground truth (``routes_heldout.jsonl``): ``spacemind-eval routes``.

Each record names a bag, a ``start`` and a ``goal`` (the node's ``/route_advice`` request) and the true steps with
their ``actions`` and ``landmarks``. The pipeline watches the bag and answers ``route(goal, start)`` as the node
would; the steps are parsed by the node's own parser and compared: ``actions`` (the action sequence equal),
``landmarks`` (the landmark sequence equal), ``exact`` (both), ``non_empty`` (any step at all). Not a VSI-Bench
task: no official score exists for it.
"""
from __future__ import annotations

import json
from pathlib import Path

from spacemind_ros.eval.questions import read_jsonl

KEYS = ("exact", "actions", "landmarks", "non_empty")


def route_match(actions: list[str], landmarks: list[str], truth: dict) -> dict[str, bool]:
    same_actions = list(actions) == list(truth["actions"])
    same_landmarks = list(landmarks) == list(truth["landmarks"])
    return {"exact": same_actions and same_landmarks, "actions": same_actions, "landmarks": same_landmarks,
            "non_empty": bool(actions)}


def read_routes(path: Path) -> list[dict]:
    """Route records; a line without bag, goal, start, actions and landmarks is refused (ValueError with its line)."""
    records = []
    for line, record, why in read_jsonl(path):
        if record is None:
            raise ValueError(f"{path}:{line}: {why}")
        missing = [k for k in ("bag", "goal", "start", "actions", "landmarks") if k not in record]
        if missing:
            raise ValueError(f"{path}:{line}: route record lacks {', '.join(missing)}")
        records.append(record)
    return records


def run_routes(path: Path, out: Path, model_path: str = "", preset: str = "small", device: str = "cpu",
               limit: int | None = None) -> dict:
    """Answer every route record of ``path`` offline; ``out/routes.jsonl`` (one line each) and the summary."""
    from spacemind_ros.eval.offline import offline_model, watched_bags

    path, out = Path(path), Path(out)
    records = read_routes(path)[:limit]
    settings, model, processor = offline_model(model_path, preset, device)
    out.mkdir(parents=True, exist_ok=True)
    totals = dict.fromkeys(KEYS, 0)
    with open(out / "routes.jsonl", "w", encoding="utf-8") as f:
        for group, reasoner in watched_bags(records, path.parent, settings, model, processor):
            for r in group:
                answer = reasoner.route(r["goal"], r["start"])
                match = route_match(answer.actions, answer.landmarks, r)
                for k in KEYS:
                    totals[k] += match[k]
                f.write(json.dumps({"id": r.get("id"), "goal": r["goal"], "start": r["start"],
                                    "prediction": answer.answer, "steps": answer.steps,
                                    "actions": answer.actions, "landmarks": answer.landmarks,
                                    "ground_truth": r["ground_truth"], "success": answer.success,
                                    "error_code": answer.error_code, "match": match}) + "\n")
    n = len(records)
    summary = {"routes": n, "model": settings.model_label, "frames": settings.frames,
               **{k: (100.0 * totals[k] / n if n else 0.0) for k in KEYS}}
    (out / "routes_score.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
