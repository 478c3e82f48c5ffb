"""ONNX Runtime vs torch eager, per encoder part, at 8 and 32 frames, side by side in one run (ratios).

    .venv/bin/python bench/engine_bench.py [--preset tiny] [--frames 8 32] [--repeats 5] [--engine-dir DIR]

CPU here; on a CUDA machine (--device cuda) ONNX Runtime uses its CUDA provider (onnxruntime-gpu) and TensorRT is
timed too where it imports. Exports come from (or go to) the engine cache; the first run pays for them.
"""
from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeats: int, sync) -> float:
    fn()  # warm-up (session/engine first-run work)
    sync()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=["tiny", "spacemind-8b"],
                   help="spacemind-8b: random weights at full size (needs the memory; a GPU is advised)")
    p.add_argument("--frames", type=int, nargs="+", default=[8, 32])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--vggt-size", type=int, nargs=2, default=None, metavar=("H", "W"))
    p.add_argument("--engine-dir", default="/tmp/spacemind-engine-bench")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads of both (default: torch's)")
    return p


def main() -> int:
    from spacemind_ros.engine import open_backend
    from spacemind_ros.engine.tensorrt import tensorrt_available
    from spacemind_ros.model.presets import build_tiny, spacemind_8b_config

    p = build_parser()
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if args.preset == "tiny":
        model, _ = build_tiny()
    else:
        from spacemind_ros.model.modeling_spacemind import SpaceMindModel

        config = spacemind_8b_config()
        model = SpaceMindModel(config, lora=False)
    model = model.to(args.device).eval()
    hw = tuple(args.vggt_size or (model.config.vggt_image_size, model.config.vggt_image_size))
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    backends = {"torch": open_backend("torch", model)[0]}
    t = time.perf_counter()
    backends["onnxruntime"] = open_backend("onnxruntime", model, engine_dir=args.engine_dir, vggt_hw=hw,
                                          threads=args.threads)[0]
    print(f"onnxruntime ready in {time.perf_counter() - t:.1f} s ({backends['onnxruntime'].description})",
          flush=True)
    if dev.type == "cuda" and tensorrt_available()[0]:
        backends["tensorrt"] = open_backend("tensorrt", model, engine_dir=args.engine_dir, vggt_hw=hw)[0]
    V = model.config.vision_image_size
    rows = []
    for n in args.frames:
        pixels = torch.randn(n, 3, V, V, device=dev)
        images = torch.rand(1, n, 3, *hw, device=dev)
        spatial = backends["torch"].spatial_tokens(images)
        visual = backends["torch"].visual_tokens(pixels)
        for part, call in (("vision", lambda b: b.visual_tokens(pixels)),
                           ("vggt", lambda b: b.spatial_tokens(images)),
                           ("cgmf", lambda b: b.fuse(visual, spatial))):
            row = {"part": part, "frames": n}
            for name, backend in backends.items():
                with torch.inference_mode():
                    row[f"{name}_ms"] = round(1e3 * timed(lambda: call(backend), args.repeats, sync), 2)
            for name in backends:
                if name != "torch":
                    row[f"torch/{name}"] = round(row["torch_ms"] / row[f"{name}_ms"], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"torch threads {torch.get_num_threads()}, device {args.device}, preset {args.preset}, VGGT {hw}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
