"""A slow query (fixed decode length) on spacemind_node: image intake keeps running, and the action cancels."""
import time

import pytest
from rclpy.action import ActionClient
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_interfaces.action import SpatialQuery as SpatialQueryAction
from spacemind_interfaces.srv import SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.conversions import ns_to_time
from spacemind_ros.scenes import walkthrough_frames
from tests.rostools import call, ros_node, start_node, stop, wait_for

pytestmark = pytest.mark.ros
S = 1_000_000_000


@pytest.fixture(scope="module")
def setup():
    proc = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, window_max_frames=4096,
                      min_new_tokens=3000, max_new_tokens=3000)  # ~3 s of decoding on 2 cores
    try:
        with ros_node("slow_query_client") as node:
            query = node.create_client(SpatialQuery, "spatial_query")
            assert query.wait_for_service(timeout_sec=30)
            assert wait_for(lambda: call(node, query, SpatialQuery.Request(question="r")).error_code != "NOT_READY",
                            timeout=60)
            pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
            frames = walkthrough_frames(num_frames=20, height=60, width=80)
            for stamp, img in frames:
                pub.publish(array_to_image_msg(img, "rgb8", header=Header(stamp=ns_to_time(stamp + S))))
                time.sleep(0.02)
            yield dict(node=node, query=query, pub=pub, img=frames[0][1])
    finally:
        stop(proc)


def test_intake_continues_during_a_slow_query(setup):
    node, query = setup["node"], setup["query"]
    future = query.call_async(SpatialQuery.Request(question="How far is the red box?"))
    time.sleep(0.3)
    assert not future.done(), "the query should still be decoding"
    during = [100 * S + i * S // 10 for i in range(10)]
    for stamp in during:  # published while the query runs
        setup["pub"].publish(array_to_image_msg(setup["img"], "rgb8", header=Header(stamp=ns_to_time(stamp))))
        time.sleep(0.02)
    assert not future.done()
    assert wait_for(future.done, timeout=120) and future.result().success
    res = call(node, query, SpatialQuery.Request(question="How many boxes?", timeout_s=120.0))
    assert res.success
    stamps = {t.sec * S + t.nanosec for t in res.frame_stamps}
    assert during[-1] in stamps or len(stamps) == 32  # newest frame is sampled unless the 34-drop-2 rule drops it
    assert sum(s in stamps for s in during) >= 5


def test_action_feedback_and_cancel(setup):
    node = setup["node"]
    action = ActionClient(node, SpatialQueryAction, "spatial_query_action")
    assert action.wait_for_server(timeout_sec=30)
    feedback = []
    goal_future = action.send_goal_async(SpatialQueryAction.Goal(question="How far is the red box?"),
                                         feedback_callback=lambda fb: feedback.append(fb.feedback))
    assert wait_for(goal_future.done, timeout=30)
    handle = goal_future.result()
    assert handle.accepted
    assert wait_for(lambda: any(f.stage == "generating" for f in feedback), timeout=60)
    cancel = handle.cancel_goal_async()
    assert wait_for(cancel.done, timeout=30)
    result_future = handle.get_result_async()
    assert wait_for(result_future.done, timeout=60)
    result = result_future.result().result
    assert not result.success and result.error_code == "CANCELED"
    assert {f.stage for f in feedback} >= {"encoding", "generating"} and feedback[0].frames > 0
    res = call(node, setup["query"], SpatialQuery.Request(question="How many boxes?", timeout_s=120.0))
    assert res.success  # still answering after the cancel
