"""Pipeline benchmark (in-process, tiny preset): intake cost, query latency per stage cold vs follow-up (p50/p95),
the VGGT input cache, and scaling of latency and memory with frames per query and with image size.

    python -m bench --parts pipeline   (or python -m bench.pipeline_bench)
"""
from __future__ import annotations

import gc
import os
import statistics
import threading
import time

import numpy as np
import torch

from spacemind_ros.model.presets import build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.process_tuning import tune_for_streaming

S = 1_000_000_000
QUESTIONS = ("How far is the sofa from the door?", "How many chairs are there?")


def pct(values, q: float) -> float:
    """The q-quantile (nearest rank) of ``values``."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, round(q * (len(v) - 1))))]


def ms(values) -> dict:
    return {"p50_ms": round(pct(values, 0.5) * 1e3, 3), "p95_ms": round(pct(values, 0.95) * 1e3, 3)}


class PeakRss:
    """Peak RSS (MB) of this process above a baseline while the ``with`` block runs (sampled every 2 ms)."""

    def __enter__(self):
        gc.collect()
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def _sample(self):
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())
        self.extra_mb = self.peak - self.base


def fill(reasoner, images, stamp: int, n: int, copy: bool = True, rate_hz: float = 0.0):
    """``n`` frames, 0.1 s apart; returns (next stamp, per-frame add_frame seconds)."""
    costs = []
    for i in range(n):
        stamp += S // 10
        image = images[i % len(images)] if copy else images[i % len(images)].copy()  # fresh, like a message
        t = time.perf_counter()
        reasoner.add_frame(stamp, image, copy=copy)
        costs.append(time.perf_counter() - t)
        if rate_hz:
            time.sleep(1 / rate_hz)  # camera rate: the feature worker runs between frames, as in the node
    return stamp, costs


def cold_and_follow_up(reasoner, images, stamp: int, repeats: int):
    """Cold queries (a new frame changed the window) and follow-ups on the same frames: latency and stages."""
    cold, follow, stages = [], [], []
    for r in range(repeats):
        stamp, _ = fill(reasoner, images, stamp, 1)
        reasoner.wait_features()
        a = reasoner.ask(QUESTIONS[0])
        b = reasoner.ask(QUESTIONS[1])
        assert a.success and b.success and b.cached_prefix, (a.error_message, b.error_message)
        cold.append(a.latency_s)
        follow.append(b.latency_s)
        stages.append(a.stage_times_s)
    per_stage = {k: ms([s[k] for s in stages]) for k in stages[0]}
    return {"cold": ms(cold), "follow_up": ms(follow), "cold_over_follow_up": round(
        statistics.median(cold) / statistics.median(follow), 2), "cold_stages": per_stage}, stamp


def scaling_frames(model, processor, images, counts, repeats: int) -> list[dict]:
    rows = []
    for n in counts:
        window = WindowConfig(min_gap_s=0.0, max_frames=max(128, n + 8), sample_frames=n + 2, drop_ends=1)
        r = SpatialReasoner(model, processor, window, ReasonerConfig())
        stamp, _ = fill(r, images, 0, n + 2)
        r.wait_features(120)
        lat, peaks = [], []
        for _ in range(repeats):
            stamp, _ = fill(r, images, stamp, 1)
            r.wait_features(120)
            with PeakRss() as peak:
                a = r.ask(QUESTIONS[0])
            assert a.success and len(a.frame_stamps) == n, a.error_message
            lat.append(a.latency_s)
            peaks.append(peak.extra_mb)
        rows.append({"frames": n, **{f"cold_{k}": v for k, v in ms(lat).items()},
                     "peak_extra_rss_mb": round(max(peaks), 1)})
        r.close()
    return rows


def scaling_image_size(model, processor, sizes, repeats: int) -> list[dict]:
    rows = []
    rng = np.random.default_rng(1)
    for h, w in sizes:
        images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(2)]
        r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0, max_frames=64), ReasonerConfig())
        stamp, costs = fill(r, images, 0, 40, copy=False)
        r.wait_features(300)
        lat = []
        for _ in range(repeats):
            stamp, c = fill(r, images, stamp, 1, copy=False)
            costs += c
            r.wait_features(300)
            a = r.ask(QUESTIONS[0])
            assert a.success, a.error_message
            lat.append(a.latency_s)
        kept = r.window.frames()[-1].image.shape
        rows.append({"image": f"{w}x{h}", "kept_as": f"{kept[1]}x{kept[0]}",
                     **{f"intake_{k}": v for k, v in ms(costs).items()},
                     **{f"cold_{k}": v for k, v in ms(lat).items()},
                     "window_mb_per_frame": round(r.window.nbytes / len(r.window) / 2**20, 2)})
        r.close()
    return rows


def run(frames: int = 64, repeats: int = 10, quick: bool = False) -> dict:
    if quick:
        frames, repeats = 24, 3
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    tune_for_streaming()  # as spacemind_node does
    model, processor = build_tiny()
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    window = WindowConfig(min_gap_s=0.0, max_frames=128)
    out: dict = {"preset": "tiny", "torch_threads": torch.get_num_threads()}
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig())
    stamp = 0
    intake = {}
    for copy, label in ((True, "python_api_copied"), (False, "node_buffer_kept")):
        stamp, costs = fill(reasoner, images, stamp, frames, copy=copy, rate_hz=30.0)
        reasoner.wait_features()
        intake[label] = ms(costs)
    out["intake_640x480"] = intake
    out["query"], stamp = cold_and_follow_up(reasoner, images, stamp, repeats)
    reasoner.close()
    plain = SpatialReasoner(model, processor, window, ReasonerConfig(vggt_input_cache=False))
    stamp, _ = fill(plain, images, stamp, frames)
    out["query_without_vggt_input_cache"], stamp = cold_and_follow_up(plain, images, stamp, repeats)
    plain.close()
    counts = (8, 16, 32) if quick else (8, 16, 32, 64)
    out["scaling_frames_per_query"] = scaling_frames(model, processor, images, counts, max(2, repeats // 2))
    sizes = ((240, 320), (480, 640), (2160, 3840)) if quick else ((240, 320), (480, 640), (720, 1280),
                                                                  (1080, 1920), (2160, 3840))
    out["scaling_image_size"] = scaling_image_size(model, processor, sizes, max(2, repeats // 2))
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
