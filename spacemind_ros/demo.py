"""The README's demo: node, image stream and client in three processes, on loopback DDS.

1. generates a synthetic scene (spacemind_ros.scenes: bag + VSI-Bench questions with ground truth) from a seed
   the small model never trained on, 2. starts spacemind_node (small preset, autostart), 3. replays the scene's bag
   over ROS from a second process, 4. asks one question of each VSI-Bench type (/spatial_query) and /route_advice
   from this process, 5. prints each question's ground truth beside the node's answer, with timings, and stops.
The small preset was trained here on synthetic rooms only (docs/small-model.md): it knows such rooms and
nothing else. ``--preset tiny`` runs the random-weight model instead (its answers are random text).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from spacemind_ros.ros.environment import apply_loopback_environment, loopback_environment

SCENE_SEED = 7  # the small model trained on seeds 1000-1399
SCENE_SETTINGS = dict(width=160, height=120, frames=64, fps=4.0)  # as the small model's training scenes


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def one_per_type(records: list[dict]) -> list[dict]:
    """The first question of each type, in the file's order."""
    picked: dict[str, dict] = {}
    for r in records:
        picked.setdefault(r["question_type"], r)
    return list(picked.values())


def answer_line(record: dict, d: dict, seconds: float) -> str:
    """Ground truth beside the node's answer: the letter for multiple choice, the number (and its relative
    error) for numerical questions."""
    truth = record["ground_truth"]
    if not d["success"]:
        got, verdict = f"{d['error_code']}: {d['answer'] or ''}".strip(), "failed"
    elif record["options"]:
        got = d["choice"] or repr(d["answer"][:40])
        verdict = "right" if d["choice"] == truth else "wrong"
    else:
        value = d["value"]  # None: no number in the answer
        got = repr(d["answer"][:40]) if value is None else f"{value:g}"
        verdict = "no number" if value is None else f"rel. error {abs(value - float(truth)) / float(truth):.2f}"
    return f"  ground truth {truth:>6} | node {got:>10} | {verdict} | {seconds:.2f} s"


def route_table(truth: dict | None, d: dict) -> str:
    """The true steps beside the node's parsed steps, one line each, and whether the actions agree."""
    ours = d["steps"] if d["success"] else [f"{d['error_code']}: {d['answer'] or ''}"]
    theirs = truth["ground_truth"].splitlines() if truth else []
    width = max([len(x) for x in theirs] + [len("ground truth")])
    lines = [f"  {'ground truth':<{width}} | node"]
    for i in range(max(len(ours), len(theirs), 1)):
        a = theirs[i] if i < len(theirs) else ""
        b = ours[i] if i < len(ours) else ("(no steps)" if i == 0 else "")
        lines.append(f"  {a:<{width}} | {b}")
    if truth and d["success"]:
        same = d["actions"] == truth["actions"] and d["landmarks"] == truth["landmarks"]
        lines.append(f"  actions and landmarks {'match' if same else 'differ'}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scripts/demo.sh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=["small", "tiny"], help="model preset (default small)")
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from spacemind_ros.frameworks import quiet_frameworks
    from spacemind_ros.pipeline.answer_json import model_status

    quiet_frameworks()

    trained, warning = model_status("", args.preset)
    domain = apply_loopback_environment()
    out = Path("demo_output")
    out.mkdir(exist_ok=True)
    folder = out / "scene"
    shutil.rmtree(out / "scene_bag", ignore_errors=True)  # the bag older demos wrote
    from spacemind_ros.scenes import SceneSettings, write_scene

    t = time.perf_counter()
    summary = write_scene(SCENE_SEED, folder, SceneSettings(**SCENE_SETTINGS))
    bag = folder / "bag"
    records = summary["records"]
    say(f"generated synthetic scene {summary['scene_name']} in {time.perf_counter() - t:.1f} s: "
        f"{SCENE_SETTINGS['frames']} frames {SCENE_SETTINGS['width']}x{SCENE_SETTINGS['height']} in {bag} "
        f"(ROS 2 bag: /camera/image_raw, camera_info, depth, pose), {len(records)} questions with ground truth "
        f"in {folder / 'questions.jsonl'}, map in {folder / 'map.png'}")
    say(f"loopback-only DDS on ROS_DOMAIN_ID={domain}")
    env = loopback_environment(domain)
    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command, stop_all

    node = subprocess.Popen(node_command(DEFAULT_PARAMS, {"autostart": "true", "keyframe_gap_s": "0.0",
                                                          "preset": args.preset}), env=env)
    procs = [node]
    try:
        import rclpy
        from spacemind_interfaces.srv import RouteAdvice, SpatialQuery

        from spacemind_ros.ros import names
        from spacemind_ros.ros.client import call, response_dict

        rclpy.init()
        client_node = rclpy.create_node("spacemind_demo_client")
        query = client_node.create_client(SpatialQuery, names.QUERY_SERVICE)
        route = client_node.create_client(RouteAdvice, names.ROUTE_SERVICE)
        if not query.wait_for_service(timeout_sec=60.0):
            raise RuntimeError("spacemind_node did not come up")
        for _ in range(200):  # until configured and active (model loaded)
            if call(query, SpatialQuery.Request(question="ready?"), client_node, 30).error_code != "NOT_READY":
                break
            time.sleep(0.1)
        say(f"node is active ({args.preset} preset: {warning})")
        if args.preset == "small":
            from spacemind_ros.model.presets import SMALL_CHECKPOINT

            recipe = json.loads((SMALL_CHECKPOINT / "recipe.json").read_text())
            heldout = recipe.get("heldout", {})
            if heldout:
                prior = heldout["baselines"].get("prior", {}).get("overall")
                blind = recipe.get("ladder", {}).get("blind twin", {}).get("overall")
                say(f"its official VSI-Bench score on the {heldout['questions']} questions of 43 held-out scenes is "
                    f"{heldout['scores']['overall']:.1f} overall"
                    + (f", against {prior:.1f} for the training split's prior (the median number and commonest "
                       "letter per question type)" if prior is not None else "")
                    + (f" and {blind:.1f} for its blind twin (the same recipe on grey frames)" if blind is not None
                       else "")
                    + "; see docs/small-model.md for what it did and did not learn")
        player = subprocess.Popen([sys.executable, "-m", "spacemind_ros.ros.image_player", "--bag", str(bag),
                                   "--bag-topic", "/camera/image_raw", "--rate", "20"], env=env)
        procs.append(player)
        player.wait(timeout=60)
        say("streamed the bag to the node over ROS from a separate process")
        time.sleep(0.5)
        say("one question of each VSI-Bench type; ground truth from the scene's geometry"
            + (". The tiny preset is RANDOM (untrained): expect wrong answers" if not trained else
               f" (scene seed {SCENE_SEED}, never seen in training)"))
        for record in one_per_type(records):
            req = SpatialQuery.Request(question=record["question"], options=record["options"],
                                       task=record["question_type"])
            t = time.perf_counter()
            d = response_dict(call(query, req, client_node, 120))
            print(f"[{record['question_type']}] {record['question']}"
                  + (f"  {' '.join(record['options'])}" if record["options"] else ""))
            print(answer_line(record, d, time.perf_counter() - t), flush=True)
        t = time.perf_counter()
        true_route = summary["routes"][0] if summary["routes"] else None
        if true_route is not None:
            goal, start = true_route["goal"], true_route["start"]
        else:  # a scene without a clear route: any two objects, no ground truth to print
            names = sorted({o["category"] for o in json.loads((folder / "scene.json").read_text())["objects"]})
            goal, start = f"the {names[0]}", f"standing by the {names[-1]}"
        res = call(route, RouteAdvice.Request(goal=goal, start=start), client_node, 120)
        d = response_dict(res)
        say(f"/route_advice to {goal!r} ({start}); the true route from the scene's geometry beside the node's")
        print(route_table(true_route, d))
        print(json.dumps({k: d[k] for k in ("success", "error_code", "latency_s")}
                         | {"round_trip_s": round(time.perf_counter() - t, 3)}))
        client_node.destroy_node()
        rclpy.try_shutdown()
        say("done; stopping the node")
        return 0
    finally:
        stop_all(procs)


if __name__ == "__main__":
    sys.exit(main())
