"""``spacemind`` command line: ``ask``/``route`` run the pipeline locally; ``query``/``route-advice`` call the node."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time


def _source_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", help="folder of images (sorted by name)")
    src.add_argument("--video", help="video file")
    src.add_argument("--bag", help="ROS 2 bag (folder or .mcap); needs --topic")
    src.add_argument("--demo-scene", action="store_true", help="the built-in synthetic panning scene")
    p.add_argument("--topic", default="/camera/image_raw", help="image topic in the bag")
    p.add_argument("--fps", type=float, default=2.0, help="stamp rate for an image folder")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--preset", default="tiny", choices=["tiny"], help="embedded random-weight model (untrained)")
    model.add_argument("--model", help="SpaceMind folder (spacemind_config.json, cgmf.safetensors, lora/)")
    p.add_argument("--backend", default="auto", help="encoder backend: auto, torch, onnxruntime, tensorrt")
    p.add_argument("--engine-dir", default=None, help="engine cache (default: $SPACEMIND_ENGINE_DIR or engine/)")
    p.add_argument("--min-gap", type=float, default=0.0, help="keyframe gap in seconds")
    p.add_argument("--min-frames", type=int, default=4)
    p.add_argument("--timeout", type=float, default=0.0)


def _frames(args):
    from spacemind_ros.pipeline import sources

    if args.images:
        return sources.folder_frames(args.images, fps=args.fps)
    if args.video:
        return sources.video_frames(args.video)
    if args.bag:
        return sources.bag_frames(args.bag, args.topic)
    from spacemind_ros.scenes import panning_room

    return iter(panning_room())


def _progress(msg: str) -> None:
    print(f"[spacemind] {msg}", file=sys.stderr, flush=True)


def _reasoner(args):
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig

    t = time.perf_counter()
    _progress(f"loading model ({args.model or 'preset ' + args.preset})")
    model, processor = load_model(args.model, preset=args.preset)
    _progress(f"model ready in {time.perf_counter() - t:.1f} s")
    from spacemind_ros.engine import default_vggt_hw, open_backend

    encoders, why = open_backend(args.backend, model, engine_dir=args.engine_dir,
                                 vggt_hw=default_vggt_hw(model.config))
    _progress(f"backend: {encoders.description} ({why}); reading frames")
    window = WindowConfig(min_gap_s=args.min_gap, min_frames=args.min_frames, duration_s=1e9, max_frames=4096)
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(feature_cache=False), encoders=encoders)
    n = bad = 0
    for stamp, image in _frames(args):
        n += 1
        try:
            reasoner.add_frame(stamp, image)
        except ValueError as exc:
            bad += 1
            _progress(f"frame {n} dropped: {exc}")
        if n % 50 == 0:
            _progress(f"{n} frames read, {len(reasoner.window)} kept")
    _progress(f"{n} frames read, {len(reasoner.window)} kept, {bad} dropped; answering")
    return reasoner


def _print(answer) -> int:
    print(json.dumps(answer.to_dict(), indent=1, ensure_ascii=True))
    return 0 if answer.success else 1


def cmd_ask(args) -> int:
    reasoner = _reasoner(args)
    try:
        return _print(reasoner.ask(args.question, options=args.options, task=args.task or None,
                                   timeout=args.timeout or None,
                                   progress=lambda stage, frames, _: _progress(f"{stage} ({frames} frames)")))
    finally:
        reasoner.close()


def cmd_route(args) -> int:
    reasoner = _reasoner(args)
    try:
        return _print(reasoner.route(args.goal, start=args.start, timeout=args.timeout or None))
    finally:
        reasoner.close()


def main(argv=None) -> int:
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
    from spacemind_ros.ros.client import add_client_commands

    add_client_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"spacemind: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
