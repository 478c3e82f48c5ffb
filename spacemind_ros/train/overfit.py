"""The plumbing check before a long run: the small model must learn a handful of training questions by heart.

``python -m spacemind_ros.train.overfit [--out runs/overfit]``, two sets, each learnt by the QA stage's own config
(LLM and CGMF train, encoders cached) for 160 steps and then answered by the *serving* path (``spacemind-eval run``
offline, greedy, 16 tokens), exact answers counted:
- ``questions``: 32 questions of four generated scenes (a round-robin over question types). Anything that breaks
  between data, prompt, labels, tokens and decoding shows up as fewer than 95% exact.
- ``frames_only``: one question with the same text for 32 scenes ("How many chair(s) are in this room?"), 16
  rooms with one and 16 with two, from the scenes' ground truth: only the frames tell the answers apart, so a
  text-only model stays at 50%. Learning it proves the frames reach the answer.
The small recipe runs it first and stops when either set is under 95%.
"""
from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)
SCENES = dict(seed=1000, count=4, size="160x120", frames=64, fps=4.0, heldout_fraction=0.0)
FRAMES_ONLY_SCENES = dict(SCENES, count=64)  # enough rooms with one and with two of some category
CLEARLY_SEEN_PX = 800  # an instance counts as seen where it fills this many pixels of some frame (of 160x120)
PASS_EXACT = 0.95


def pick_questions(records: list[dict], per_scene: int) -> list[dict]:
    """Up to ``per_scene`` questions of each scene, taking the question types in turn (every type is seen)."""
    by_scene: dict[str, dict[str, list[dict]]] = {}
    for r in records:
        by_scene.setdefault(r["scene_name"], {}).setdefault(r["question_type"], []).append(r)
    out = []
    for scene in sorted(by_scene):
        turns = itertools.chain.from_iterable(itertools.zip_longest(*by_scene[scene].values()))
        out += [r for r in turns if r is not None][:per_scene]
    return out


def frames_only_questions(scenes: Path, per_answer: int = 16) -> list[dict]:
    """One counting question with the same text for every room ("How many chair(s) are in this room?"), for the
    furniture category that splits the scenes most evenly between one and two instances: ``per_answer`` rooms with
    one and as many with two, every instance clearly seen (from each scene's scene.json)."""
    from spacemind_ros.scenes.catalog import CATEGORIES

    rows = [json.loads(line) for line in (scenes / "train.jsonl").read_text().splitlines() if line.strip()]
    firsts = {r["scene_name"]: r for r in reversed(rows)}
    answers: dict[str, dict[str, list[dict]]] = {c: {"1": [], "2": []} for c in CATEGORIES}
    for name in sorted(firsts):
        row = firsts[name]
        truth = json.loads(((scenes / row["bag"]).parent / "scene.json").read_text())
        seen = {int(i) for i, v in truth["seen"].items() if v.get("max_pixels", 0) >= CLEARLY_SEEN_PX}
        for c in CATEGORIES:
            instances = [o["index"] for o in truth["objects"] if o["category"] == c]
            if str(len(instances)) in answers[c] and all(i in seen for i in instances):
                answers[c][str(len(instances))].append(row)
    category = max(sorted(answers), key=lambda c: min(len(v) for v in answers[c].values()))
    out = []
    for count, rooms in answers[category].items():
        for row in rooms[:per_answer]:
            out.append(dict(id=f"frames-only-{len(out)}", dataset=row.get("dataset", ""), scene_name=row["scene_name"],
                            question_type="object_counting", question=f"How many {category}(s) are in this room?",
                            options=[], ground_truth=count, bag=row["bag"],
                            image_topic=row.get("image_topic", "/camera/image_raw")))
    return out


def overfit_check(out: Path, model_dir: Path | None = None, per_scene: int = 8, steps: int = 160) -> dict:
    """Both sets (the module's docstring), each trained from ``model_dir`` and answered through the evaluation
    tool; returns the counts (the varied questions' at the top level, the frames-only set's under
    ``frames_only``)."""
    from spacemind_ros.train.small_recipe import generate_scenes

    started = time.perf_counter()
    out = Path(out).resolve()
    scenes = generate_scenes(out, SCENES)
    records = [json.loads(line) for line in (scenes / "train.jsonl").read_text().splitlines() if line.strip()]
    result = _learn_and_answer(out, pick_questions(records, per_scene), "overfit", model_dir, steps)
    many = generate_scenes(out / "frames_only", FRAMES_ONLY_SCENES)
    same = frames_only_questions(many)
    frames_only = _learn_and_answer(out / "frames_only", same, "frames_only", model_dir, steps)
    frames_only["question"] = same[0]["question"] if same else None
    result["frames_only"] = frames_only
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["passed"] = all(r["questions"] > 0 and r["exact"] >= PASS_EXACT * r["questions"]
                           for r in (result, frames_only))
    (out / "overfit.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def _learn_and_answer(out: Path, picked: list[dict], name: str, model_dir: Path | None, steps: int) -> dict:
    """Train the QA stage's config on ``picked`` (written beside the scenes) for ``steps``, then answer them."""
    from spacemind_ros.eval.cli import main as eval_main
    from spacemind_ros.model.presets import small_checkpoint
    from spacemind_ros.train.small_recipe import stage_config
    from spacemind_ros.train.trainer import Trainer

    questions = out / "scenes" / f"{name}.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in picked))
    entry = json.dumps({"format": "scenes", "path": str(questions)})
    config = stage_config("small-4-qa", out, [
        f"model.init_from={model_dir or small_checkpoint()}", "model.trainable=[llm, cgmf]",
        f"train.max_steps={steps}", "train.epochs=1000", "train.global_batch=8", "train.micro_batch=8",
        "train.lr=0.002", "train.warmup_ratio=0.05", "model.cgmf_variant=full",
        f"train.encoder_cache={out / 'encoder_cache'}",
        "train.eval_generate=false", f"output.dir={out / 'run'}", "output.progress_bar=false",
        "output.tensorboard=false", "output.log_every=20", f"data.train=[{entry}]", "data.eval=[]"])
    summary = Trainer(config).fit()
    eval_main(["run", "--questions", str(questions), "--model", str(out / "run" / "final"), "--out",
               str(out / "eval"), "--quiet", "--force", "--no-report"])
    predictions = [json.loads(line) for line in (out / "eval" / "predictions.jsonl").read_text().splitlines()]
    wrong = [{"question_type": p["question_type"], "prediction": p["prediction"], "ground_truth": p["ground_truth"]}
             for p in predictions if p["prediction"].strip() != str(p["ground_truth"])]
    return {"questions": len(predictions), "exact": len(predictions) - len(wrong),
            "types": sorted({p["question_type"] for p in predictions}), "steps": summary["steps"],
            "final_loss": summary["final_loss"], "wrong": wrong}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m spacemind_ros.train.overfit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/overfit")
    parser.add_argument("--model", help="SpaceMind folder to start from (default: the shipped small model)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = overfit_check(Path(args.out), Path(args.model) if args.model else None)
    print(json.dumps({k: v for k, v in result.items() if k != "wrong"}, indent=1))
    for w in result["wrong"] + result["frames_only"]["wrong"]:
        print(f"wrong: {w}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
