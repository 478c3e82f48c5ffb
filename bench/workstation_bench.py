"""Workstation benchmark (not a test): ``spacemind-8b`` dimensions with random weights on one GPU.

    .venv/bin/python bench/workstation_bench.py                       # 8B dims, cuda, dtype auto (bf16)
    .venv/bin/python bench/workstation_bench.py --preset tiny --device cpu   # the same code path, here
    .venv/bin/python bench/workstation_bench.py --device cpu --dtype bfloat16 --frames 4 --query-frames 2 --layers 2
        # real widths on a 24 GB CPU machine: 2 LLM layers and 2 VGGT block pairs, everything else real

Cold 32-frame query (the window just changed) and a follow-up on the same frames, time per stage, and peak GPU
memory (``torch.cuda.max_memory_allocated``), printed beside the floor estimate in docs/workstation.md. Random
weights give random answers; only time and memory mean anything. Frames are 640x480; InternViT tokens and VGGT inputs
are cached per keyframe by the feature worker before each query, as in the node.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spacemind_ros.model.modeling_spacemind import memory_report  # noqa: E402
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig  # noqa: E402
from spacemind_ros.runtime import DTYPE_CHOICES, RuntimeSettings  # noqa: E402

FLOOR_S = {"cold": 1.2, "follow_up": 0.08}  # docs/workstation.md, "Floor estimate": H100 estimate at 32 frames, pad 518


def build(preset: str, runtime: RuntimeSettings, layers: int | None = None, lora_targets: list[str] | None = None):
    """(model, processor) with random weights, each part made once, on the device, in its serving dtype (InternVL
    and CGMF in ``runtime.dtype``, VGGT in float32): no second copy. ``layers``: spacemind_8b_config's cut;
    ``lora_targets``: the 8B's LoRA target modules (default: its preset's)."""
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel
    from spacemind_ros.model.presets import build_tiny, spacemind_8b_config
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor
    from tests.hf_layout import write_qwen2_tokenizer

    if preset == "tiny":
        model, processor = build_tiny()
        return model.place(runtime), processor
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:  # Qwen2 layout with the real special ids (151674 rows)
        write_qwen2_tokenizer(Path(tmp))
        tokenizer = AutoTokenizer.from_pretrained(tmp)
    from spacemind_ros.model.vggt import VGGT

    config = spacemind_8b_config(layers)
    if lora_targets is not None:
        import dataclasses

        config.lora = dataclasses.replace(config.lora, target_modules=list(lora_targets))
    with torch.device(runtime.device):
        vggt = VGGT(config.vggt)  # float32, the dtype it serves in (built in bf16 it would be copied to float32)
        default = torch.get_default_dtype()
        torch.set_default_dtype(runtime.dtype)
        try:
            model = SpaceMindModel(config, vggt=vggt, tokenizer=tokenizer)
        finally:
            torch.set_default_dtype(default)
    model.place(runtime).eval()
    return model, SpaceMindProcessor(tokenizer, config, model.tokens_per_frame)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="spacemind-8b", choices=["spacemind-8b", "tiny"])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="auto", choices=DTYPE_CHOICES)
    ap.add_argument("--frames", type=int, default=40, help="keyframes in the window (32 are sampled)")
    ap.add_argument("--query-frames", type=int, default=32, help="frames sampled per query (the paper: 32)")
    ap.add_argument("--layers", type=int, help="spacemind-8b with only this many LLM layers and VGGT block pairs "
                    "(every width real): the pipeline at real widths where 8B does not fit")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the results here too")
    return ap


def main() -> None:
    ap = build_parser()
    args = ap.parse_args()
    runtime = RuntimeSettings.resolve(args.device, args.dtype)
    t = time.perf_counter()
    if args.layers is not None and args.preset != "spacemind-8b":
        ap.error("--layers cuts spacemind-8b only")
    model, processor = build(args.preset, runtime, args.layers)
    load_s = time.perf_counter() - t
    cuda = runtime.device.type == "cuda"
    window = WindowConfig(min_gap_s=0.0, max_frames=256, duration_s=1e6, sample_frames=args.query_frames + 2,
                          min_frames=min(4, args.frames, args.query_frames))
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(feature_cache=True, default_timeout_s=600))
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    stamp = 0
    for i in range(args.frames):
        stamp += 1_000_000_000
        reasoner.add_frame(stamp, images[i % 8])
    reasoner.wait_features(timeout=600)
    reasoner.ask("warm-up: how many chairs?")  # kernels, allocator
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(runtime.device)
    cold, follow, stages = [], [], []
    for r in range(args.repeats):
        stamp += 1_000_000_000
        reasoner.add_frame(stamp, images[r % 8])  # the window changed: the next query is cold
        reasoner.wait_features(timeout=600)
        a = reasoner.ask("How far is the sofa from the door?", timeout=600)
        b = reasoner.ask("How many chairs are there?", timeout=600)
        assert a.success and b.success and b.cached_prefix, (a.error_message, b.error_message)
        cold.append(a.latency_s)
        follow.append(b.latency_s)
        stages.append(a.stage_times_s)
    reasoner.close()
    result = {
        "preset": args.preset, "layers": args.layers, "device": str(runtime.device), "dtype": runtime.dtype_name,
        "gpu": torch.cuda.get_device_name(runtime.device) if cuda else None,
        "frames_per_query": len(a.frame_stamps), "build_s": round(load_s, 1),
        "cold_s": round(statistics.median(cold), 4), "follow_up_s": round(statistics.median(follow), 4),
        "cold_stages_ms": {k: round(statistics.median(s[k] for s in stages) * 1e3, 2) for k in stages[0]},
        "peak_cuda_gb": round(torch.cuda.max_memory_allocated(runtime.device) / 1e9, 2) if cuda else None,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),  # Linux: KiB
        "parameters_b": round(sum(p.numel() for p in model.parameters()) / 1e9, 3),
        "memory": memory_report(runtime.device),
        "floor_estimate_s": FLOOR_S if args.preset == "spacemind-8b" else None,
    }
    print(json.dumps(result, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
