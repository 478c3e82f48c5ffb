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


def window_memory_mb(frames: int, h: int, w: int, tokens: int, width: int, bytes_per: int, vggt_hw) -> float:
    """Frames (uint8) + cached InternViT tokens + cached VGGT inputs (uint8), in MB."""
    return frames * (h * w * 3 + tokens * width * bytes_per + 3 * vggt_hw[0] * vggt_hw[1]) / 2**20


def cold_and_follow_up(reasoner, images, stamp: int, repeats: int):
    """Median latencies (s) of a cold query (window just changed) and a follow-up on the same frames."""
    cold, follow, stages = [], [], []
    for r in range(repeats):
        stamp += 100_000_000
        reasoner.add_frame(stamp, images[r % len(images)])  # new window: cold
        reasoner.wait_features()
        a = reasoner.ask("How far is the sofa from the door?")
        b = reasoner.ask("How many chairs are there?")
        assert a.success and b.success and b.cached_prefix
        cold.append(a.latency_s)
        follow.append(b.latency_s)
        stages.append(a.stage_times_s)
    stage_ms = {k: statistics.median(s[k] for s in stages) * 1e3 for k in stages[0]}
    return statistics.median(cold), statistics.median(follow), stage_ms, stamp


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    tune_for_streaming()  # as spacemind_node does
    model, processor = build_tiny()
    window = WindowConfig(min_gap_s=0.0, max_frames=128)
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(feature_cache=True))
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
    c, f, stage_ms, stamp = cold_and_follow_up(reasoner, images, stamp, args.repeats)
    reasoner.close()
    # The same with VGGT's per-frame resize done at query time, as before the worker cached it.
    plain = SpatialReasoner(model, processor, window, ReasonerConfig(feature_cache=True, vggt_input_cache=False))
    for i in range(args.frames):
        stamp += 100_000_000
        plain.add_frame(stamp, images[i % 8])
    c2, f2, stage_ms2, stamp = cold_and_follow_up(plain, images, stamp, args.repeats)
    plain.close()
    for label, cold, follow, stages in (("worker caches VGGT inputs", c, f, stage_ms),
                                        ("VGGT inputs resized per query", c2, f2, stage_ms2)):
        print(f"{label}: cold query {cold * 1e3:.1f} ms, follow-up {follow * 1e3:.1f} ms, ratio "
              f"{cold / follow:.1f}x (goal >= 5x); cold stages (median ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    size = model.config.vggt_image_size
    tiny = window_memory_mb(128, 480, 640, model.tokens_per_frame, model.config.cgmf.visual_dim, 4,
                            tuple(processor.vggt_frame(images[0]).shape[1:]))
    big = window_memory_mb(128, 480, 640, 256, 3584, 2, (392, 518))
    print(f"window of 128 640x480 frames + cached InternViT tokens + VGGT inputs: tiny {tiny:.0f} MB (float32 "
          f"tokens, VGGT at {size} px), 8B {big:.0f} MB (bf16 tokens, VGGT at 518 px; by calculation); 8B "
          f"visual-prefix KV cache for 32 frames (8192 tokens x 28 layers x 2 x 4 kv heads x 128 x 2 bytes) = "
          f"{8192 * 28 * 2 * 4 * 128 * 2 / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
