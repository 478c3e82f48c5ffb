"""Levels of the node's /diagnostics parts (the ROS tests check them on a running node too)."""
from diagnostic_msgs.msg import DiagnosticStatus

from spacemind_ros.ros.diagnostics import intake_level, model_level, status

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR


def test_intake_levels():
    assert intake_level(active=True, dropped_since_last=0, last_frame_age_s=0.1) == (OK, "receiving frames")
    level, message = intake_level(active=True, dropped_since_last=2, last_frame_age_s=0.1)
    assert level == WARN and message.startswith("2 frame(s) dropped")
    level, message = intake_level(active=True, dropped_since_last=0, last_frame_age_s=7.25)
    assert level == WARN and message == "stale input: no frame for 7.2 s"
    assert intake_level(active=False, dropped_since_last=0, last_frame_age_s=99.0)[0] == OK  # not subscribed


def test_model_levels():
    assert model_level(False, False, "configure failed: CheckpointError: no spacemind_config.json", False) == (
        ERROR, "configure failed: CheckpointError: no spacemind_config.json")
    assert model_level(False, False, "", False)[0] == WARN and model_level(False, True, "", False)[0] == WARN
    assert model_level(True, True, "", untrained=True) == (OK, "active (untrained model: random answers)")
    assert model_level(True, True, "", untrained=False) == (OK, "active")


def test_status_name_follows_diagnostic_updater():
    s = status("robot1/spacemind_node", "intake", WARN, "stale", "cpu", {"frames_received": 3})
    assert s.name == "robot1/spacemind_node: intake" and s.level == WARN and s.hardware_id == "cpu"
    assert [(kv.key, kv.value) for kv in s.values] == [("frames_received", "3")]
