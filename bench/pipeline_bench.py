"""Pipeline benchmark (not a test): ingest cost, cold vs follow-up query, time per stage, window memory.

    .venv/bin/python bench/pipeline_bench.py [--frames 64] [--repeats 5]
Reported as ratios measured side by side in one run; absolute numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.process_tuning import tune_for_streaming


def window_memory_mb(frames: int, h: int, w: int, tokens: int, width: int, bytes_per: int) -> float:
    return (frames * h * w * 3 + frames * tokens * width * bytes_per) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    tune_for_streaming()  # as spacemind_node does
    model, processor = build_tiny()
    reasoner = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0, max_frames=128),
                               ReasonerConfig(feature_cache=True))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    stamp = 0
    for copy, label in ((True, "copied (Python API default)"), (False, "kept as is (node: the message's buffer)")):
        costs = []
        for i in range(args.frames):
            stamp += 100_000_000
            image = images[i % 8] if copy else images[i % 8].copy()  # a fresh buffer, like a received message
            t = time.perf_counter()
            reasoner.add_frame(stamp, image, copy=copy)
            costs.append(time.perf_counter() - t)
            time.sleep(1 / 30)  # camera rate: the feature worker runs between frames, as in a node
        reasoner.wait_features()
        costs_ms = sorted(c * 1e3 for c in costs)
        print(f"ingest 640x480 rgb8, {label}: median {statistics.median(costs_ms):.3f} ms, "
              f"p95 {costs_ms[int(0.95 * len(costs_ms)) - 1]:.3f} ms per frame (goal: median < 1 ms)")
    cold, follow, stages = [], [], []
    for r in range(args.repeats):
        stamp += 100_000_000
        reasoner.add_frame(stamp, images[r % 8])  # new window: cold
        reasoner.wait_features()
        a = reasoner.ask("How far is the sofa from the door?")
        b = reasoner.ask("How many chairs are there?")
        assert a.success and b.success and b.cached_prefix
        cold.append(a.latency_s)
        follow.append(b.latency_s)
        stages.append(a.stage_times_s)
    c, f = statistics.median(cold), statistics.median(follow)
    print(f"cold query {c * 1e3:.1f} ms, follow-up {f * 1e3:.1f} ms, ratio {c / f:.1f}x (goal >= 5x)")
    print("stage (cold, median ms): " + ", ".join(
        f"{k} {statistics.median(s[k] for s in stages) * 1e3:.1f}" for k in stages[0]))
    tiny = window_memory_mb(128, 480, 640, model.tokens_per_frame, model.config.cgmf.visual_dim, 4)
    big = window_memory_mb(128, 480, 640, 256, 3584, 2)
    print(f"window of 128 frames + cached InternViT tokens: tiny {tiny:.0f} MB (float32), "
          f"8B {big:.0f} MB (bf16 tokens, by calculation); 8B visual-prefix KV cache for 32 frames "
          f"(8192 tokens x 28 layers x 2 x 4 kv heads x 128 x 2 bytes) = {8192 * 28 * 2 * 4 * 128 * 2 / 2**20:.0f} MB")
    reasoner.close()


if __name__ == "__main__":
    main()
