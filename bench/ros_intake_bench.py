"""ROS intake benchmark (not a test): 640x480 rgb8 at 30 Hz from another process while queries run back to back.

    .venv/bin/python bench/ros_intake_bench.py [--seconds 10]
Prints frames published vs received by the node (from /diagnostics) and the node's intake callback cost.
Goal: >= 99% received, intake callback p95 < 1 ms. Loopback-only DDS, own ROS_DOMAIN_ID.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time

from spacemind_ros.ros.environment import apply_loopback_environment, loopback_environment

PUBLISHER = """
import sys, time, numpy as np, rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_ros.images import array_to_image_msg
rclpy.init(); node = rclpy.create_node('bench_camera')
pub = node.create_publisher(Image, 'image', qos_profile_sensor_data)
img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
time.sleep(2.0)
n = int(float(sys.argv[1]) * 30); t0 = time.monotonic()
for i in range(n):
    msg = array_to_image_msg(img, 'rgb8'); msg.header.stamp = node.get_clock().now().to_msg(); pub.publish(msg)
    time.sleep(max(0.0, t0 + (i + 1) / 30 - time.monotonic()))
print('published', n, flush=True)
node.destroy_node(); rclpy.try_shutdown()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    domain = apply_loopback_environment()
    env = loopback_environment(domain)
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from spacemind_interfaces.srv import SpatialQuery

    from spacemind_ros.ros.client import call
    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command, stop_all

    node_proc = subprocess.Popen(node_command(DEFAULT_PARAMS, {"autostart": "true", "keyframe_gap_s": "0.0",
                                                               "window_max_frames": "4096",
                                                               "window_duration_s": "3600.0"}), env=env)
    rclpy.init()
    client = rclpy.create_node("bench_client")
    diags = []
    client.create_subscription(DiagnosticArray, "/diagnostics", diags.append, 10)
    query = client.create_client(SpatialQuery, "/spatial_query")
    try:
        assert query.wait_for_service(timeout_sec=60)
        while call(query, SpatialQuery.Request(question="ready?"), client, 60).error_code == "NOT_READY":
            time.sleep(0.2)
        pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(args.seconds)], env=env)
        answered = 0
        while pub.poll() is None:  # queries back to back while frames stream in
            if call(query, SpatialQuery.Request(question="How far is the sofa from the door?"), client, 120).success:
                answered += 1
        time.sleep(2.5)
        diags.clear()
        deadline = time.monotonic() + 5
        while not diags and time.monotonic() < deadline:
            rclpy.spin_once(client, timeout_sec=0.2)
        values = {kv.key: kv.value for kv in diags[-1].status[0].values}
        published = int(args.seconds * 30)
        received = int(values["frames_received"])
        print(f"published {published}, received {received} ({100 * received / published:.1f}%), "
              f"dropped as bad {values['frames_dropped']}, queries answered meanwhile {answered}, "
              f"intake callback p95 {values.get('intake_p95_ms', 'n/a')} ms")
    finally:
        client.destroy_node()
        rclpy.try_shutdown()
        stop_all([node_proc])


if __name__ == "__main__":
    threading.excepthook = lambda a: None
    main()
