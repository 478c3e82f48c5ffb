"""Lifecycle transitions of spacemind_node (its own child process), and a configure that fails."""
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from spacemind_interfaces.srv import SpatialQuery

from tests.rostools import call, ros_node, start_node, stop

pytestmark = pytest.mark.ros


@contextmanager
def lifecycle_client(name):
    """Clients for the node's change_state/get_state and /spatial_query, with short helpers."""
    with ros_node(name) as node:
        change = node.create_client(ChangeState, "/spacemind_node/change_state")
        get = node.create_client(GetState, "/spacemind_node/get_state")
        query = node.create_client(SpatialQuery, "spatial_query")
        assert all(c.wait_for_service(timeout_sec=30) for c in (change, get, query)), "node did not come up"
        yield SimpleNamespace(
            state=lambda: call(node, get, GetState.Request()).current_state.label,
            change=lambda tid: call(node, change, ChangeState.Request(transition=Transition(id=tid))).success,
            ask=lambda q: call(node, query, SpatialQuery.Request(question=q)),
        )


def test_lifecycle_transitions_and_failed_configure():
    proc = start_node(autostart=False, model_path="/nonexistent/spacemind")
    try:
        with lifecycle_client("lifecycle_test_client") as c:
            assert c.state() == "unconfigured"
            res = c.ask("How many boxes?")
            assert res.error_code == "NOT_READY" and "activate" in res.error_message
            assert not c.change(Transition.TRANSITION_CONFIGURE)  # missing model folder: stays unconfigured
            assert c.state() == "unconfigured"
            assert proc.poll() is None
    finally:
        out = stop(proc)
    assert "configure failed" in out and "spacemind_config.json" in out


def test_lifecycle_full_cycle():
    proc = start_node(autostart=False, keyframe_gap_s=0.0)
    try:
        with lifecycle_client("lifecycle_cycle_client") as c:
            for transition, label, error_code in [
                (Transition.TRANSITION_CONFIGURE, "inactive", "NOT_READY"),
                (Transition.TRANSITION_ACTIVATE, "active", "NOT_ENOUGH_FRAMES"),
                (Transition.TRANSITION_DEACTIVATE, "inactive", "NOT_READY"),
                (Transition.TRANSITION_CLEANUP, "unconfigured", "NOT_READY"),
            ]:
                assert c.change(transition) and c.state() == label
                assert c.ask("q").error_code == error_code
    finally:
        stop(proc)
