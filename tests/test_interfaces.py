"""The spacemind_interfaces package: imports, serialisation, and a service answered across processes."""
import math
import textwrap

import pytest

from tests.rostools import ros_node, spawn, stop

pytestmark = pytest.mark.ros


def test_interfaces_import_and_round_trip():
    from builtin_interfaces.msg import Time
    from rclpy.serialization import deserialize_message, serialize_message
    from spacemind_interfaces.action import SpatialQuery as SpatialQueryAction
    from spacemind_interfaces.msg import SpatialAnswer
    from spacemind_interfaces.srv import RouteAdvice, SpatialQuery

    req = SpatialQuery.Request(question="Is the stove left of the sink?", options=["A. yes", "B. no"],
                               task="object_rel_direction_easy", until=Time(sec=12, nanosec=5), timeout_s=3.5)
    back = deserialize_message(serialize_message(req), SpatialQuery.Request)
    assert back == req
    res = SpatialQuery.Response(success=True, answer="A", choice="A", value=math.nan, unit="",
                                frame_stamps=[Time(sec=1), Time(sec=2, nanosec=7)], latency_s=0.25)
    back = deserialize_message(serialize_message(res), SpatialQuery.Response)
    assert back.frame_stamps == res.frame_stamps and back.choice == "A" and math.isnan(back.value)
    route = RouteAdvice.Response(steps=["go forward", "turn left"], actions=["FORWARD", "TURN_LEFT"],
                                 landmarks=["sofa", ""])
    assert deserialize_message(serialize_message(route), RouteAdvice.Response) == route
    assert SpatialQueryAction.Feedback(stage="encoding", frames=32).frames == 32
    assert SpatialAnswer(question="q", success=False, error_code="BUSY").error_code == "BUSY"


SERVER = textwrap.dedent(
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from spacemind_interfaces.srv import SpatialQuery

    def answer(req, res):
        res.success = True
        res.answer = "echo: " + req.question
        res.choice = req.options[0][0] if req.options else ""
        res.frame_stamps = [req.until]
        return res

    rclpy.init()
    node = rclpy.create_node("echo_spatial_query")
    node.create_service(SpatialQuery, "/spatial_query", answer)
    print("ready", flush=True)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    """
)


def test_service_across_processes():
    from builtin_interfaces.msg import Time
    from spacemind_interfaces.srv import SpatialQuery

    server = spawn(["-c", SERVER])
    try:
        with ros_node("interfaces_test_client") as node:
            client = node.create_client(SpatialQuery, "/spatial_query")
            assert client.wait_for_service(timeout_sec=20.0), "service from the child process never appeared"
            req = SpatialQuery.Request(question="where is the bed?", options=["B. left"], until=Time(sec=42))
            future = client.call_async(req)
            deadline = 20.0
            import time

            t0 = time.monotonic()
            while not future.done() and time.monotonic() - t0 < deadline:
                time.sleep(0.02)
            res = future.result()
            assert res is not None and res.success
            assert res.answer == "echo: where is the bed?" and res.choice == "B"
            assert res.frame_stamps[0].sec == 42
    finally:
        out = stop(server)
    assert "ready" in out
