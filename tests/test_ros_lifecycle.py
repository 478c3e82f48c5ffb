"""Lifecycle transitions of spacemind_node (its own child process), and a configure that fails."""
import pytest
from spacemind_interfaces.srv import SpatialQuery

from tests.rostools import call, ros_node, start_node, stop

pytestmark = pytest.mark.ros


def test_lifecycle_transitions_and_failed_configure():
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    proc = start_node(autostart=False, model_path="/nonexistent/spacemind")
    try:
        with ros_node("lifecycle_test_client") as node:
            change = node.create_client(ChangeState, "/spacemind_node/change_state")
            get = node.create_client(GetState, "/spacemind_node/get_state")
            query = node.create_client(SpatialQuery, "/spatial_query")
            assert change.wait_for_service(timeout_sec=30) and get.wait_for_service(timeout_sec=30)
            assert query.wait_for_service(timeout_sec=30)
            assert call(node, get, GetState.Request()).current_state.label == "unconfigured"
            res = call(node, query, SpatialQuery.Request(question="How many boxes?"))
            assert res.error_code == "NOT_READY" and "activate" in res.error_message
            configure = ChangeState.Request(transition=Transition(id=Transition.TRANSITION_CONFIGURE))
            assert not call(node, change, configure).success  # missing model folder: stays unconfigured
            assert call(node, get, GetState.Request()).current_state.label == "unconfigured"
            assert proc.poll() is None
    finally:
        out = stop(proc)
    assert "configure failed" in out and "spacemind_config.json" in out


def test_lifecycle_full_cycle():
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState

    proc = start_node(autostart=False, keyframe_gap_s=0.0)
    try:
        with ros_node("lifecycle_cycle_client") as node:
            change = node.create_client(ChangeState, "/spacemind_node/change_state")
            get = node.create_client(GetState, "/spacemind_node/get_state")
            query = node.create_client(SpatialQuery, "/spatial_query")
            assert change.wait_for_service(timeout_sec=30) and query.wait_for_service(timeout_sec=30)

            def transition(tid, label):
                assert call(node, change, ChangeState.Request(transition=Transition(id=tid))).success
                assert call(node, get, GetState.Request()).current_state.label == label

            transition(Transition.TRANSITION_CONFIGURE, "inactive")
            assert call(node, query, SpatialQuery.Request(question="q")).error_code == "NOT_READY"
            transition(Transition.TRANSITION_ACTIVATE, "active")
            assert call(node, query, SpatialQuery.Request(question="q")).error_code == "NOT_ENOUGH_FRAMES"
            transition(Transition.TRANSITION_DEACTIVATE, "inactive")
            assert call(node, query, SpatialQuery.Request(question="q")).error_code == "NOT_READY"
            transition(Transition.TRANSITION_CLEANUP, "unconfigured")
    finally:
        stop(proc)
