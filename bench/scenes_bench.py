"""Synthetic scene speed: render a walk (numpy ray caster) and write a whole scene (bag, questions, pictures).

    .venv/bin/python bench/scenes_bench.py [--seed 0] [--frames 300] [--size 640x480] [--storage mcap]

Reports wall-clock and CPU seconds (this process) for: generating the scene, rendering every frame alone, and
write_scene end to end (render + bag + questions + map + contact sheet) in one process and then with --workers
rendering processes, plus the load average, because the machine may be shared.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spacemind_ros.scenes.dataset import SceneSettings, render_walk, write_scene  # noqa: E402
from spacemind_ros.scenes.generator import generate  # noqa: E402


def timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--storage", default="mcap", choices=["mcap", "sqlite3"])
    ap.add_argument("--workers", type=int, default=2, help="rendering processes for the second write_scene run")
    return ap


def main() -> int:
    ap = build_parser()
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))
    settings = SceneSettings(width=w, height=h, frames=args.frames, storage=args.storage)
    load0 = os.getloadavg()[0]
    (scene, walk), gen_wall, gen_cpu = timed(lambda: generate(args.seed, args.frames, settings.fps))
    frame_times = []

    def render_all():
        n = 0
        t = time.perf_counter()
        for _, frame in render_walk(scene, walk, settings.intrinsics):
            n += frame.rgb.shape[0] > 0
            now = time.perf_counter()
            frame_times.append(now - t)
            t = now
        return n

    n, render_wall, render_cpu = timed(render_all)
    out = Path(tempfile.mkdtemp(prefix="scenes_bench_"))
    try:
        summary, scene_wall, scene_cpu = timed(lambda: write_scene(args.seed, out / "scene", settings))
        bag_mb = sum(f.stat().st_size for f in (out / "scene" / "bag").iterdir()) / 1e6
        shutil.rmtree(out / "scene")
        _, par_wall, par_cpu = timed(lambda: write_scene(args.seed, out / "scene", settings, workers=args.workers))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    frame_times.sort()
    result = {
        "seed": args.seed, "frames": n, "size": args.size, "objects": len(scene.objects),
        "room": f"{scene.room.shape} {scene.room.area:.1f} m^2",
        "generate_s": {"wall": round(gen_wall, 3), "cpu": round(gen_cpu, 3)},
        "render_only_s": {"wall": round(render_wall, 2), "cpu": round(render_cpu, 2),
                          "per_frame_median_ms": round(1e3 * frame_times[len(frame_times) // 2], 1),
                          "per_frame_p95_ms": round(1e3 * frame_times[int(0.95 * (len(frame_times) - 1))], 1)},
        "write_scene_s": {"wall": round(scene_wall, 2), "cpu": round(scene_cpu, 2)},
        f"write_scene_{args.workers}_workers_s": {"wall": round(par_wall, 2), "cpu_main_process": round(par_cpu, 2)},
        "bag_mb": round(bag_mb, 1), "questions": summary["questions"],
        "load_average": [round(load0, 1), round(os.getloadavg()[0], 1)], "cores": os.cpu_count(),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
