"""``python -m bench``: every benchmark, the soak and the storm in one run; JSON and a markdown table.

    .venv/bin/python -m bench [--quick] [--parts pipeline,ros_intake,large_frames,soak,storm] [--out runs/bench]
Default sizes follow issue 18 (soak: 10,000 frames and 300 queries; storm: 8 processes for 60 s): about 12 min on
a 2-core machine. ``--quick`` shrinks every part (7 min on a loaded 2-core machine) to check the command.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

PARTS = ("pipeline", "ros_intake", "large_frames", "soak", "storm")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or "?")
    mem = next((int(line.split()[1]) // 2**20 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    return f"{cpu}, {os.cpu_count()} CPUs, {mem} GiB RAM, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def run_part(name: str, quick: bool) -> dict:
    if name == "pipeline":
        from bench import pipeline_bench
        return pipeline_bench.run(quick=quick)
    if name == "ros_intake":
        from bench import ros_intake_bench
        return ros_intake_bench.run(seconds=8 if quick else 15)
    if name == "large_frames":
        from bench import large_frames
        return large_frames.run(count=3 if quick else 10)
    if name == "soak":
        from bench import soak
        return soak.run(frames=600, queries=20, warmup_s=5) if quick else soak.run()
    if name == "storm":
        from bench import storm
        return storm.run(seconds=10) if quick else storm.run()
    raise ValueError(name)


def _row(*cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def markdown(results: dict) -> str:
    """The headline numbers as tables (the JSON has everything)."""
    lines = [f"Machine: {results['machine']}  ", f"Run: {results['started']}, {results['seconds']:.0f} s"
             + (" (--quick)" if results["quick"] else ""), ""]
    lines += [_row("measure", "value"), _row("---", "---")]
    p = results.get("pipeline")
    if p:
        for label, v in p["intake_640x480"].items():
            lines.append(_row(f"intake 640x480 rgb8, {label.replace('_', ' ')} (p50 / p95)",
                              f"{v['p50_ms']} / {v['p95_ms']} ms"))
        q = p["query"]
        lines.append(_row("query cold (p50 / p95)", f"{q['cold']['p50_ms']} / {q['cold']['p95_ms']} ms"))
        lines.append(_row("query follow-up (p50 / p95)",
                          f"{q['follow_up']['p50_ms']} / {q['follow_up']['p95_ms']} ms"))
        lines.append(_row("cold stages p50", ", ".join(f"{k} {v['p50_ms']:.1f} ms" for k, v in
                                                       q["cold_stages"].items())))
        nq = p["query_without_vggt_input_cache"]
        lines.append(_row("query cold without the VGGT input cache (p50)", f"{nq['cold']['p50_ms']} ms"))
    r = results.get("ros_intake")
    if r:
        for phase, v in r.items():
            lines.append(_row(f"ROS intake 30 Hz, {phase.replace('_', ' ')}",
                              f"{v['received']}/{v['published']} received ({v['received_pct']}%), callback p95 "
                              f"{v['intake_p95_ms']} ms"))
    lf = results.get("large_frames")
    if lf:
        lines.append(_row(f"4K rgb8 frames over DDS ({lf['frame_mb']} MB each)",
                          f"{lf['received']}/{lf['published']} received"))
    s = results.get("soak")
    if s:
        lines.append(_row(f"soak: {s['frames_published']} frames at 30 Hz, {s['queries_sent']} queries",
                          f"crashed {s['crashed']}, unanswered {s['unanswered']}, answers {s['answers_by_code']}, "
                          f"received {s['received_pct']}%"))
        lines.append(_row("soak: node RSS slope after warm-up", f"{s['rss_slope_mb_per_min_after_warmup']} MB/min "
                          f"({s['rss_start_mb']} -> {s['rss_end_mb']} MB)"))
        lines.append(_row("soak: window bytes (max seen / budget)",
                          f"{s['window_bytes_max']} / {s['window_max_bytes']}"))
    st = results.get("storm")
    if st:
        lines.append(_row(f"storm: {st['clients']} client processes x {st['seconds']:.0f} s",
                          f"sent {st['sent']}, answered {st['answered']} (OK {st['ok']}, BUSY {st['busy']}), "
                          f"lost {st['lost']}, crashed {st['crashed']}"))
    if p:
        lines += ["", _row("frames per query", "cold p50", "cold p95", "peak extra RSS"),
                  _row("---", "---", "---", "---")]
        lines += [_row(x["frames"], f"{x['cold_p50_ms']} ms", f"{x['cold_p95_ms']} ms", f"{x['peak_extra_rss_mb']} MB")
                  for x in p["scaling_frames_per_query"]]
        lines += ["", _row("image", "kept as", "intake p50 / p95", "cold query p50", "window MB per frame"),
                  _row("---", "---", "---", "---", "---")]
        lines += [_row(x["image"], x["kept_as"], f"{x['intake_p50_ms']} / {x['intake_p95_ms']} ms",
                       f"{x['cold_p50_ms']} ms", x["window_mb_per_frame"]) for x in p["scaling_image_size"]]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks the command in a few minutes")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--out", default="runs/bench", help="folder for results.json and results.md")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown parts: {', '.join(sorted(unknown))}")
    from spacemind_ros.ros.environment import apply_loopback_environment

    domain = apply_loopback_environment()  # before any rclpy: loopback-only, a domain of this run's own
    started = time.time()
    results: dict = {"machine": machine(), "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                     "quick": args.quick, "ros_domain_id": domain}
    for part in parts:
        t = time.monotonic()
        print(f"[bench] {part} ...", file=sys.stderr, flush=True)
        results[part] = run_part(part, args.quick)
        print(f"[bench] {part} done in {time.monotonic() - t:.0f} s", file=sys.stderr, flush=True)
    results["seconds"] = time.time() - started
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    table = markdown(results)
    (out / "results.md").write_text(table)
    print(table)
    print(f"[bench] wrote {out / 'results.json'} and {out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
