"""Publish frames (a bag topic, or a short generated scene walk) as sensor_msgs/Image at a fixed rate.

A bag is read one message at a time while publishing (a long bag costs no memory), and re-read for each --loop.
``--perturb`` (blind, image_noise:SIGMA, blur:PX, drop:FRACTION; repeatable) perturbs what is published, seeded per
stamp exactly as ``spacemind-eval run --perturb`` does, so a deployed node can be tested on perturbed input.
"""
from __future__ import annotations

import argparse
import sys
import time

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.conversions import ns_to_time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bag", help="ROS 2 bag to replay; default: a 48-frame walk through generated scene 0")
    p.add_argument("--bag-topic", default="/camera/image_raw")
    p.add_argument("--topic", default="image")
    p.add_argument("--rate", type=float, default=10.0, help="frames per second")
    p.add_argument("--loop", action="store_true")
    p.add_argument("--restamp", action="store_true", help="stamp with the publishing time (live camera)")
    p.add_argument("--wait-subscriber", type=float, default=10.0, metavar="SECONDS",
                   help="wait this long for a subscriber before publishing (0: start at once)")
    p.add_argument("--perturb", action="append", default=[], metavar="NAME[:LEVEL]",
                   help="perturb the published frames: blind, image_noise:SIGMA, blur:PX, drop:FRACTION")
    p.add_argument("--perturb-seed", type=int, default=0)
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from spacemind_ros.eval.perturbations import StreamPerturbation, parse_all

    try:
        perturbations = parse_all(args.perturb)
    except ValueError as exc:
        p.error(str(exc))
    query = [x.spec for x in perturbations if not x.on_stream]
    if query:
        p.error(f"{', '.join(query)} act on what the node samples: start the node with "
                f"-p eval_perturbation:={'+'.join(query)}")
    stream = StreamPerturbation(perturbations, args.perturb_seed)
    if args.bag:
        from spacemind_ros.pipeline.sources import bag_frames

        check = bag_frames(args.bag, args.bag_topic)
        next(check, None)  # a missing bag or topic fails here, before ROS starts
        check.close()

        def frames():
            return bag_frames(args.bag, args.bag_topic)
    else:
        from spacemind_ros.scenes import walkthrough_frames

        walk = walkthrough_frames()

        def frames():
            return iter(walk)
    rclpy.init()
    node = rclpy.create_node("spacemind_image_player")
    pub = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    sent = 0
    try:
        # Best-effort frames sent before discovery has matched a subscriber are simply lost.
        deadline = time.monotonic() + args.wait_subscriber
        while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if pub.get_subscription_count() == 0 and args.wait_subscriber > 0:
            print(f"no subscriber on {pub.topic_name} after {args.wait_subscriber:.0f} s; publishing anyway",
                  flush=True)
        while rclpy.ok():
            for stamp, rgb in frames():
                if stream:
                    rgb = stream.frame(stamp, rgb)  # seeded by the bag's stamp, as the evaluation's replay does
                    if rgb is None:
                        time.sleep(1.0 / args.rate)  # a lost frame keeps its time slot
                        continue
                stamp = node.get_clock().now().nanoseconds if args.restamp else stamp
                msg = array_to_image_msg(rgb, "rgb8", header=Header(stamp=ns_to_time(stamp), frame_id="camera"))
                try:
                    pub.publish(msg)
                except Exception:
                    if rclpy.ok():
                        raise
                    break  # SIGINT/SIGTERM shut the context down between two frames
                sent += 1
                time.sleep(1.0 / args.rate)
            if not args.loop:
                break
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        print(f"published {sent} frames" + (f" ({stream.dropped} dropped by --perturb drop)" if stream.dropped else
                                            ""), flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
