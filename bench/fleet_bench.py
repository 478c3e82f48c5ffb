"""Many robots, one model: one fleet process (``robots:=r1,...,rN``) against N single-robot processes.

    python -m bench.fleet_bench [--robots 1,2,4,8] [--preset small] [--seconds 30] [--rate 15] [--out runs/fleet]

For each N and each layout, N cameras stream 640x480 rgb8 at ``--rate`` Hz to ``/rK/image`` and N clients (one per
robot, threads of this process) ask ``/rK/spatial_query`` back to back. ``--keyframe-gap`` is the node's
``keyframe_gap_s`` (default 1 s, the node's own): 0 makes every frame a keyframe, so each query samples new frames
(cold queries, no visual-prefix reuse) and every frame costs an InternViT pass. Measured: peak memory of the node
process(es) (the largest sum of their RSS, sampled every 0.25 s; model loading included), answered queries per
minute (all robots, answers within the measured time), p50/p95 latency per robot, frames each robot's node received (its /diagnostics), and the
batches the fleet's scheduler ran. Prints a markdown table; writes ``OUT/fleet.json`` and ``OUT/fleet.md``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

from bench.harness import Client, ros_env, rss_mb, start_camera, stop
from spacemind_ros.ros.shm_segments import remove_stale_segments

QUESTION = "How many chairs are in the room?"


def start_nodes(layout: str, robots: list[str], params: dict) -> list:
    import subprocess

    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command

    values = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    commands = [node_command(DEFAULT_PARAMS, values, robots=",".join(robots))] if layout == "fleet" else \
        [node_command(DEFAULT_PARAMS, values, namespace=r) for r in robots]
    return [subprocess.Popen(cmd, env=ros_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for cmd in commands]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def run_one(layout: str, n: int, preset: str, seconds: float, rate: float, keyframe_gap_s: float = 1.0) -> dict:
    robots = [f"/r{k + 1}" for k in range(n)]
    params = dict(preset=preset, autostart=True, keyframe_gap_s=keyframe_gap_s, min_frames=4, queue_limit=1,
                  window_max_frames=64)
    t_start = time.monotonic()
    nodes = start_nodes(layout, robots, params)
    peak, sampling = [0.0], threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], sum(rss_mb(p.pid) for p in nodes if p.poll() is None))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    clients = [Client(f"fleet_bench_client{k}", namespace=r) for k, r in enumerate(robots)]
    cameras = []
    try:
        for c in clients:
            c.wait_ready(timeout=600)
        ready_s = time.monotonic() - t_start
        cameras = [start_camera(rate, int(rate * (seconds + 15)), topic=f"{r}/image") for r in robots]
        time.sleep(max(3.0, 5 * keyframe_gap_s))  # discovery and a first window of min_frames keyframes
        latencies = {r: [] for r in robots}
        errors = {r: {} for r in robots}
        deadline = time.monotonic() + seconds

        def ask(robot, client):
            while time.monotonic() < deadline:
                t = time.monotonic()
                res = client.ask(QUESTION, timeout=max(5.0, deadline - t + 60))
                if time.monotonic() > deadline:
                    break  # answered after the measured time: not counted in the rate or the latencies
                if res is not None and res.success:
                    latencies[robot].append(time.monotonic() - t)
                else:
                    code = res.error_code if res is not None else "no answer"
                    errors[robot][code] = errors[robot].get(code, 0) + 1
                    time.sleep(0.1)

        threads = [threading.Thread(target=ask, args=(r, c)) for r, c in zip(robots, clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = seconds
        statuses = {}
        for c in clients:  # every node's last /diagnostics
            c.spin(1.5)
            for d in c.diagnostics:
                statuses.update({s.name: {kv.key: kv.value for kv in s.values} for s in d.status})
    finally:
        for cam in cameras:
            stop(cam)
        for c in clients:
            c.close()
        for p in nodes:
            stop(p, timeout=20)
        sampling.set()
        sampler.join()
        remove_stale_segments(min_age_s=5.0)  # eight killed nodes leave 0.5 GB of /dev/shm otherwise
    per_robot = {}
    for r in robots:
        intake = statuses.get(f"{r.strip('/')}/spacemind_node: intake", {})
        per_robot[r] = {"answered": len(latencies[r]), "p50_s": percentile(latencies[r], 0.5),
                        "p95_s": percentile(latencies[r], 0.95), "errors": errors[r],
                        "frames_received": int(intake.get("frames_received", -1))}
    model = statuses.get(f"{robots[0].strip('/')}/spacemind_node: model", {})
    answered = sum(v["answered"] for v in per_robot.values())
    return {"layout": layout, "robots": n, "processes": len(nodes), "peak_rss_mb": round(peak[0]),
            "ready_s": round(ready_s, 1), "answered_per_min": round(answered * 60 / elapsed, 1),
            "p50_s": round(statistics.median([v["p50_s"] for v in per_robot.values()]), 3),
            "p95_s_worst": round(max(v["p95_s"] for v in per_robot.values()), 3),
            "frames_received_min": min(v["frames_received"] for v in per_robot.values()),
            "batches_run": model.get("batches_run", "") if layout == "fleet" else "",
            "per_robot": per_robot}


def batch_timing(preset: str, robots: int = 4, repeats: int = 3) -> dict:
    """In one process, no ROS: ``robots`` queries that wait together, run one by one (``batch_max`` 1) and as one
    batch (4): seconds per round, best of ``repeats``. Each robot has its own window of a walk-through."""
    import torch

    from spacemind_ros.fleet import InferenceScheduler
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
    from spacemind_ros.scenes import walkthrough_frames

    model, processor = load_model(None, preset=preset)
    frames = walkthrough_frames(num_frames=24 + 6 * robots, height=120, width=160)
    out = {}
    for batch_max in (1, robots):
        scheduler = InferenceScheduler(nice=0, max_batch=batch_max)
        rs = []
        for k in range(robots):
            r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(kv_cache=False),
                                scheduler=scheduler, name=f"r{k}")
            for stamp, img in frames[6 * k: 6 * k + 24]:
                r.add_frame(stamp + 1_000_000_000, img)
            r.wait_features()
            rs.append(r)
        best = float("inf")
        for round_ in range(repeats + 1):  # round 0 warms up
            gate = threading.Event()
            blocker = scheduler.lane("hold", 0)
            blocker.submit(gate.wait, 30)  # the queries queue up behind it, then go together
            threads = [threading.Thread(target=r.ask, args=(QUESTION,)) for r in rs]
            for t in threads:
                t.start()
            while sum(lane.waiting() for lane in scheduler.lanes) < robots:
                time.sleep(0.002)
            t0 = time.perf_counter()
            gate.set()
            for t in threads:
                t.join()
            if round_:
                best = min(best, time.perf_counter() - t0)
            blocker.close()
        out[f"batch_max_{batch_max}_s"] = round(best, 3)
        for r in rs:
            r.close()
        scheduler.close()
    out["speed-up"] = round(out["batch_max_1_s"] / out[f"batch_max_{robots}_s"], 2)
    out["torch_threads"] = torch.get_num_threads()
    return out


def table(rows: list[dict]) -> str:
    lines = ["| robots | layout | processes | peak RSS (MB) | ready (s) | answered / min | p50 (s) | worst p95 (s) | "
             "frames received (min per robot) | fleet batches (size:count) |", "|" + "---|" * 10]
    for r in rows:
        lines.append(f"| {r['robots']} | {r['layout']} | {r['processes']} | {r['peak_rss_mb']} | {r['ready_s']} | "
                     f"{r['answered_per_min']} | {r['p50_s']} | {r['p95_s_worst']} | {r['frames_received_min']} | "
                     f"{r['batches_run']} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--robots", default="1,2,4,8", help="robot counts to run, comma-separated")
    ap.add_argument("--preset", default="small", choices=["tiny", "small"])
    ap.add_argument("--seconds", type=float, default=30.0, help="query time per run")
    ap.add_argument("--rate", type=float, default=15.0, help="camera rate per robot (Hz)")
    ap.add_argument("--keyframe-gap", type=float, default=1.0, help="the node's keyframe_gap_s (0: cold queries)")
    ap.add_argument("--layouts", default="fleet,processes")
    ap.add_argument("--batch-timing", action="store_true",
                    help="only the in-process timing of 4 waiting queries, one by one against one batch")
    ap.add_argument("--out", default="runs/fleet")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from spacemind_ros.ros.environment import apply_loopback_environment

    if args.batch_timing:
        print(json.dumps(batch_timing(args.preset)))
        return 0
    apply_loopback_environment()  # before any rclpy: loopback-only, a domain of this run's own
    rows = []
    for n in (int(v) for v in args.robots.split(",")):
        for layout in args.layouts.split(","):
            rows.append(run_one(layout, n, args.preset, args.seconds, args.rate, args.keyframe_gap))
            print(json.dumps({k: v for k, v in rows[-1].items() if k != "per_robot"}), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fleet.json").write_text(json.dumps({"preset": args.preset, "seconds": args.seconds,
                                                "rate_hz": args.rate, "keyframe_gap_s": args.keyframe_gap,
                                                "rows": rows}, indent=1) + "\n")
    (out / "fleet.md").write_text(table(rows) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
