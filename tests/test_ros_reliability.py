"""spacemind_node under adversarial input (issue 18): stamps, wide frames, limits, ROS logging, diagnostics, shutdown.

The node runs in a child process; this process publishes and calls, as a robot's other processes would.
"""
import math
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import Log
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_interfaces.srv import SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.conversions import ns_to_time
from tests.rostools import call, ros_node, start_node, stop, wait_for

pytestmark = pytest.mark.ros
S = 1_000_000_000
HOUR = 3600 * S
TALL, SHORT = np.full((60, 80, 3), 90, np.uint8), np.full((40, 80, 3), 160, np.uint8)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from spacemind_ros.model.presets import build_tiny

    # A tiny checkpoint recorded with VGGT's crop input: frames of other aspects are padded per query, which is
    # what the padding-warning test needs (the default pad input makes every frame the same square).
    folder = tmp_path_factory.mktemp("crop_model")
    build_tiny(vggt_preprocess_mode="crop")[0].save_pretrained(folder, save_encoders=True)
    proc = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, diagnostics_period_s=0.2,
                      model_path=str(folder))
    try:
        with ros_node("reliability_client") as node:
            query = node.create_client(SpatialQuery, "/spatial_query")
            assert query.wait_for_service(timeout_sec=30)
            assert wait_for(lambda: call(node, query, SpatialQuery.Request(question="r")).error_code != "NOT_READY",
                            timeout=60)
            diagnostics, rosout = [], []
            node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 50)
            node.create_subscription(Log, "/rosout", rosout.append, 500)
            pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
            yield dict(node=node, query=query, pub=pub, diagnostics=diagnostics, rosout=rosout, proc=proc)
    finally:
        stop(proc)


def publish(c, stamp_ns, img=TALL):
    c["pub"].publish(array_to_image_msg(img, "rgb8", header=Header(stamp=ns_to_time(stamp_ns))))
    time.sleep(0.02)


def ask(c, **fields):
    return call(c["node"], c["query"], SpatialQuery.Request(**fields))


def diag(c, key, pred):
    """Waits for a /diagnostics message whose ``key`` satisfies ``pred``; returns all its values."""
    def find():
        for d in reversed(c["diagnostics"]):
            values = {kv.key: kv.value for s in d.status for kv in s.values}
            if key in values and pred(values[key]):
                return values
        return None
    last = c["diagnostics"] and {kv.key: kv.value for s in c["diagnostics"][-1].status for kv in s.values}
    assert wait_for(lambda: find() is not None, timeout=10), f"{key}: {last}"
    return find()


def stamps_of(res):
    return [t.sec * S + t.nanosec for t in res.frame_stamps]


def test_a_very_wide_frame_is_dropped_with_its_reason(live):
    t0 = time.time_ns() - 25 * S  # 5 s before the next test's frames: one stream, no time jump
    for i in range(6):
        publish(live, t0 + i * S // 10)
    publish(live, t0 + 7 * S // 10, np.zeros((1, 640, 3), np.uint8))  # 640:1 breaks VGGT's resize
    time.sleep(0.3)
    res = ask(live, question="How many boxes?")
    assert res.success, res.error_message
    assert len(res.frame_stamps) == 6
    diag(live, "dropped_aspect", lambda v: v == "1")


def test_far_future_frame_is_dropped_and_zero_stamps_get_their_arrival_time(live):
    t0 = time.time_ns() - 20 * S
    for i in range(10):
        publish(live, t0 + i * S // 30)
    publish(live, t0 + HOUR)  # one frame stamped an hour ahead
    for i in range(10, 20):
        publish(live, t0 + i * S // 30)
    time.sleep(0.3)
    res = ask(live, question="How many boxes?")
    assert res.success, res.error_message
    assert max(stamps_of(res)) < t0 + S
    values = diag(live, "dropped_future", lambda v: v == "1")
    assert int(values["frames_dropped"]) >= 2  # the wide frame and the future one
    before = time.time_ns()
    for _ in range(5):
        publish(live, 0)  # an unset stamp: the node stamps the frame on arrival
    time.sleep(0.3)
    res = ask(live, question="How many boxes?")
    assert res.success, res.error_message
    assert max(stamps_of(res)) >= before  # the newest frames are the restamped ones


def test_text_limits_and_timeout_range_over_ros(live):
    for fields, match in [
        (dict(question="Which?", options=["A. " + "x" * 5000, "B. y"]), "option 1 has 5003 characters"),
        (dict(question="How far?", timeout_s=math.inf), "out of range"),
        (dict(question="How far?", timeout_s=1e10), "out of range"),
        (dict(question="How far?", timeout_s=math.nan), "out of range"),
    ]:
        res = ask(live, **fields)
        assert res.error_code == "BAD_REQUEST" and match in res.error_message, res.error_message
    assert ask(live, question="How many boxes?").success


def test_padding_warning_goes_to_rosout_once(live):
    t0 = time.time_ns()
    for k in range(3):  # three cold queries over windows that mix 80x60 and 80x40 frames
        publish(live, t0 + k * S // 10, SHORT)
        time.sleep(0.3)
        assert ask(live, question="How many boxes?").success
    time.sleep(1.0)
    warnings = [m for m in live["rosout"] if m.name == "spacemind_node" and "padding" in m.msg]
    assert len(warnings) == 1 and warnings[0].level == Log.WARN, [m.msg for m in warnings]
