"""``spacemind-scenes``: generate synthetic scenes with ground-truth questions (a thin face over scenes/)."""
from __future__ import annotations

import argparse
import json
import sys
import time


class ProgressBar:
    """A one-line progress bar on a terminal (a line per finished scene otherwise): scenes, frames, time left."""

    def __init__(self, stream=sys.stderr, width: int = 32):
        self.stream, self.width = stream, width
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.start = time.monotonic()
        self._last = 0.0

    def __call__(self, scene: int, scenes: int, frame: int, frames: int) -> None:
        now = time.monotonic()
        done = frame == frames
        if not self.tty:
            if done:
                print(f"scene {scene}/{scenes} rendered ({frames} frames, {now - self.start:.0f} s)",
                      file=self.stream, flush=True)
            return
        if not done and now - self._last < 0.1:
            return
        self._last = now
        share = ((scene - 1) + frame / frames) / scenes
        left = (now - self.start) * (1 - share) / share if share > 0 else 0.0
        bar = "#" * int(share * self.width)
        print(f"\r[{bar:<{self.width}}] scene {scene}/{scenes} frame {frame:>4}/{frames} "
              f"{now - self.start:5.0f} s, ~{left:.0f} s left ", end="\n" if done and scene == scenes else "",
              file=self.stream, flush=True)


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 640x480") from None
    return w, h


def build_parser() -> argparse.ArgumentParser:
    from spacemind_ros.scenes.walk import WALK_STYLES

    ap = argparse.ArgumentParser(prog="spacemind-scenes", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="render scenes to ROS 2 bags with VSI-Bench questions",
                       description="Scenes SEED .. SEED+COUNT-1 into OUT: per scene a bag, questions.jsonl, "
                                   "scene.json, map.png, contact_sheet.png; for all, questions.jsonl, train.jsonl, "
                                   "heldout.jsonl and dataset.json.")
    g.add_argument("--seed", type=int, required=True, help="first seed (>= 0)")
    g.add_argument("--count", type=int, default=1, help="number of scenes (default 1)")
    g.add_argument("--out", required=True, help="output folder (created; scene folders in it are replaced)")
    g.add_argument("--size", type=_size, default=(640, 480), metavar="WxH", help="image size (default 640x480)")
    g.add_argument("--frames", type=int, default=300, help="frames per walk (default 300)")
    g.add_argument("--fps", type=float, default=10.0, help="frame rate of the bag (default 10)")
    g.add_argument("--hfov", type=float, default=70.0, help="horizontal field of view in degrees (default 70)")
    g.add_argument("--walk", choices=WALK_STYLES, default="tour",
                   help="the camera's walk: tour (a lap glancing left and right, a turn on the spot, a revisit; the "
                        "default) or steady (three quarters of the loop facing into the room, so neighbouring views "
                        "overlap more); the rooms and objects are the same for both")
    g.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap", help="bag storage (default mcap)")
    g.add_argument("--compress", action="store_true", help="zstd-compress the bag")
    g.add_argument("--heldout-fraction", type=float, default=0.2,
                   help="share of seeds held out, chosen by a hash of the seed (default 0.2)")
    g.add_argument("--workers", type=int, default=1,
                   help="rendering processes (default 1; more pays on a many-core machine, not on a busy 2-core "
                        "one); the output is the same")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)

    from spacemind_ros.scenes.dataset import SceneSettings, write_dataset

    try:
        settings = SceneSettings(width=args.size[0], height=args.size[1], frames=args.frames, fps=args.fps,
                                 hfov_deg=args.hfov, storage=args.storage, compress=args.compress,
                                 walk=args.walk)
        if args.seed < 0:
            raise ValueError(f"--seed must be >= 0, not {args.seed}")
        t = time.monotonic()
        manifest = write_dataset(args.seed, args.count, args.out, settings, args.heldout_fraction,
                                 progress=None if args.quiet else ProgressBar(), workers=max(1, args.workers))
    except ValueError as exc:
        print(f"spacemind-scenes: error: {exc}", file=sys.stderr)
        return 2
    summary = {k: manifest[k] for k in ("count", "questions", "question_types", "splits")}
    print(json.dumps(summary | {"out": args.out, "seconds": round(time.monotonic() - t, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
