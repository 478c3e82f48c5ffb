"""Training throughput benchmark (not a test): samples/s on the tiny preset with and without the encoder cache,
side by side in one run. Each mode trains the same steps on the same generated scenes (bags, 34 -> 32 frames).

    .venv/bin/python bench/train_bench.py [--scenes 4] [--frames 48] [--epochs 3] [--threads 2]

The cached run's first epoch computes and writes the encoder outputs (cold); later epochs read them (warm).
Absolute numbers depend on the machine; compare the modes within one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from spacemind_ros.train.trainer import Trainer  # noqa: E402
from tests.train_helpers import tiny_config, write_scenes  # noqa: E402


def run(out: Path, jsonl: Path, epochs: int, cache: Path | None) -> tuple[Trainer, dict, float]:
    overrides = ["data.sample_frames=34", "data.drop_ends=1", f"train.epochs={epochs}", "output.tensorboard=false",
                 "data.eval=[]"]
    if cache is not None:
        overrides.append(f"train.encoder_cache='{cache}'")
    trainer = Trainer(tiny_config(out, jsonl, *overrides, eval_same=False))
    t = time.perf_counter()
    summary = trainer.fit()
    return trainer, summary, time.perf_counter() - t


def per_epoch(trainer: Trainer) -> list[float]:
    """samples/s per epoch from the logged rows (each row: one optimizer step)."""
    rows, out = trainer.history, []
    spe = trainer.steps_per_epoch
    for e in range(len(rows) // spe):
        out.append(statistics.mean(r["samples_per_s"] for r in rows[e * spe:(e + 1) * spe]))
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scenes", type=int, default=4, help="scenes (2 questions each)")
    p.add_argument("--frames", type=int, default=48, help="frames per scene bag")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    return p


def main() -> int:
    p = build_parser()
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jsonl = write_scenes(tmp / "scenes", scenes=args.scenes, frames=args.frames)
        live, live_summary, live_s = run(tmp / "live", jsonl, args.epochs, None)
        cached, cached_summary, cached_s = run(tmp / "cached", jsonl, args.epochs, tmp / "cache")
        live_epochs, cached_epochs = per_epoch(live), per_epoch(cached)
        report = {
            "samples": len(live.train_records), "frames_per_sample": live.sampling.target_frames,
            "epochs": args.epochs, "torch_threads": args.threads,
            "live_samples_per_s_per_epoch": [round(x, 2) for x in live_epochs],
            "cached_samples_per_s_per_epoch": [round(x, 2) for x in cached_epochs],
            "warm_cache_speed_up": round(statistics.mean(cached_epochs[1:]) / statistics.mean(live_epochs[1:]), 2)
            if args.epochs > 1 else None,
            "live_total_s": round(live_s, 2), "cached_total_s": round(cached_s, 2),
            "cache": cached_summary["encoder_cache"],
            "same_losses": [r["loss"] for r in live.history] == [r["loss"] for r in cached.history],
        }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
