"""Lifecycle transitions of spacemind_node (its own child process), and a configure that fails: its reason reaches
the client (NOT_READY) and /diagnostics (ERROR)."""
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from spacemind_interfaces.srv import SpatialQuery

from tests.rostools import call, ros_node, start_node, stop, wait_for

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
            node=node,
            state=lambda: call(node, get, GetState.Request()).current_state.label,
            change=lambda tid: call(node, change, ChangeState.Request(transition=Transition(id=tid))).success,
            ask=lambda q: call(node, query, SpatialQuery.Request(question=q)),
        )


def test_failed_configure_reason_reaches_the_client_and_diagnostics():
    proc = start_node(autostart=True, model_path="/nonexistent/spacemind")  # autostart's configure fails
    try:
        with lifecycle_client("lifecycle_test_client") as c:
            assert wait_for(lambda: c.state() == "unconfigured", timeout=30)  # autostart's configure may still run
            res = c.ask("How many boxes?")
            assert res.error_code == "NOT_READY" and "configure failed" in res.error_message
            assert "spacemind_config.json" in res.error_message and "autostart" not in res.error_message
            model = wait_status(c.node, "spacemind_node: model")
            assert model.level == DiagnosticStatus.ERROR and "spacemind_config.json" in model.message
            assert not c.change(Transition.TRANSITION_CONFIGURE)  # still missing: stays unconfigured, alive
            assert c.state() == "unconfigured" and proc.poll() is None
            assert "spacemind_config.json" in c.ask("How many boxes?").error_message
    finally:
        out = stop(proc)
    assert "configure failed" in out and "spacemind_config.json" in out


def wait_status(node, name, timeout=20.0):
    """The first /diagnostics status named ``name``."""
    seen = []
    sub = node.create_subscription(DiagnosticArray, "/diagnostics",
                                   lambda m: seen.extend(s for s in m.status if s.name == name), 10)
    try:
        assert wait_for(lambda: seen, timeout=timeout), f"no {name!r} status on /diagnostics"
        return seen[0]
    finally:
        node.destroy_subscription(sub)


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
