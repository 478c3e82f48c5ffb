"""The plumbing check before a long run: the small model must learn a handful of training questions by heart.

``python -m spacemind_ros.train.overfit [--out runs/overfit]``: four generated scenes, 32 of their questions (a
round-robin over question types), the QA stage's own config (LLM and CGMF train, encoders cached) for 160 steps,
then the *serving* path answers the same questions (``spacemind-eval run`` offline, greedy, 16 tokens) and the exact
answers are counted. Anything that breaks between data, prompt, labels, tokens and decoding shows up here as fewer
than 95% exact answers; the small recipe runs it first and stops when it fails.
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


def overfit_check(out: Path, model_dir: Path | None = None, per_scene: int = 8, steps: int = 160) -> dict:
    """Train on ``per_scene`` x 4 questions, answer them through the evaluation tool; returns the counts."""
    from spacemind_ros.eval.cli import main as eval_main
    from spacemind_ros.model.presets import small_checkpoint
    from spacemind_ros.train.small_recipe import generate_scenes, stage_config
    from spacemind_ros.train.trainer import Trainer

    started = time.perf_counter()
    out = Path(out).resolve()
    scenes = generate_scenes(out, SCENES)
    records = [json.loads(line) for line in (scenes / "train.jsonl").read_text().splitlines() if line.strip()]
    picked = pick_questions(records, per_scene)
    questions = scenes / "overfit.jsonl"
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
    result = {"questions": len(predictions), "exact": len(predictions) - len(wrong),
              "types": sorted({p["question_type"] for p in predictions}), "steps": summary["steps"],
              "final_loss": summary["final_loss"], "seconds": round(time.perf_counter() - started, 1),
              "wrong": wrong}
    result["passed"] = result["questions"] > 0 and result["exact"] >= PASS_EXACT * result["questions"]
    (out / "overfit.json").write_text(json.dumps(result, indent=1) + "\n")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spacemind_ros.train.overfit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/overfit")
    parser.add_argument("--model", help="SpaceMind folder to start from (default: the shipped small model)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    result = overfit_check(Path(args.out), Path(args.model) if args.model else None)
    print(json.dumps({k: v for k, v in result.items() if k != "wrong"}, indent=1))
    for w in result["wrong"]:
        print(f"wrong: {w}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
