"""ROS intake benchmark: 640x480 rgb8 at 30 Hz from another process, idle and with queries back to back.

    python -m bench --parts ros_intake   (or python -m bench.ros_intake_bench)
Frames published vs received by the node (from /diagnostics) and the node's intake callback p95, both phases side
by side. Goal: >= 99% received, intake callback p95 < 1 ms. Every frame a keyframe (the worst case).
"""
from __future__ import annotations

import time

from bench.harness import client, start_camera, start_node, stop


def run(seconds: float = 10.0) -> dict:
    from spacemind_ros.ros.node import INTAKE_WINDOW

    seconds = max(seconds, INTAKE_WINDOW / 30 + 1)  # cover the node's intake window of frames
    node = start_node(autostart=True, keyframe_gap_s=0.0)
    out = {}
    try:
        with client("bench_intake") as c:
            c.wait_ready()
            before = 0
            for phase in ("idle", "queries_back_to_back"):
                published = int(seconds * 30)
                camera = start_camera(30.0, published)
                answered = 0
                while camera.poll() is None:
                    if phase == "idle":
                        c.spin(0.1)
                    else:
                        res = c.ask("How far is the sofa from the door?")
                        answered += bool(res is not None and res.success)
                time.sleep(2.5)
                values = c.values()
                received = int(values["frames_received"]) - before
                before += received
                out[phase] = {"published": published, "received": received,
                              "received_pct": round(100.0 * received / published, 2),
                              "intake_p95_ms": float(values["intake_p95_ms"]), "queries_answered": answered}
    finally:
        stop(node)
    return out


if __name__ == "__main__":
    import json

    from spacemind_ros.ros.environment import apply_loopback_environment

    apply_loopback_environment()
    print(json.dumps(run(), indent=1))
