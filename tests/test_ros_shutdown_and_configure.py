"""spacemind_node's configure failure, model_path, cleanup and SIGTERM with queries in flight (issue 18).

Each test runs its own node (one at a time: two nodes on one domain would both answer a service call).
"""
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_interfaces.srv import SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.conversions import ns_to_time
from tests.rostools import call, ros_node, start_node, stop, wait_for
from tests.test_ros_reliability import diag

pytestmark = pytest.mark.ros
S = 1_000_000_000
FRAME = np.full((60, 80, 3), 90, np.uint8)


def _set_param(node, name, value: str):
    setp = node.create_client(SetParameters, "/spacemind_node/set_parameters")
    assert setp.wait_for_service(timeout_sec=10)
    pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    return call(node, setp, SetParameters.Request(parameters=[Parameter(name=name, value=pv)])).results[0]


def test_configure_failure_stays_in_diagnostics_and_model_path_can_be_fixed():
    proc = start_node(autostart=False, model_path="/nonexistent/spacemind", diagnostics_period_s=0.2)
    try:
        with ros_node("reliability_configure_client") as node:
            change = node.create_client(ChangeState, "/spacemind_node/change_state")
            query = node.create_client(SpatialQuery, "/spatial_query")
            assert change.wait_for_service(timeout_sec=30) and query.wait_for_service(timeout_sec=30)
            diagnostics = []
            node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
            configure = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
            assert not call(node, change, configure).success
            assert call(node, query, SpatialQuery.Request(question="q")).error_code == "NOT_READY"
            c = dict(diagnostics=diagnostics)
            values = diag(c, "last_error", lambda v: v.startswith("NOT_READY"))  # the query's error is the latest
            assert "configure failed" in values["configure_error"] and "spacemind_config.json" in values[
                "configure_error"]
            assert _set_param(node, "model_path", "").successful  # fixed without a restart
            assert call(node, change, configure).success
            diag(c, "configure_error", lambda v: v == "")
            assert not _set_param(node, "model_path", "/elsewhere").successful  # not while configured
    finally:
        stop(proc)


def _slow_node_with_queries(name, n=3):
    """A node decoding 3000 tokens per query (seconds each), with ``n`` queries sent (1 running, the rest queued)."""
    proc = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, queue_limit=2, min_new_tokens=3000,
                      max_new_tokens=3000)
    ctx = ros_node(name)
    node = ctx.__enter__()
    query = node.create_client(SpatialQuery, "/spatial_query")
    assert query.wait_for_service(timeout_sec=30)
    assert wait_for(lambda: call(node, query, SpatialQuery.Request(question="r")).error_code != "NOT_READY",
                    timeout=60)
    pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
    t0 = time.time_ns()
    for i in range(8):
        pub.publish(array_to_image_msg(FRAME, "rgb8", header=Header(stamp=ns_to_time(t0 + i * S // 10))))
        time.sleep(0.02)
    time.sleep(0.5)
    futures = [query.call_async(SpatialQuery.Request(question="How far is the box?", timeout_s=120.0))
               for _ in range(n)]
    time.sleep(1.5)  # the first is decoding, the others wait behind it
    assert not any(f.done() for f in futures)
    return proc, ctx, node, futures


def test_sigterm_cancels_queries_in_flight_and_exits_promptly():
    proc, ctx, node, futures = _slow_node_with_queries("reliability_sigterm_client")
    try:
        t = time.monotonic()
        proc.terminate()
        proc.wait(timeout=10)
        exit_s = time.monotonic() - t
        assert wait_for(lambda: all(f.done() for f in futures), timeout=5), "a query in flight got no answer"
        codes = [f.result().error_code for f in futures]
        assert codes == ["CANCELED"] * 3, [f.result().error_message for f in futures]
        assert exit_s < 3.0 and proc.returncode == 0, exit_s
    finally:
        ctx.__exit__(None, None, None)
        stop(proc)


def test_cleanup_cancels_running_and_queued_queries():
    proc, ctx, node, futures = _slow_node_with_queries("reliability_cleanup_client", n=2)
    try:
        change = node.create_client(ChangeState, "/spacemind_node/change_state")
        assert change.wait_for_service(timeout_sec=10)
        for tid in (Transition.TRANSITION_DEACTIVATE, Transition.TRANSITION_CLEANUP):
            assert call(node, change, ChangeState.Request(transition=Transition(id=tid))).success
        assert wait_for(lambda: all(f.done() for f in futures), timeout=10)
        results = [f.result() for f in futures]
        assert [r.error_code for r in results] == ["CANCELED", "CANCELED"], [r.error_message for r in results]
        assert call(node, node.create_client(SpatialQuery, "/spatial_query"),
                    SpatialQuery.Request(question="q")).error_code == "NOT_READY"
    finally:
        ctx.__exit__(None, None, None)
        stop(proc)
