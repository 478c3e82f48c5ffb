"""The small model, end to end, in one command: scenes, the three training stages, the ablation ladder, the scores.

``python -m spacemind_ros.train.small_recipe [--out runs/small] [--ladder] [--install] [--quick]``

1. scenes: ``spacemind-scenes generate`` seeds 1000-1399 at 160x120, 64 frames at 4 fps (about 10% held out by
   the seed hash); kept when ``OUT/scenes/dataset.json`` already has these settings.
2. the stages of ``config/train/small-*.yaml`` in order, each starting from the one before (``model.init_from``):
   VGGT's geometry, then InternViT + projector + LLM on the scene QA, then CGMF + LoRA (the paper's recipe).
3. ``--ladder``: the last stage again for each CGMF variant (``none`` = LoRA alone, CGMF kept at identity), same
   data and steps, all from stage 2; every rung scored on the held-out scenes by the evaluation tool (offline,
   16 frames); ``OUT/ladder.md``, ``OUT/ladder.json`` and ``OUT/ladder.png``.
4. ``--install``: the stage-3 model becomes the package's small checkpoint (InternVL weights in bfloat16, like the
   InternVL3-hf checkpoints; VGGT and CGMF in float32), with ``recipe.json`` (command, seeds, counts, times).

``--quick`` is the CI version: six scenes, two steps a stage, eight frames a question; it proves the command works,
not that the model learns. Paths in the configs start with ``runs/small``; ``--out`` moves all of them.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from spacemind_ros.train.config import SMALL_STAGES, load_config

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config" / "train"
LADDER = ("none", "shallow", "token_weight", "geometric_bias", "full")
SCENES = dict(seed=1000, count=400, size="160x120", frames=64, fps=4.0, heldout_fraction=0.1)
QUICK_SCENES = dict(SCENES, count=6, frames=24)
EVAL_FRAMES = 16
QUICK = ["train.max_steps=2", "train.epochs=1", "train.global_batch=2", "data.sample_frames=10",
         "train.geometry_frames=3", "train.eval_max_samples=2", "output.progress_bar=false", "output.tensorboard=false"]


def _rebase(value, out: Path):
    """A config path under ``runs/small`` moved under ``out`` (strings, lists and dicts of them)."""
    if isinstance(value, str):
        return str(out / value[len("runs/small/"):]) if value.startswith("runs/small/") else value
    if isinstance(value, list):
        return [_rebase(v, out) for v in value]
    if isinstance(value, dict):
        return {k: _rebase(v, out) for k, v in value.items()}
    return value


def stage_config(name: str, out: Path, overrides: list[str] = ()):
    """A shipped stage config with its paths under ``out`` and ``overrides`` applied last."""
    config = load_config(CONFIG_DIR / f"{name}.yaml", overrides)
    for section in (config.model, config.data, config.train, config.output):
        for key, value in vars(section).items():
            setattr(section, key, _rebase(value, out))
    return config


def generate_scenes(out: Path, settings: dict) -> Path:
    folder = out / "scenes"
    index = folder / "dataset.json"
    if index.is_file():
        have = json.loads(index.read_text())
        if _same_scenes(have, settings):
            log.info("scenes: reusing %s", folder)
            return folder
    from spacemind_ros.scenes.cli import main as scenes

    args = ["generate", "--seed", str(settings["seed"]), "--count", str(settings["count"]), "--out", str(folder),
            "--size", settings["size"], "--frames", str(settings["frames"]), "--fps", str(settings["fps"]),
            "--heldout-fraction", str(settings["heldout_fraction"]), "--quiet"]
    log.info("scenes: spacemind-scenes %s", " ".join(args))
    if scenes(args):
        raise RuntimeError(f"spacemind-scenes {' '.join(args)} failed")
    return folder


def _same_scenes(index: dict, settings: dict) -> bool:
    seeds = [s for split in index.get("splits", {}).values() for s in split]
    width, height = (int(v) for v in settings["size"].split("x"))
    s = index.get("settings", {})
    from spacemind_ros.scenes.dataset import GENERATOR_VERSION

    return (index.get("generator_version") == GENERATOR_VERSION and sorted(seeds) == list(range(settings["seed"], settings["seed"] + settings["count"]))
            and (s.get("width"), s.get("height"), s.get("frames"), s.get("fps"))
            == (width, height, settings["frames"], settings["fps"]))


def train(config) -> dict:
    from spacemind_ros.train.trainer import Trainer

    if (Path(config.output.dir) / "final" / "spacemind_config.json").is_file():
        log.info("%s: final checkpoint exists, skipped (delete the folder to train again)", config.output.dir)
        return json.loads((Path(config.output.dir) / "summary.json").read_text())
    return Trainer(config).fit()


def evaluate(model_dir: Path, questions: Path, out: Path, frames: int, limit: int | None = None,
             prior_from: Path | None = None):
    """The evaluation tool, offline, on ``questions``: its ScoreResult (with the prior of ``prior_from``, the
    training split)."""
    from spacemind_ros.eval.baselines import Prior
    from spacemind_ros.eval.cli import main as eval_main
    from spacemind_ros.eval.results import score_records

    args = ["run", "--questions", str(questions), "--model", str(model_dir), "--frames", str(frames), "--out",
            str(out), "--quiet"] + (["--limit", str(limit)] if limit else [])
    eval_main(args)
    return score_records(out / "predictions.jsonl", prior=Prior.from_file(prior_from)[0] if prior_from else None)


def geometry_check(out: Path, heldout: Path, bags: int) -> dict:
    """VGGT after the geometry stage against its random initialisation, on the first ``bags`` held-out scenes."""
    from spacemind_ros.model.presets import build_small, load_model
    from spacemind_ros.train.geometry_objective import geometry_scores
    from spacemind_ros.train.readers import read_dataset

    records, _ = read_dataset({"format": "scenes", "path": str(heldout)})  # bags found as training finds them
    paths = sorted({r.media for r in records})[:bags]
    trained = geometry_scores(*load_model(out / "1-geometry" / "final"), paths)
    untrained = geometry_scores(*build_small(), paths)
    log.info("VGGT on %d held-out scenes: trained %s, at initialisation %s", len(paths), trained, untrained)
    return {"trained": trained, "initialisation": untrained}


def ladder_table(scores: dict) -> str:
    """Markdown: one row per task and overall; columns the training-split prior, the majority letter and the rungs
    (official VSI-Bench scores, 0-100; '-' where a baseline does not cover a task)."""
    from spacemind_ros.eval.scoring import TASKS

    rungs = [r for r in LADDER if r in scores]
    baselines = scores[rungs[0]]["baselines"]
    names = [b for b in ("prior", "majority") if b in baselines]
    lines = ["| task | " + " | ".join(names + rungs) + " |", "|---|" + "---:|" * len(names + rungs)]
    for task in (*TASKS, "overall"):
        cells = [baselines[b].get(task) for b in names] + [scores[r]["scores"].get(task) for r in rungs]
        lines.append(f"| {task} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    return "\n".join(lines) + "\n"


def plot_ladder(scores: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from spacemind_ros.eval.scoring import TASKS

    rungs = [r for r in LADDER if r in scores]
    tasks = [*TASKS, "overall"]
    series = {"prior (training split)": [scores[rungs[0]]["baselines"].get("prior", {}).get(t, 0.0) for t in tasks]}
    series.update({r: [scores[r]["scores"].get(t, 0.0) for t in tasks] for r in rungs})
    x, width = np.arange(len(tasks)), 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(13, 4.5))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name,
               color="lightgray" if name.startswith("prior") else None)
    ax.set_xticks(x, [t.replace("object_", "").replace("_", "\n") for t in tasks], fontsize=8)
    ax.set_ylabel("VSI-Bench score (official, 0-100)")
    ax.set_title("small SpaceMind on held-out synthetic scenes: the CGMF ablation ladder")
    ax.legend(ncol=len(series), fontsize=8, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def install(final: Path, dest: Path, recipe: dict) -> Path:
    """Copy a stage-3 folder to ``dest`` without its trainer state; InternVL's weights become bfloat16."""
    import torch
    from safetensors.torch import load_file, save_file

    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(final, tmp, ignore=shutil.ignore_patterns("trainer_state"))
    weights = tmp / "internvl" / "model.safetensors"
    state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in load_file(str(weights)).items()}
    save_file(state, str(weights), metadata={"format": "pt"})
    config_path = tmp / "internvl" / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("torch_dtype", "dtype"):
        if key in config:
            config[key] = "bfloat16"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    (tmp / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spacemind_ros.train.small_recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/small", help="folder for scenes, stages, ladder (default runs/small)")
    parser.add_argument("--ladder", action="store_true", help="also train and score the CGMF ablation ladder")
    parser.add_argument("--install", action="store_true", help="make the result the package's small checkpoint")
    parser.add_argument("--quick", action="store_true", help="CI version: 6 scenes, 2 steps a stage")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out).resolve()
    started = time.perf_counter()
    scene_settings = QUICK_SCENES if args.quick else SCENES
    generate_scenes(out, scene_settings)
    quick = QUICK if args.quick else []
    configs = {name: stage_config(name, out, quick) for name, _, _ in SMALL_STAGES}
    summaries = {}
    for name, config in configs.items():
        summaries[name] = train(config)  # its summary.json when trained before
        log.info("%s: %.0f s of training", name, summaries[name]["seconds"])
    final = out / "3-cgmf-lora" / "final"
    heldout = out / "scenes" / "heldout.jsonl"
    frames = 8 if args.quick else EVAL_FRAMES
    keys = ("seconds", "steps", "samples_seen", "train_samples", "eval_loss")
    result = {"command": " ".join(["python -m spacemind_ros.train.small_recipe", *(argv or sys.argv[1:])]),
              "scenes": scene_settings,
              "stages": {n: {**{k: s.get(k) for k in keys}, "seed": configs[n].train.seed}
                         for n, s in summaries.items()}}
    result["geometry"] = geometry_check(out, heldout, 2 if args.quick else 20)
    if args.ladder:
        scores = {}
        for rung in LADDER:
            folder = final if rung == "full" else out / f"ladder-{rung}" / "final"
            if rung != "full":
                train(stage_config("small-3-cgmf-lora", out, quick + [
                    f"model.cgmf_variant={rung}", f"output.dir={out / f'ladder-{rung}'}"]))
            res = evaluate(folder, heldout, out / "eval" / rung, frames, limit=8 if args.quick else None,
                           prior_from=out / "scenes" / "train.jsonl")
            scores[rung] = {"scores": res.official.summary(), "questions": res.records,
                            "baselines": {n: b.scores for n, b in res.baselines.items()}}
        (out / "ladder.json").write_text(json.dumps(scores, indent=1) + "\n")
        (out / "ladder.md").write_text(ladder_table(scores))
        plot_ladder(scores, out / "ladder.png")
        result["ladder"] = {r: s["scores"]["overall"] for r, s in scores.items()}
        print(ladder_table(scores))
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "recipe.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.install:
        from spacemind_ros.model.presets import SMALL_CHECKPOINT

        log.info("installed %s", install(final, SMALL_CHECKPOINT, result))
    print(json.dumps({k: result[k] for k in ("stages", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
