"""One storm client process (see bench.storm): prints one JSON line of counts at the end."""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--inflight", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=120.0, help="a call unanswered this long counts as lost")
    ap.add_argument("--name", default="storm_client")
    ap.add_argument("--default-qos", action="store_true")
    args = ap.parse_args()
    import rclpy
    from rclpy.qos import qos_profile_services_default
    from spacemind_interfaces.srv import SpatialQuery

    from spacemind_ros.ros.qos import SERVICE_QOS

    rclpy.init()
    node = rclpy.create_node(args.name)
    qos = qos_profile_services_default if args.default_qos else SERVICE_QOS
    cli = node.create_client(SpatialQuery, "/spatial_query", qos_profile=qos)
    counts, codes = Counter(failed=0, max_answer_s=0.0), Counter()
    from spacemind_ros.ros.client import wait_until_answering

    if not wait_until_answering(cli, lambda s: rclpy.spin_once(node, timeout_sec=s), 60):
        counts["failed"] = 1
    else:
        pending: list[tuple[float, object]] = []
        start = time.monotonic()
        end = start + args.seconds
        lost_at = []
        while time.monotonic() < end or pending:
            while time.monotonic() < end and len(pending) < args.inflight:
                pending.append((time.monotonic(), cli.call_async(SpatialQuery.Request(question="How many boxes?"))))
                counts["sent"] += 1
            rclpy.spin_once(node, timeout_sec=0.01)
            now, still = time.monotonic(), []
            for t, f in pending:
                if f.done():
                    counts["answered"] += 1
                    codes[f.result().error_code or "OK"] += 1
                    counts["max_answer_s"] = max(counts["max_answer_s"], now - t)
                elif now - t > args.timeout:
                    counts["lost"] += 1
                    lost_at.append(round(t - start, 2))
                    cli.remove_pending_request(f)
                else:
                    still.append((t, f))
            pending = still
    counts["max_answer_s"] = round(counts["max_answer_s"], 2)
    print(json.dumps({**counts, "codes": dict(codes), "lost_at_s": lost_at if counts["failed"] == 0 else []}),
          flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
