"""4K rgb8 frames (24.9 MB each) from another process: how many reach the node over the Fast DDS profile.

    python -m bench --parts large_frames
"""
from __future__ import annotations

import time

from bench.harness import client, start_camera, start_node, stop


def run(count: int = 10, rate: float = 2.0, width: int = 3840, height: int = 2160) -> dict:
    node = start_node(autostart=True, keyframe_gap_s=0.0)
    try:
        with client("bench_large_frames") as c:
            c.wait_ready()
            before = int(c.values()["frames_received"])
            camera = start_camera(rate, count, width, height)
            camera.wait(timeout=120 + count / rate)
            time.sleep(2.0)
            values = c.values()
    finally:
        stop(node)
    return {"published": count, "received": int(values["frames_received"]) - before,
            "frame_mb": round(width * height * 3 / 1e6, 1), "rate_hz": rate,
            "dropped_by_reason": {k: v for k, v in values.items() if k.startswith("dropped_")},
            "frames_downscaled": values.get("frames_downscaled")}
