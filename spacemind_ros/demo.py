"""The README's demo: node, image stream and client in three processes, on loopback DDS.

1. writes a short synthetic scene to a ROS 2 bag, 2. starts spacemind_node (tiny preset, autostart),
3. replays the bag over ROS from a second process, 4. asks /spatial_query and /route_advice from this process,
5. prints the structured answers and timings, and stops everything.
The tiny preset has random weights: its answers are random text. The point is the plumbing; load a trained
SpaceMind folder (model_path) for real answers.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from spacemind_ros.ros.environment import apply_loopback_environment, loopback_environment


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def main() -> int:
    domain = apply_loopback_environment()
    out = Path("demo_output")
    out.mkdir(exist_ok=True)
    bag = out / "scene_bag"
    shutil.rmtree(bag, ignore_errors=True)
    from spacemind_ros.pipeline.sources import write_image_bag
    from spacemind_ros.scenes import panning_room

    write_image_bag(bag, "/camera/image_raw", panning_room(num_frames=48))
    say(f"wrote a 48-frame synthetic scene to {bag} (ROS 2 bag, sensor_msgs/Image rgb8)")
    say(f"loopback-only DDS on ROS_DOMAIN_ID={domain}")
    env = loopback_environment(domain)
    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command, stop_all

    node = subprocess.Popen(node_command(DEFAULT_PARAMS, {"autostart": "true", "keyframe_gap_s": "0.0"}), env=env)
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
        say("node is active (tiny preset: random weights, UNTRAINED - answers are random text)")
        player = subprocess.Popen([sys.executable, "-m", "spacemind_ros.ros.image_player", "--bag", str(bag),
                                   "--rate", "20"], env=env)
        procs.append(player)
        player.wait(timeout=60)
        say("streamed the bag to the node over ROS from a separate process")
        time.sleep(0.5)
        questions = [
            SpatialQuery.Request(question="How far is the red box from the blue box (in meters)?"),
            SpatialQuery.Request(question="How many boxes are in this room?"),
            SpatialQuery.Request(question="If I stand by the red box facing the green box, is the blue box to my "
                                          "left or right?", options=["A. left", "B. right", "C. back"]),
        ]
        for req in questions:
            t = time.perf_counter()
            res = call(query, req, client_node, 120)
            d = response_dict(res)
            say(f"/spatial_query {req.question!r}")
            print(json.dumps({k: d[k] for k in ("success", "error_code", "task", "answer", "choice", "value",
                                                "unit", "latency_s")} | {
                "frames": len(d["frame_stamps"]), "round_trip_s": round(time.perf_counter() - t, 3)}, indent=1))
        t = time.perf_counter()
        res = call(route, RouteAdvice.Request(goal="the blue box", start="standing by the red box"), client_node, 120)
        d = response_dict(res)
        say("/route_advice to 'the blue box'")
        print(json.dumps({k: d[k] for k in ("success", "error_code", "steps", "actions", "landmarks", "answer",
                                            "latency_s")} | {"round_trip_s": round(time.perf_counter() - t, 3)},
                         indent=1))
        client_node.destroy_node()
        rclpy.try_shutdown()
        say("done; stopping the node")
        return 0
    finally:
        stop_all(procs)


if __name__ == "__main__":
    sys.exit(main())
