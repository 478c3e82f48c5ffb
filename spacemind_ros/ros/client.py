"""Client side: ``spacemind query`` / ``spacemind route-advice`` call the node's services (no ros2 CLI here)."""
from __future__ import annotations

import json
import math
import sys
import time


def call(client, request, node, timeout: float):
    """Call a service and wait for the answer, spinning ``node`` (in its own context)."""
    import rclpy

    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        raise TimeoutError(f"no answer from {client.srv_name} within {timeout:.0f} s")
    return future.result()


def response_dict(res) -> dict:
    out = {}
    for name in res.get_fields_and_field_types():
        value = getattr(res, name)
        if name == "frame_stamps":
            value = [t.sec + t.nanosec * 1e-9 for t in value]
        elif name == "path":  # nav_msgs/Path: frame and [x, y, z, qx, qy, qz, qw] per waypoint
            value = {"frame_id": value.header.frame_id,
                     "poses": [[p.pose.position.x, p.pose.position.y, p.pose.position.z, p.pose.orientation.x,
                                p.pose.orientation.y, p.pose.orientation.z, p.pose.orientation.w]
                               for p in value.poses]}
        elif isinstance(value, float) and math.isnan(value):
            value = None
        elif not isinstance(value, (str, int, float, bool)):
            value = list(value)
        out[name] = value
    return out


def _run(service: str, build, args) -> int:
    import rclpy

    from spacemind_interfaces.srv import RouteAdvice, SpatialQuery

    srv_type = SpatialQuery if service == "/spatial_query" else RouteAdvice
    rclpy.init()
    node = rclpy.create_node("spacemind_client")
    try:
        client = node.create_client(srv_type, service)
        if not client.wait_for_service(timeout_sec=args.wait):
            print(f"spacemind: {service} not available after {args.wait:.0f} s (is spacemind_node active?)",
                  file=sys.stderr)
            return 3
        t = time.perf_counter()
        res = call(client, build(srv_type.Request()), node, args.wait + (args.timeout or 120.0))
        out = response_dict(res)
        out["round_trip_s"] = round(time.perf_counter() - t, 4)
        print(json.dumps(out, indent=1))
        return 0 if res.success else 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def cmd_query(args) -> int:
    from builtin_interfaces.msg import Time

    def build(req):
        req.question, req.options, req.task = args.question, list(args.options), args.task
        req.until = Time(sec=int(args.until), nanosec=int(round((args.until % 1) * 1e9)))
        req.timeout_s = float(args.timeout)
        return req

    return _run("/spatial_query", build, args)


def cmd_route_advice(args) -> int:
    def build(req):
        req.goal, req.start, req.timeout_s = args.goal, args.start, float(args.timeout)
        return req

    return _run("/route_advice", build, args)


def add_client_commands(sub) -> None:
    q = sub.add_parser("query", help="call the node's /spatial_query service")
    q.add_argument("question")
    q.add_argument("--options", nargs="*", default=[])
    q.add_argument("--task", default="")
    q.add_argument("--until", type=float, default=0.0, help="stamp in seconds; 0 = latest frame")
    q.add_argument("--timeout", type=float, default=0.0, help="query timeout (s); 0 = node default")
    q.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the service")
    q.set_defaults(func=cmd_query)
    r = sub.add_parser("route-advice", help="call the node's /route_advice service")
    r.add_argument("goal")
    r.add_argument("--start", default="")
    r.add_argument("--timeout", type=float, default=0.0)
    r.add_argument("--wait", type=float, default=15.0)
    r.set_defaults(func=cmd_route_advice)
