"""Soak: a 30 Hz camera and one query per second against spacemind_node for a fixed count.

    python -m bench --parts soak                 (10,000 frames and 300 queries, ~6 min)
Reports crashes (the node died), unanswered queries, answers by code, frames received, the node's RSS slope after
warm-up (MB/min) and the largest window byte count seen against window_max_bytes.
"""
from __future__ import annotations

import statistics
import time
from collections import Counter

from bench.harness import client, rss_mb, start_camera, start_node, stop

QUESTIONS = ["How far is the red box from the blue box?", "How many boxes are there?",
             "What is the size of this room?"]


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute."""
    if len(samples) < 3:
        return float("nan")
    ts, ms = zip(*samples)
    return statistics.linear_regression(ts, ms).slope * 60.0


def run(frames: int = 10_000, queries: int = 300, rate: float = 30.0, width: int = 640, height: int = 480,
        warmup_s: float = 60.0, window_max_bytes: int = 64 << 20, answer_timeout: float = 120.0) -> dict:
    node = start_node(autostart=True, keyframe_gap_s=0.0, window_max_bytes=window_max_bytes)
    try:
        with client("bench_soak") as c:
            c.wait_ready()
            camera = start_camera(rate, frames, width, height)
            futures, rss, window_bytes = [], [], []
            t0 = time.monotonic()
            next_query = t0 + 1.0
            while camera.poll() is None or len(futures) < queries:
                if node.poll() is not None:
                    break
                now = time.monotonic()
                if now >= next_query and len(futures) < queries:
                    next_query += 1.0
                    question = QUESTIONS[len(futures) % len(QUESTIONS)]
                    futures.append(c.query.call_async(c.Request(question=question)))
                    rss.append((now - t0, rss_mb(node.pid)))
                    for d in c.diagnostics[-3:]:
                        values = {kv.key: kv.value for s in d.status for kv in s.values}
                        window_bytes.append(int(values.get("window_bytes", 0)))
                    c.diagnostics.clear()
                c.spin(0.02)
            deadline = time.monotonic() + answer_timeout
            while not all(f.done() for f in futures) and time.monotonic() < deadline and node.poll() is None:
                c.spin(0.05)
            duration = time.monotonic() - t0
            crashed = node.poll() is not None
            values = {} if crashed else c.values()
            published = frames if camera.wait(timeout=30) == 0 else -1
    finally:
        exit_s = stop(node)
    codes = Counter(f.result().error_code or "OK" for f in futures if f.done())
    warm = [(t, m) for t, m in rss if t >= warmup_s] or rss[len(rss) // 2:]
    received = int(values.get("frames_received", 0))
    return {
        "frames_published": published, "frames_received": received,
        "received_pct": round(100.0 * received / max(1, published), 2),
        "frames_dropped": int(values.get("frames_dropped", 0)),
        "queries_sent": len(futures), "answered": sum(f.done() for f in futures),
        "unanswered": sum(not f.done() for f in futures), "answers_by_code": dict(codes),
        "crashed": crashed, "duration_s": round(duration, 1),
        "rss_start_mb": round(rss[0][1], 1) if rss else None, "rss_end_mb": round(rss[-1][1], 1) if rss else None,
        "rss_slope_mb_per_min_after_warmup": round(slope_mb_per_min(warm), 3),
        "warmup_s": warmup_s, "window_bytes_max": max(window_bytes, default=0), "window_max_bytes": window_max_bytes,
        "intake_p95_ms": values.get("intake_p95_ms"), "node_exit_s": round(exit_s, 2),
    }
