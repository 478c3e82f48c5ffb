"""``spacemind-eval``: replay bags and score the answers as VSI-Bench does.

  run      answer a question file (offline through the pipeline, or live through a node); predictions.jsonl,
           score.json and report.md in --out; resumable
  score    the official score of a predictions file (table; --json for the numbers)
  report   report.md and PNG plots for a predictions file (optionally against a baseline), or for several run
           folders side by side (--runs: clean and perturbed runs, each against the baselines)
  routes   route advice against the scenes' ground truth (routes_heldout.jsonl): actions and landmarks matched
  inventory  the scenes' inventory questions (inventory_heldout.jsonl): do the objects named come from the frames?
           F1 against the truth beside the training split's frequency list
  convert  VSI-Bench-style videos + question records -> one bag per scene + question JSONL

Baselines beside every score: random (1/options), majority (the evaluated set's commonest letter) and, with
--prior-from TRAIN.jsonl, the training split's prior (median number, commonest letter per question type).
Perturbed runs: run --perturb blind | shuffle | single[:last] | camera_noise:DEG | image_noise:SIGMA | blur:PX |
drop:FRACTION (repeatable); each run records its perturbation in run.json and every prediction.

Exit codes: 0 all went well; 1 something was skipped (bad input, reported with file and line); 2 the command
could not run (usage, model or node failure).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

EXIT_OK, EXIT_SKIPPED, EXIT_FAILED = 0, 1, 2
RESUME_KEYS = ("model", "backend", "frames", "window_max_frames", "window_duration_s", "keyframe_gap_s", "min_frames",
               "perturbation", "perturb_seed")


def say(msg: str) -> None:
    print(f"[spacemind-eval] {msg}", file=sys.stderr, flush=True)


def report_problems(problems, out: Path | None = None) -> None:
    for p in problems:
        print(f"skipped: {p}", file=sys.stderr)
    if out is not None and problems:
        with open(out, "a", encoding="utf-8") as f:
            for p in problems:
                f.write(json.dumps(p.to_dict(), ensure_ascii=False) + "\n")


def _settings(args):
    from spacemind_ros.eval.perturbations import parse_all
    from spacemind_ros.eval.settings import EvalSettings, model_frames

    return EvalSettings(model_path=args.model or "", preset=args.preset, device=args.device,
                        frames=args.frames or model_frames(args.model, args.preset),
                        window_max_frames=args.window_frames, window_duration_s=args.window_duration,
                        keyframe_gap_s=args.keyframe_gap, min_frames=args.min_frames, timeout_s=args.timeout,
                        perturbations=[p.spec for p in parse_all(args.perturb)], perturb_seed=args.perturb_seed)


def _check_resume(out: Path, settings, force: bool) -> None:
    path = out / "run.json"
    if path.exists() and not force:
        old = json.loads(path.read_text())
        theirs, ours = old.get("settings", {}), settings.to_dict()
        diff = [k for k in RESUME_KEYS if k in theirs and theirs[k] != ours[k]]
        if diff:
            what = ", ".join(f"{k}: {theirs[k]} there, {ours[k]} now" for k in diff)
            raise RuntimeError(f"{out} holds predictions made with other settings ({what}); "
                               "use another --out, or --force to mix them")


def cmd_run(args) -> int:
    from spacemind_ros.eval.predictions import PredictionWriter, answered_ids
    from spacemind_ros.eval.questions import load_questions
    from spacemind_ros.eval.replay import run_questions

    settings = _settings(args)  # a bad --perturb fails before anything is written
    prior = _prior(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    skipped_path = out / "skipped.jsonl"
    skipped_path.unlink(missing_ok=True)
    questions, problems = load_questions(args.questions, args.bag_dir)
    report_problems(problems, skipped_path)
    if args.mode == "offline":
        _check_resume(out, settings, args.force)
    predictions = out / "predictions.jsonl"
    done = answered_ids(predictions)
    todo = sum(q.id not in done for q in questions)
    say(f"{len(questions)} questions ({len(done & {q.id for q in questions})} already answered, {todo} to ask), "
        f"{len(problems)} skipped; mode {args.mode}, {settings.model_label}, {settings.frames} frames, "
        f"{settings.perturbation_label}")
    if "preset:tiny" == settings.model_label and not args.node:
        say("the tiny preset has random weights and is untrained: its answers are random text")
    backend = None
    if todo:
        if args.mode == "offline":
            from spacemind_ros.eval.offline import OfflineBackend

            backend = OfflineBackend(settings)
        else:
            from spacemind_ros.eval.live import LiveBackend

            backend = LiveBackend(settings, node_name=args.node_name, existing=args.node, rate=args.rate,
                                  service=args.service, image_topic=args.image_topic, network=args.network,
                                  domain_id=args.domain_id, log_dir=out, wait_s=args.wait)
            try:
                _check_resume(out, settings, args.force)  # the node's own window values are known now
            except RuntimeError:
                backend.close()
                raise
    meta = {"settings": settings.to_dict(), "mode": args.mode, "questions": str(args.questions),
            "rate_hz": args.rate if args.mode == "live" else None}
    if backend is not None and getattr(backend, "node_params", None):
        meta["node_parameters"] = backend.node_params
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n")
    stats = None
    if backend is not None:
        from tqdm import tqdm

        try:
            with PredictionWriter(predictions) as writer, tqdm(total=len(questions), desc="questions", unit="q",
                                                                 disable=args.quiet, file=sys.stderr) as bar:
                if writer.repaired:
                    say(f"cut a half-written last line from {predictions} (interrupted run)")
                stats = run_questions(questions, backend, settings, writer, done, progress=bar, limit=args.limit)
        finally:
            backend.close()
        report_problems(stats.problems, skipped_path)
        problems = problems + stats.problems
        say(f"asked {stats.asked} ({stats.answered} answered, {stats.failed} failed), {stats.resumed} from an "
            f"earlier run, {len(stats.problems)} skipped for bad bags, {stats.bad_frames} undecodable frames"
            + (f", {stats.dropped_frames} frames dropped by the drop perturbation" if stats.dropped_frames else ""))
    if not args.no_report and predictions.exists():
        from spacemind_ros.eval.report import write_report
        from spacemind_ros.eval.results import score_records

        result = score_records(predictions, prior, args.prior_from_evaluated)
        baseline = score_records(args.baseline) if args.baseline else None
        run_meta = {**meta["settings"], "rate_hz": meta["rate_hz"]} if args.mode == "live" else meta["settings"]
        path = write_report(result, out, predictions, baseline, Path(args.baseline) if args.baseline else None,
                            run_meta)
        print(result.table())
        say(f"report: {path}")
    if problems:
        say(f"{len(problems)} question(s) skipped: see the messages above and {skipped_path}")
    return EXIT_SKIPPED if problems else EXIT_OK


def _prior(args):
    """The --prior-from training split as a Prior (its unreadable records reported), or None."""
    if not getattr(args, "prior_from", None):
        return None
    from spacemind_ros.eval.baselines import Prior

    prior, problems = Prior.from_file(args.prior_from)
    if problems:
        say(f"--prior-from: {len(problems)} record(s) of {args.prior_from} left out (first: {problems[0]})")
    return prior


def cmd_score(args) -> int:
    from spacemind_ros.eval.results import score_records

    result = score_records(args.predictions, _prior(args), args.prior_from_evaluated)
    report_problems(result.problems)
    print(result.table())
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return EXIT_SKIPPED if result.problems else EXIT_OK


def cmd_report(args) -> int:
    from spacemind_ros.eval.report import write_report
    from spacemind_ros.eval.results import score_records

    if args.runs:
        return _report_runs(args)
    if not args.predictions:
        raise ValueError("report needs --predictions FILE or --runs DIR [DIR ...]")
    result = score_records(args.predictions, _prior(args), args.prior_from_evaluated)
    report_problems(result.problems)
    baseline = score_records(args.baseline) if args.baseline else None
    if baseline is not None:
        report_problems(baseline.problems)
    path = write_report(result, Path(args.out), Path(args.predictions), baseline,
                        Path(args.baseline) if args.baseline else None)
    print(result.table())
    say(f"report: {path}")
    return EXIT_SKIPPED if result.problems or (baseline and baseline.problems) else EXIT_OK


def _report_runs(args) -> int:
    from spacemind_ros.eval.compare import load_runs, write_comparison

    runs = load_runs([Path(r) for r in args.runs], _prior(args), args.prior_from_evaluated)
    problems = [p for r in runs for p in r.result.problems]
    report_problems(problems)
    path, table = write_comparison(runs, Path(args.out))
    print(table)
    say(f"report: {path}")
    return EXIT_SKIPPED if problems else EXIT_OK


def cmd_routes(args) -> int:
    from spacemind_ros.eval.routes import run_routes

    summary = run_routes(Path(args.routes), Path(args.out), model_path=args.model or "", preset=args.preset,
                         device=args.device, limit=args.limit)
    print(json.dumps(summary, indent=1))
    say(f"per route: {Path(args.out) / 'routes.jsonl'}")
    return EXIT_OK


def cmd_inventory(args) -> int:
    from spacemind_ros.eval.inventory import run_inventory

    summary = run_inventory(Path(args.questions), Path(args.out), Path(args.prior_from), model_path=args.model or "",
                            preset=args.preset, device=args.device, limit=args.limit)
    print(json.dumps(summary, indent=1))
    say(f"per question: {Path(args.out) / 'inventory.jsonl'}")
    return EXIT_OK


def cmd_convert(args) -> int:
    from spacemind_ros.eval.convert import convert

    stats = convert(Path(args.questions), Path(args.videos), Path(args.out), rate=args.rate, storage=args.storage,
                    max_side=args.max_side, topic=args.topic,
                    progress=None if args.quiet else lambda s: say(f"{s.scenes} scenes, {s.frames} frames written"))
    report_problems(stats.problems)
    say(f"{stats.scenes} scenes ({stats.bags_written} bags written, {stats.bags_reused} already there), "
        f"{stats.frames} frames, {stats.questions} questions -> {Path(args.out) / 'questions.jsonl'}; "
        f"{len(stats.problems)} skipped")
    return EXIT_SKIPPED if stats.problems else EXIT_OK


def _offline_model_arguments(parser, device: str, out: str) -> None:
    """--preset | --model, --device and --out of the offline tools beside ``run``."""
    which_model = parser.add_mutually_exclusive_group()
    which_model.add_argument("--preset", default="small", choices=["small", "tiny"])
    which_model.add_argument("--model", help="SpaceMind folder")
    parser.add_argument("--device", default=device)
    parser.add_argument("--out", default=out)


def build_parser() -> argparse.ArgumentParser:
    from spacemind_ros.eval.settings import FRAME_CHOICES, EvalSettings

    d = EvalSettings()
    parser = argparse.ArgumentParser(prog="spacemind-eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="answer a question file and score it")
    run.add_argument("--questions", required=True, help="question JSONL")
    run.add_argument("--bag-dir", help="folder the records' relative bag paths start from (default: the JSONL's)")
    model = run.add_mutually_exclusive_group()
    model.add_argument("--preset", default="small", choices=["small", "tiny"],
                       help="small (trained on synthetic rooms only) or tiny (random weights, untrained)")
    model.add_argument("--model", help="SpaceMind folder (spacemind_config.json, cgmf.safetensors, lora/)")
    run.add_argument("--device", default=d.device)
    run.add_argument("--mode", choices=["offline", "live"], default="offline")
    run.add_argument("--frames", type=int, choices=FRAME_CHOICES,
                     help="frames per question (default: what the model was trained with: small 16, SpaceMind 32)")
    run.add_argument("--out", default="eval_output", help="folder for predictions.jsonl, score.json, report.md")
    run.add_argument("--window-frames", type=int, default=d.window_max_frames,
                     help="frames the window holds at most (memory bound; the node's window_max_frames)")
    run.add_argument("--window-duration", type=float, default=d.window_duration_s, help="window span (s)")
    run.add_argument("--keyframe-gap", type=float, default=d.keyframe_gap_s, help="minimum gap between frames (s)")
    run.add_argument("--min-frames", type=int, default=d.min_frames)
    run.add_argument("--timeout", type=float, default=d.timeout_s, help="per question (s)")
    run.add_argument("--limit", type=int, help="stop after this many new answers (resume later)")
    run.add_argument("--force", action="store_true", help="resume into --out even if its settings differ")
    run.add_argument("--baseline", help="baseline predictions JSONL for the report's plot")
    run.add_argument("--perturb", action="append", default=[], metavar="NAME[:LEVEL]",
                     help="perturb the input (repeatable): blind, shuffle, single, single:last, camera_noise:DEG, "
                          "image_noise:SIGMA, blur:PX, drop:FRACTION")
    run.add_argument("--perturb-seed", type=int, default=0, help="seed of the perturbations' random choices")
    _prior_arguments(run)
    run.add_argument("--no-report", action="store_true")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    live = run.add_argument_group("live mode")
    live.add_argument("--node", action="store_true", help="use a running spacemind_node instead of starting one")
    live.add_argument("--node-name", default="spacemind_node")
    live.add_argument("--service", default="spatial_query", help="query service (relative: in our namespace)")
    live.add_argument("--image-topic", help="topic to publish frames on (default: the node's image_topic)")
    live.add_argument("--rate", type=float, default=30.0, help="frames per second published (0: as fast as possible)")
    live.add_argument("--network", action="store_true", help="normal DDS discovery (default: loopback, own domain)")
    live.add_argument("--domain-id", type=int)
    live.add_argument("--wait", type=float, default=120.0, help="seconds to wait for the node to be ready")
    run.set_defaults(func=cmd_run)

    score = sub.add_parser("score", help="official VSI-Bench score of a predictions file")
    score.add_argument("--predictions", required=True)
    score.add_argument("--json", help="write the scores here")
    _prior_arguments(score)
    score.set_defaults(func=cmd_score)

    report = sub.add_parser("report", help="markdown report and PNG plots (one run, or several side by side)")
    which = report.add_mutually_exclusive_group(required=True)
    which.add_argument("--predictions", help="one predictions JSONL")
    which.add_argument("--runs", nargs="+", metavar="DIR",
                       help="run folders (run.json + predictions.jsonl) side by side; the first is the reference")
    report.add_argument("--baseline", help="baseline predictions JSONL (with --predictions)")
    report.add_argument("--out", required=True)
    _prior_arguments(report)
    report.set_defaults(func=cmd_report)

    routes = sub.add_parser("routes", help="route advice against ground-truth routes (scenes' routes_*.jsonl)")
    routes.add_argument("--routes", required=True, help="route records JSONL (bag paths relative to its folder)")
    _offline_model_arguments(routes, d.device, "eval_routes")
    routes.add_argument("--limit", type=int, help="only the first N routes")
    routes.set_defaults(func=cmd_routes)

    inventory = sub.add_parser("inventory", help="the scenes' inventory questions (inventory_*.jsonl): the objects "
                                                 "named against the truth and the training split's frequency list")
    inventory.add_argument("--questions", required=True, help="inventory records JSONL (bag paths relative to its "
                                                             "folder)")
    inventory.add_argument("--prior-from", required=True, help="the training split's inventory records (the "
                                                               "frequency list's source)")
    _offline_model_arguments(inventory, d.device, "eval_inventory")
    inventory.add_argument("--limit", type=int, help="only the first N questions")
    inventory.set_defaults(func=cmd_inventory)

    conv = sub.add_parser("convert", help="VSI-Bench videos + questions -> bags + question JSONL")
    conv.add_argument("--questions", required=True, help="JSON, JSONL or parquet records")
    conv.add_argument("--videos", required=True, help="folder with <dataset>/<scene_name>.mp4 (or <scene>.mp4)")
    conv.add_argument("--out", required=True)
    conv.add_argument("--rate", type=float, default=2.0, help="frames per second in the bags")
    conv.add_argument("--storage", choices=["sqlite3", "mcap"], default="sqlite3")
    conv.add_argument("--max-side", type=int, default=640, help="scale frames down to this longer side (0: keep)")
    conv.add_argument("--topic", default="/camera/image_raw")
    conv.add_argument("--quiet", action="store_true")
    conv.set_defaults(func=cmd_convert)
    return parser


def _prior_arguments(parser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--prior-from", metavar="FILE",
                       help="training-split JSONL (question_type, ground_truth): the 'prior' baseline answers its "
                            "median number and commonest letter per question type")
    group.add_argument("--prior-from-evaluated", action="store_true",
                       help="take the prior from the evaluated set itself (reads its labels; labelled as such)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="[spacemind-eval] %(levelname)s %(message)s")
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError, OSError) as exc:
        print(f"spacemind-eval: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
