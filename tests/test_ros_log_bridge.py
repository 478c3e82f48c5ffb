"""Package logging reaches /rosout through the node's ROS logger, at every level, in any order (issue 18)."""
import logging

import pytest
from rcl_interfaces.msg import Log
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from spacemind_ros.ros import log_bridge
from tests.rostools import ros_node, wait_for

pytestmark = pytest.mark.ros
PACKAGE = "spacemind_ros_log_bridge_test"  # a package name of its own: the real one's handlers stay untouched
# What rcl publishes /rosout with (and rqt_console subscribes with): the subscriber gets the history too.
ROSOUT_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.TRANSIENT_LOCAL)


def test_records_of_changing_levels_all_reach_rosout():
    # rclpy keeps one severity per call site of Logger.log and raises on another: a bridge that forwarded every
    # record from one line lost every record after the first whose level differed (INFO "loaded", then WARN).
    sequence = [(logging.INFO, Log.INFO), (logging.WARNING, Log.WARN), (logging.ERROR, Log.ERROR),
                (logging.CRITICAL, Log.FATAL), (logging.INFO, Log.INFO), (logging.WARNING, Log.WARN)]
    errors = []
    with ros_node("log_bridge_source") as source, ros_node("log_bridge_listener") as listener:
        received = []
        listener.create_subscription(Log, "/rosout", received.append, ROSOUT_QOS)
        handler = log_bridge.install(source.get_logger(), PACKAGE)
        handler.handleError = lambda record: errors.append(record.getMessage())
        try:
            for k, (level, _) in enumerate(sequence):
                logging.getLogger(f"{PACKAGE}.part").log(level, "record %d", k)
        finally:
            log_bridge.remove(handler, PACKAGE)

        def ours():
            return [m for m in received if m.name == "log_bridge_source" and "record" in m.msg]
        assert wait_for(lambda: len(ours()) >= len(sequence), timeout=20), [m.msg for m in ours()]
        assert not errors, errors
        assert [(m.msg, m.level) for m in ours()] == [
            (f"{PACKAGE}.part: record {k}", ros_level) for k, (_, ros_level) in enumerate(sequence)]
