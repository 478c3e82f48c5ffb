"""A camera for the benchmarks: ``count`` rgb8 frames at ``rate`` Hz on ``image``, stamped when published.

    python -m bench.camera --rate 30 --count 900 [--width 640 --height 480] [--topic image]
Prints ``published N`` at the end. Waits (up to 10 s) for a subscriber first: best-effort frames sent before
discovery matched one are lost and would count against the node.
"""
from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=30.0)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--topic", default="image")
    args = ap.parse_args()
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from spacemind_ros.images import array_to_image_msg

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    pub = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    img = np.random.default_rng(0).integers(0, 256, (args.height, args.width, 3), dtype=np.uint8)
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    t0, sent = time.monotonic(), 0
    try:
        for i in range(args.count):
            msg = array_to_image_msg(img, "rgb8")
            msg.header.stamp = node.get_clock().now().to_msg()
            pub.publish(msg)
            sent += 1
            time.sleep(max(0.0, t0 + (i + 1) / args.rate - time.monotonic()))
    except Exception:  # noqa: BLE001 - SIGTERM shut the context down between two frames
        if rclpy.ok():
            raise
    print("published", sent, flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
