"""The small model, end to end, in one command: plumbing check, scenes, four training stages, the comparison.

``python -m spacemind_ros.train.small_recipe [--out runs/small] [--ladder] [--install] [--quick]``

0. the plumbing check (``spacemind_ros.train.overfit``): 32 questions learnt by heart and answered through the
   serving path, or the recipe stops.
1. scenes: ``spacemind-scenes generate`` seeds 1000-1399 at 160x120, 64 frames at 4 fps (about 10% held out by
   the seed hash; bags with the renderer's per-pixel classes, route ground truth); kept when ``OUT/scenes`` already
   has these settings and generator version.
2. the stages of ``config/train/small-*.yaml`` in order, each starting from the one before (``model.init_from``):
   VGGT's geometry; InternViT + projector + LLM on 4000 questions; InternViT's token classes (category
   objective); then encoders frozen and cached while the LLM and full CGMF learn every training question, route and
   inventory for five epochs. The held-out scenes are scored (``OUT/eval/full``), the held-out routes
   (``OUT/eval/routes``), and every 25th training question (``OUT/eval/full-train-sample``): how well the model
   fits what it trained on tells underfitting from overfitting.
3. ``--ladder``: stage 4 again with every frame grey (the blind twin) and once per CGMF variant (``--rungs``), and
   the full model under the paper's checks (grey frames, shuffled frames, one frame, camera-token noise of 2 and 5
   degrees); each scored on the held-out scenes beside the training split's prior: ``OUT/ladder.md|png|json`` and
   ``OUT/checks.md|png|json``; the blind twin also on the training sample beside the full model
   (``OUT/fit.md|png|json``).
4. ``--install``: the stage-4 model becomes the package's small checkpoint (InternVL weights in bfloat16, like the
   InternVL3-hf checkpoints; VGGT and CGMF in float32), with ``recipe.json`` (command, seeds, counts, times).

``--quick`` is the CI version: six scenes, two steps a stage, eight frames a question; it proves the command works,
not that the model learns. Paths in the configs start with ``runs/small``; ``--out`` moves all of them. A stage
whose ``final/`` exists is not trained again (delete its folder to retrain it).
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
MOTION_PRIOR_BAGS = 120  # training scenes whose draws make the geometry check's mean-motion guess (two draws each)
FIT_SAMPLE_EVERY = 25  # the training questions scored for the fit: every 25th (305 of 7,617)
CHECKS = ("blind", "shuffle", "single", "camera_noise:2", "camera_noise:5")  # the paper's robustness checks
# what each comparison's plot shows
COMPARISONS = {"ladder": "the full model, its blind twin and the CGMF rungs on the held-out scenes",
               "checks": "the full model under the paper's checks on the held-out scenes",
               "fit": "the full model and its blind twin on a sample of their training questions"}
QUICK = ["train.max_steps=2", "train.epochs=1", "train.global_batch=2", "train.micro_batch=1", "data.sample_frames=10",
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
            from spacemind_ros.scenes.inventory import write_inventory

            log.info("scenes: reusing %s", folder)
            write_inventory(folder)  # cheap (scene.json files only); datasets made before it existed lack it
            return folder
    from spacemind_ros.scenes.cli import main as scenes

    args = ["generate", "--seed", str(settings["seed"]), "--count", str(settings["count"]), "--out", str(folder),
            "--size", settings["size"], "--frames", str(settings["frames"]), "--fps", str(settings["fps"]),
            "--heldout-fraction", str(settings["heldout_fraction"]), "--walk", settings.get("walk", "tour"), "--quiet"]
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
            and (s.get("width"), s.get("height"), s.get("frames"), s.get("fps"), s.get("walk", "tour"))
            == (width, height, settings["frames"], settings["fps"], settings.get("walk", "tour")))


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


def training_sample(scenes: Path, every: int = FIT_SAMPLE_EVERY) -> Path:
    """``scenes/train_sample.jsonl``: every ``every``-th question of ``scenes/train.jsonl``, in order (beside it, so
    its relative bag paths resolve)."""
    rows = (scenes / "train.jsonl").read_text().splitlines(keepends=True)
    path = scenes / "train_sample.jsonl"
    path.write_text("".join(rows[::every]))
    return path


def _scores(result) -> dict:
    """A ScoreResult as recipe.json records it: question count, official scores, baselines."""
    return {"questions": result.records, "scores": result.official.summary(),
            "baselines": {n: b.scores for n, b in result.baselines.items()}}


def geometry_check(out: Path, heldout: Path, bags: int, span: float = 1.0, train: Path | None = None) -> dict:
    """VGGT after the geometry stage against its random initialisation, the guess that the camera never moved and,
    given the ``train`` questions, the training draws' mean motion per view (``mean_motion``) and their one mean pose
    for every view (``mean_pose``, what VGGT answers reading nothing from the frames), on the first ``bags`` held-out
    scenes (views over ``span`` of each walk: 1 = spread over all of it), and how much neighbouring views of those
    scenes overlap (``view_overlap``)."""
    from spacemind_ros.model.presets import build_small, load_model
    from spacemind_ros.train.geometry_objective import geometry_scores, mean_motion, training_motions, view_overlap
    from spacemind_ros.train.readers import read_dataset

    def scene_bags(questions: Path) -> list[str]:
        records, _, _ = read_dataset({"format": "scenes", "path": str(questions)})  # bags found as training finds them
        return sorted({r.media for r in records})

    paths = scene_bags(heldout)[:bags]
    motions = training_motions(scene_bags(train)[:MOTION_PRIOR_BAGS], span=span) if train else None
    priors = {"motion": mean_motion(motions), "pose": mean_motion(motions, any_view=True)} if train else {}
    trained = geometry_scores(*load_model(out / "1-geometry" / "final"), paths, span=span, priors=priors)
    untrained = geometry_scores(*build_small(), paths, span=span)
    # the guesses read the ground truth only: the same for both models
    prefixes = {"camera_still": "still", **({"mean_motion": "motion", "mean_pose": "pose"} if priors else {})}
    guesses = {name: {k: trained.pop(f"{prefix}_{k}") for k in ("translation_m", "rotation_deg")}
               for name, prefix in prefixes.items()}
    untrained = {k: v for k, v in untrained.items() if not k.startswith("still_")}
    log.info("VGGT on %d held-out scenes: trained %s, at initialisation %s, guesses %s", len(paths), trained,
             untrained, guesses)
    return {"trained": trained, "initialisation": untrained, **guesses,
            "view_overlap": round(view_overlap(paths, span=span), 4)}


def install(final: Path, dest: Path, recipe: dict) -> Path:
    """Copy the QA stage's folder to ``dest`` without its trainer state; InternVL's weights become bfloat16."""
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
    adapter = tmp / "lora" / "adapter_config.json"
    if adapter.is_file():  # the base is the folder's own internvl/, not a path on the machine that trained it
        lora = json.loads(adapter.read_text())
        lora["base_model_name_or_path"] = "internvl"
        adapter.write_text(json.dumps(lora, indent=2, sort_keys=True) + "\n")
    (tmp / "recipe.json").write_text(json.dumps(recipe, indent=1) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def comparison(out: Path, folders: dict[str, Path], prior: Path, name: str) -> dict:
    """``OUT/<name>.md``, ``.png`` and ``.json`` (``name`` one of ``COMPARISONS``): the runs side by side
    (spacemind_ros.eval.compare) with the training split's prior; returns {run: {task: score}}."""
    from spacemind_ros.eval.baselines import Prior
    from spacemind_ros.eval.compare import comparison_table, load_runs, plot_comparison

    runs = load_runs(list(folders.values()), Prior.from_file(prior)[0], names=list(folders))
    table = comparison_table(runs)
    (out / f"{name}.md").write_text(table + "\n")
    plot_comparison(runs, out / f"{name}.png", COMPARISONS.get(name, name))
    scores = {r.name: r.result.official.summary() for r in runs}
    scores.update({f"baseline:{b}": base.scores for b, base in runs[0].result.baselines.items()})
    (out / f"{name}.json").write_text(json.dumps(scores, indent=1) + "\n")
    print(table)
    return scores


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m spacemind_ros.train.small_recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/small", help="folder for scenes, stages, ladder (default runs/small)")
    parser.add_argument("--ladder", action="store_true",
                        help="also the comparison in docs/small-model.md: the blind twin, the CGMF ladder and the "
                             "perturbation checks, each scored on the held-out scenes against the training split's prior")
    parser.add_argument("--rungs", default=",".join(r for r in LADDER if r != "full"),
                        help="ladder rungs trained besides full (comma-separated; '' for none)")
    parser.add_argument("--install", action="store_true", help="make the result the package's small checkpoint")
    parser.add_argument("--quick", action="store_true", help="CI version: 6 scenes, 2 steps a stage")
    parser.add_argument("--skip-overfit", action="store_true", help="skip the plumbing check (it runs first)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out).resolve()
    started = time.perf_counter()
    result = {"command": " ".join(["python -m spacemind_ros.train.small_recipe", *(argv or sys.argv[1:])])}
    if not (args.quick or args.skip_overfit):
        from spacemind_ros.train.overfit import overfit_check

        check = overfit_check(out / "overfit")
        result["overfit"] = {k: v for k, v in check.items() if k != "wrong"}
        if not check["passed"]:
            raise SystemExit(f"the plumbing check failed ({check['exact']} of {check['questions']} exact): "
                             f"see {out / 'overfit' / 'overfit.json'}; fix that before a long run")
    scene_settings = QUICK_SCENES if args.quick else SCENES
    generate_scenes(out, scene_settings)
    result["scenes"] = scene_settings
    quick = QUICK if args.quick else []
    configs = {name: stage_config(name, out, quick) for name, _, _ in SMALL_STAGES}
    summaries = {}
    for name, config in configs.items():
        summaries[name] = train(config)  # its summary.json when trained before
        log.info("%s: %.0f s of training", name, summaries[name]["seconds"])
    final = out / "4-qa" / "final"
    heldout, prior = out / "scenes" / "heldout.jsonl", out / "scenes" / "train.jsonl"
    from spacemind_ros.model.configuration_spacemind import SpaceMindConfig

    frames = SpaceMindConfig.load(final).query_frames  # what stage 4 trained with (the trainer records it)
    limit = 8 if args.quick else None
    keys = ("seconds", "steps", "samples_seen", "train_samples", "eval_loss", "eval_score", "note")
    result["stages"] = {n: {**{k: s[k] for k in keys if k in s}, "seed": configs[n].train.seed}
                        for n, s in summaries.items()}
    result["geometry"] = geometry_check(out, heldout, 2 if args.quick else 20, train=prior)
    res = evaluate(final, heldout, out / "eval" / "full", frames, limit, prior_from=prior)
    result["heldout"] = _scores(res)
    sample = training_sample(out / "scenes")
    result["training_sample"] = _scores(evaluate(final, sample, out / "eval" / "full-train-sample", frames, limit,
                                                 prior_from=prior))
    from spacemind_ros.eval.routes import run_routes

    result["routes"] = run_routes(out / "scenes" / "routes_heldout.jsonl", out / "eval" / "routes",
                                  model_path=str(final), limit=4 if args.quick else None)
    if args.ladder:
        # The blind twin: stage 4 again, every frame grey; the ladder: stage 4 again per CGMF variant.
        variants = {"blind twin": ["data.blank_frames=true", f"output.dir={out / 'blind'}"]}
        variants.update({rung: [f"model.cgmf_variant={rung}", f"output.dir={out / f'ladder-{rung}'}"]
                         for rung in filter(None, args.rungs.split(","))})
        folders = {}
        for name, overrides in variants.items():
            summary = train(stage_config("small-4-qa", out, quick + overrides))
            result["stages"][f"small-4-qa ({name})"] = {k: summary[k] for k in keys if k in summary}
            folders[name] = Path(overrides[-1].split("=", 1)[1])
            evaluate(folders[name] / "final", heldout, out / "eval" / name.replace(" ", "-"), frames, limit)
        evaluate(folders["blind twin"] / "final", sample, out / "eval" / "blind-twin-train-sample", frames, limit)
        result["fit"] = comparison(out, {"full": out / "eval" / "full-train-sample",
                                         "blind twin": out / "eval" / "blind-twin-train-sample"}, prior, "fit")
        result["ladder"] = comparison(out, {"full": out / "eval" / "full"} | {
            n: out / "eval" / n.replace(" ", "-") for n in folders}, prior, "ladder")
        checks = {"clean": out / "eval" / "full"}
        for spec in CHECKS:
            folder = out / "eval" / f"full-{spec.replace(':', '-')}"
            from spacemind_ros.eval.cli import main as eval_main

            eval_main(["run", "--questions", str(heldout), "--model", str(final), "--frames", str(frames), "--out",
                       str(folder), "--quiet", "--perturb", spec, "--no-report"]
                      + (["--limit", str(limit)] if limit else []))
            checks[spec] = folder
        result["checks"] = comparison(out, checks, prior, "checks")
    result["seconds"] = round(time.perf_counter() - started, 1)
    (out / "recipe.json").write_text(json.dumps(result, indent=1) + "\n")
    if args.install:
        from spacemind_ros.model.presets import SMALL_CHECKPOINT

        log.info("installed %s", install(final, SMALL_CHECKPOINT, result))
    print(json.dumps({k: result[k] for k in ("stages", "seconds")}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
