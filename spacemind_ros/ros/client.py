"""Client side: ``spacemind query`` / ``spacemind route-advice`` call the node's services (no ros2 CLI here).

DDS: the shell's ROS_DOMAIN_ID (0 when unset), loopback-only discovery unless ``--network``; the service names are
relative, so ``--namespace robot1`` asks ``/robot1/spatial_query``.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time

from spacemind_ros.pipeline.answer_json import model_status
from spacemind_ros.ros import names


def call(client, request, node, timeout: float):
    """Call a service and wait for the answer, spinning ``node`` (in its own context)."""
    import rclpy

    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    if not future.done():
        raise TimeoutError(f"no answer from {client.srv_name} within {timeout:.0f} s")
    return future.result()


def wait_until_answering(client, spin, timeout: float) -> bool:
    """``wait_for_service``, then until an empty request (answered at once: BAD_REQUEST or NOT_READY) comes back.

    The service may match our response reader later than we see it, and rmw_fastrtps drops an answer it cannot
    deliver within 100 ms: without this, a call made right after discovery can wait for its timeout. ``spin(s)``
    spins the client's node for ``s`` seconds.
    """
    deadline = time.monotonic() + timeout
    if not client.wait_for_service(timeout_sec=timeout):
        return False
    while time.monotonic() < deadline:
        future = client.call_async(client.srv_type.Request())
        end = min(deadline, time.monotonic() + 0.5)
        while not future.done() and time.monotonic() < end:
            spin(0.02)
        if future.done():
            return True
        client.remove_pending_request(future)
    return False


def response_dict(res) -> dict:
    """A response's fields as plain Python: ``frame_stamps`` in ns, NaN as None."""
    out = {}
    for name in res.get_fields_and_field_types():
        value = getattr(res, name)
        if name == "frame_stamps":
            value = [t.sec * 1_000_000_000 + t.nanosec for t in value]
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


def _offered(node, srv_type: str, wait: float) -> list[str]:
    """Names of services of this type the graph shows (a hint for a wrong namespace)."""
    deadline = time.monotonic() + min(wait, 2.0)
    found = []
    while time.monotonic() < deadline and not found:
        found = [n for n, types in node.get_service_names_and_types() if srv_type in types]
        time.sleep(0.1)
    return sorted(found)


def _model_status(node) -> tuple[bool | None, str | None]:
    """(trained, warning) of the answering node's model, from its model_path and preset; (None, None) if they
    cannot be read."""
    from rcl_interfaces.srv import GetParameters

    client = node.create_client(GetParameters, f"{names.NODE}/get_parameters")  # in the client's namespace
    try:
        if not client.wait_for_service(timeout_sec=2.0):
            return None, None
        values = call(client, GetParameters.Request(names=["model_path", "preset"]), node, 5.0).values
        return model_status(values[0].string_value, values[1].string_value) if len(values) == 2 else (None, None)
    except TimeoutError:
        return None, None
    finally:
        node.destroy_client(client)


def _run(service: str, build, args) -> int:
    from spacemind_ros.pipeline.answer_json import answer_json
    from spacemind_ros.ros.environment import describe_environment, shell_environment

    os.environ.update(shell_environment(network=args.network))  # before rclpy creates its context
    import rclpy
    from spacemind_interfaces.srv import RouteAdvice, SpatialQuery

    srv_type = SpatialQuery if service == names.QUERY_SERVICE else RouteAdvice
    namespace = "/" + args.namespace.strip("/") if args.namespace.strip("/") else "/"
    rclpy.init()
    try:
        node = rclpy.create_node("spacemind_client", namespace=namespace)
    except Exception as exc:  # noqa: BLE001 - a malformed namespace is a usage error
        rclpy.try_shutdown()
        print(f"spacemind: error: --namespace {args.namespace!r}: {exc}", file=sys.stderr)
        return 2
    try:
        from spacemind_ros.ros.qos import SERVICE_QOS

        client = node.create_client(srv_type, service, qos_profile=SERVICE_QOS)  # no lost answers under load
        resolved = node.resolve_service_name(service)
        if not wait_until_answering(client, lambda s: rclpy.spin_once(node, timeout_sec=s), args.wait):
            offered = [n for n in _offered(node, f"spacemind_interfaces/srv/{srv_type.__name__}", args.wait)
                       if n != resolved]  # our own client shows in the graph too
            print(f"spacemind: no {resolved} answered within {args.wait:.0f} s on {describe_environment()}. "
                  "Is spacemind_node running on this domain (same ROS_DOMAIN_ID; --network if it is on another "
                  "machine) and active?"
                  + (f" Found: {', '.join(offered)} (use --namespace)." if offered else ""), file=sys.stderr)
            return 3
        t = time.perf_counter()
        res = call(client, build(srv_type.Request()), node, args.wait + (args.timeout or 120.0))
        via = {"service": resolved, "round_trip_s": round(time.perf_counter() - t, 4)}
        trained, warning = _model_status(node)
        out = answer_json(response_dict(res), route=srv_type is RouteAdvice, trained=trained, via=via,
                          warning=warning)
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

    return _run(names.QUERY_SERVICE, build, args)


def cmd_route_advice(args) -> int:
    def build(req):
        req.goal, req.start, req.timeout_s = args.goal, args.start, float(args.timeout)
        return req

    return _run(names.ROUTE_SERVICE, build, args)


def _ros_args(p) -> None:
    p.add_argument("--namespace", default="", help="the node's namespace, e.g. robot1 (default: none)")
    p.add_argument("--network", action="store_true",
                   help="discover over the network as the shell configures it (default: loopback only)")
    p.add_argument("--wait", type=float, default=15.0, help="seconds to wait for the service")


def add_client_commands(sub) -> None:
    q = sub.add_parser("query", help=f"call the node's {names.QUERY_SERVICE} service")
    q.add_argument("question")
    q.add_argument("--options", nargs="*", default=[])
    q.add_argument("--task", default="")
    q.add_argument("--until", type=float, default=0.0, help="stamp in seconds; 0 = latest frame")
    q.add_argument("--timeout", type=float, default=0.0, help="query timeout (s); 0 = node default")
    _ros_args(q)
    q.set_defaults(func=cmd_query)
    r = sub.add_parser("route-advice", help=f"call the node's {names.ROUTE_SERVICE} service")
    r.add_argument("goal")
    r.add_argument("--start", default="")
    r.add_argument("--timeout", type=float, default=0.0)
    _ros_args(r)
    r.set_defaults(func=cmd_route_advice)
