"""``spacemind`` command line: ``ask``/``route`` run the pipeline locally; ``query``/``route-advice`` call the node."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time

from spacemind_ros.pipeline.answer_json import SMALL_WARNING
from spacemind_ros.runtime import DTYPE_CHOICES, RuntimeSettings


def _source_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="folder of images (sorted by name)")
    src.add_argument("--video", help="video file")
    src.add_argument("--bag", help="ROS 2 bag (folder or .mcap); needs --topic")
    src.add_argument("--demo-scene", action="store_true", help="the built-in synthetic panning scene")
    p.add_argument("--topic", default="/camera/image_raw", help="image topic in the bag")
    p.add_argument("--fps", type=float, default=2.0, help="stamp rate for an image folder")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--preset", default="small", choices=["small", "tiny"],
                       help="embedded model: small (trained on synthetic rooms only), tiny (random weights, untrained)")
    model.add_argument("--model", help="SpaceMind folder (spacemind_config.json, cgmf.safetensors, lora/)")
    p.add_argument("--device", default="auto", help="torch device: auto (cuda when present), cpu, cuda, cuda:N")
    p.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES,
                   help="model dtype: auto = bfloat16 on CUDA, float32 on CPU")
    p.add_argument("--backend", default="auto", help="encoder backend: auto, torch, onnxruntime, tensorrt")
    p.add_argument("--engine-dir", default=None, help="engine cache (default: $SPACEMIND_ENGINE_DIR or engine/)")
    p.add_argument("--min-gap", type=float, default=0.0, help="keyframe gap in seconds")
    p.add_argument("--max-frames", type=int, default=128,
                   help="frame budget: at most this many frames, spread uniformly over the whole input")
    p.add_argument("--min-frames", type=int, default=4)
    p.add_argument("--timeout", type=float, default=0.0)


def _progress(msg: str) -> None:
    print(f"[spacemind] {msg}", file=sys.stderr, flush=True)


def _check(args, request) -> object:
    """Every argument, before the model loads (minutes at 8B); returns the checked frame source."""
    from spacemind_ros.pipeline import sources

    request()  # question / goal, options and task: BadRequestError (a ValueError) names the problem
    RuntimeSettings.resolve(args.device, args.dtype)  # an unknown or missing device fails here, not after loading
    from spacemind_ros.engine import normalize

    normalize(args.backend)  # an unknown backend too
    for name, value, ok, rule in [("--fps", args.fps, args.fps > 0, "> 0"),
                                  ("--min-gap", args.min_gap, args.min_gap >= 0, ">= 0"),
                                  ("--max-frames", args.max_frames, args.max_frames >= 1, ">= 1"),
                                  ("--min-frames", args.min_frames, 1 <= args.min_frames <= args.max_frames,
                                   "between 1 and --max-frames"),
                                  ("--timeout", args.timeout, args.timeout >= 0, ">= 0 (0 = default)")]:
        if not ok:
            raise ValueError(f"{name} {value} must be {rule}")
    if args.model:
        from pathlib import Path

        if not (Path(args.model) / "spacemind_config.json").is_file():
            raise FileNotFoundError(f"--model {args.model} is not a SpaceMind folder (no spacemind_config.json)")
    if args.images:
        return sources.open_images(args.images, fps=args.fps)
    if args.video:
        return sources.open_video(args.video)
    if args.bag:
        return sources.open_bag(args.bag, args.topic)
    from spacemind_ros.scenes import walkthrough_frames

    frames = walkthrough_frames()
    return sources.Source("the built-in synthetic scene", lambda on_bad: iter(frames), len(frames))


def _reasoner(args, source):
    from tqdm import tqdm

    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig, sources

    if not args.model and args.preset == "tiny":
        _progress("UNTRAINED MODEL: the tiny preset has random weights; its answers are random text, not "
                  "measurements (give --model DIR for a trained SpaceMind)")
    elif not args.model:
        _progress(f"SMALL MODEL: {SMALL_WARNING}")
    runtime = RuntimeSettings.resolve(args.device, args.dtype)
    t = time.perf_counter()
    _progress(f"loading model ({args.model or 'preset ' + args.preset}) on {runtime.describe()}")
    model, processor = load_model(args.model, preset=args.preset, runtime=runtime)
    _progress(f"model ready in {time.perf_counter() - t:.1f} s")
    from spacemind_ros.engine import default_vggt_hw, open_backend

    encoders, why = open_backend(args.backend, model, engine_dir=args.engine_dir,
                                 vggt_hw=default_vggt_hw(model.config))
    _progress(f"backend: {encoders.description} ({why}); reading {source.description}")
    skipped = []

    def on_bad(where, exc):
        skipped.append(where)
        _progress(f"skipped {where}: {exc}")

    read = 0

    def counted(frames):
        nonlocal read
        for frame in tqdm(frames, total=source.total, desc="reading frames", unit="frame", file=sys.stderr,
                          disable=None):  # a bar on a terminal, silent in a pipe
            read += 1
            yield frame

    frames = sources.uniform_budget(sources.keyframes(counted(source.frames(on_bad)), int(args.min_gap * 1e9)),
                                    args.max_frames)
    window = WindowConfig(min_gap_s=args.min_gap, min_frames=args.min_frames, duration_s=1e9,
                          max_frames=args.max_frames, sample_frames=model.config.query_frames + 2)
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(feature_cache=False), encoders=encoders)
    for stamp, image in frames:
        reasoner.add_frame(stamp, image, copy=False)  # the budget's list is ours; nothing writes to it
    counts = dict(frames_read=read, frames_kept=len(reasoner.window), frames_skipped=len(skipped))
    _progress(f"{read} frames read, {len(skipped)} skipped, {len(reasoner.window)} kept "
              f"(budget {args.max_frames}); answering")
    return reasoner, counts


def _answer(args, counts, run, max_new_tokens: int, route: bool) -> int:
    from tqdm import tqdm

    from spacemind_ros.pipeline.answer_json import answer_json, model_status

    with tqdm(total=max_new_tokens, desc="generating", unit="token", file=sys.stderr, disable=None) as bar:
        def progress(stage, frames, partial):
            if stage == "generating":
                bar.update(1)
            else:
                bar.set_postfix_str(f"{stage}, {frames} frames")

        answer = run(progress)
    via = {"pipeline": args.model or f"preset:{args.preset}", **counts}
    trained, warning = model_status(args.model, args.preset)
    print(json.dumps(answer_json(answer.to_dict(), route=route, trained=trained, via=via, warning=warning),
                     indent=1, ensure_ascii=True))
    return 0 if answer.success else 1


def cmd_ask(args) -> int:
    from spacemind_ros.pipeline.prompting import resolve_task, validate_options, validate_question

    def request():
        resolve_task(args.task or None, validate_question(args.question), validate_options(args.options))

    reasoner, counts = _reasoner(args, _check(args, request))
    try:
        return _answer(args, counts, lambda progress: reasoner.ask(
            args.question, options=args.options, task=args.task or None, timeout=args.timeout or None,
            progress=progress), reasoner.config.max_new_tokens, route=False)
    finally:
        reasoner.close()


def cmd_route(args) -> int:
    from spacemind_ros.pipeline.prompting import route_question

    reasoner, counts = _reasoner(args, _check(args, lambda: route_question(args.goal, args.start)))
    try:
        return _answer(args, counts, lambda progress: reasoner.route(
            args.goal, start=args.start, timeout=args.timeout or None, progress=progress),
            reasoner.config.route_max_new_tokens, route=True)
    finally:
        reasoner.close()


def cmd_geometry(args) -> int:
    from spacemind_ros.geometry.cli import run_geometry

    if args.max_points < 1:
        raise ValueError(f"--max-points {args.max_points} must be >= 1")
    reasoner, _ = _reasoner(args, _check(args, lambda: None))
    try:
        return run_geometry(args, reasoner, _progress)
    finally:
        reasoner.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacemind", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="answer a spatial question over images, a video or a bag (no ROS needed)")
    ask.add_argument("question")
    ask.add_argument("--options", nargs="*", default=[], help='e.g. "A. left" "B. right"')
    ask.add_argument("--task", default="", help="VSI-Bench question type; default: inferred")
    _source_args(ask)
    ask.set_defaults(func=cmd_ask)
    route = sub.add_parser("route", help="route advice over images, a video or a bag (no ROS needed)")
    route.add_argument("goal")
    route.add_argument("--start", default="")
    _source_args(route)
    route.set_defaults(func=cmd_route)
    geometry = sub.add_parser("geometry", help="window geometry offline: cloud (PLY), poses (JSON), top-down PNG")
    geometry.add_argument("--out", required=True, help="output folder")
    geometry.add_argument("--odom-topic", default="",
                          help="nav_msgs/Odometry or geometry_msgs/PoseStamped topic in the bag: metric output")
    geometry.add_argument("--max-points", type=int, default=50000)
    _source_args(geometry)
    geometry.set_defaults(func=cmd_geometry)
    from spacemind_ros.ros.client import add_client_commands

    add_client_commands(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:  # BadRequestError and ImageFormatError included
        print(f"spacemind: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
