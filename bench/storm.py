"""Storm: several client processes call /spatial_query as fast as they can for a while.

    python -m bench --parts storm                (8 processes for 60 s)
Each client keeps ``inflight`` calls outstanding and counts answers by code and calls lost (no answer within
``call_timeout``); the node has frames, so answers are real answers or BUSY.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

from bench.harness import ROOT, client, ros_env, start_camera, start_node, stop


def run(clients: int = 8, seconds: float = 60.0, inflight: int = 4, call_timeout: float = 120.0,
        default_qos: bool = False) -> dict:
    """``default_qos``: the clients use the ROS default service QoS (depth 10), as before issue 18."""
    node = start_node(autostart=True, keyframe_gap_s=0.0)
    camera = None
    try:
        with client("bench_storm") as c:
            c.wait_ready()
            camera = start_camera(10.0, int((seconds + 60) * 10))
            while c.ask("How many boxes?", timeout=30).error_code == "NOT_ENOUGH_FRAMES":
                time.sleep(0.2)
        cmd = [sys.executable, "-m", "bench.storm_client", "--seconds", str(seconds), "--inflight", str(inflight),
               "--timeout", str(call_timeout)] + (["--default-qos"] if default_qos else [])
        procs = [subprocess.Popen(cmd + ["--name", f"storm_{i}"], env=ros_env(), cwd=ROOT, stdout=subprocess.PIPE,
                                 text=True)
                 for i in range(clients)]
        outs = [p.communicate(timeout=seconds + call_timeout + 120)[0] for p in procs]
        crashed = node.poll() is not None
    finally:
        if camera is not None:
            stop(camera)
        stop(node)
    total, codes, lost_at, max_answer_s = Counter(), Counter(), [], 0.0
    for out in outs:
        line = [x for x in out.splitlines() if x.startswith("{")]
        r = json.loads(line[-1]) if line else {"sent": 0, "answered": 0, "lost": 0, "codes": {}, "failed": 1}
        codes.update(r.pop("codes"))
        lost_at += r.pop("lost_at_s", [])
        max_answer_s = max(max_answer_s, r.pop("max_answer_s", 0.0))
        total.update(r)
    return {"clients": clients, "seconds": seconds, "inflight_per_client": inflight, "sent": total["sent"],
            "answered": total["answered"], "answers_by_code": dict(codes), "busy": codes.get("BUSY", 0),
            "ok": codes.get("OK", 0), "lost": total["lost"], "slowest_answer_s": round(max_answer_s, 2),
            "lost_sent_at_s": sorted(lost_at), "clients_failed": total["failed"], "crashed": crashed,
            "client_qos": "ROS default (depth 10)" if default_qos else "spacemind SERVICE_QOS"}
