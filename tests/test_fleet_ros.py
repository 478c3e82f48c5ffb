"""A fleet process (``spacemind_launch robots:=robot1,robot2,robot3``): one process, one loaded model, a node per
robot, driven from this test process. Each robot answers from its own frames, keeps its own parameters (the params
file's /robot3 section), diagnostics are per robot, a flooded robot never stops the others, and a quiet robot's
query is answered while a loud one's queue is still full."""
import threading
import time

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.srv import GetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_interfaces.srv import SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.ros.conversions import ns_to_time
from spacemind_ros.ros.parameters import to_yaml
from spacemind_ros.scenes import walkthrough_frames
from tests.rostools import call, ros_node, stop, wait_for
from tests.test_ros_namespaces import runner

pytestmark = pytest.mark.ros
S = 1_000_000_000
ROBOTS = ("robot1", "robot2", "robot3")
SLOW_TOKENS = 400  # every answer decodes this many tokens (tiny: ~0.3 s): long enough for queries to queue up


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    params = yaml.safe_load(to_yaml())
    values = params["/**"]["ros__parameters"]
    values.update(preset="tiny", min_frames=3, keyframe_gap_s=0.0, queue_limit=12, min_new_tokens=SLOW_TOKENS,
                  max_new_tokens=SLOW_TOKENS)
    params["/robot2/spacemind_node"] = {"ros__parameters": {"queue_limit": 2}}
    params["/robot3/spacemind_node"] = {"ros__parameters": {"queue_limit": 1, "min_frames": 4}}
    params_file = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    params_file.write_text(yaml.safe_dump(params))
    proc = runner(f"params_file:={params_file}", "robots:=robot1,robot2,robot3")
    first_line = proc.stdout.readline()
    try:
        with ros_node("fleet_test_client") as node:
            clients = {r: node.create_client(SpatialQuery, f"/{r}/spatial_query") for r in ROBOTS}
            assert all(c.wait_for_service(timeout_sec=90) for c in clients.values()), "fleet nodes did not come up"
            for c in clients.values():
                assert wait_for(lambda c=c: call(node, c, SpatialQuery.Request(question="r")).error_code != "NOT_READY",
                                timeout=120)
            pubs = {r: node.create_publisher(Image, f"/{r}/image", qos_profile_sensor_data) for r in ROBOTS}
            assert wait_for(lambda: all(p.get_subscription_count() == 1 for p in pubs.values()), timeout=20)
            yield dict(node=node, clients=clients, pubs=pubs, proc=proc, first_line=first_line)
    finally:
        out = stop(proc, timeout=40)
        assert proc.returncode in (0, -15), out[-3000:]


def stamps(res):
    return [t.sec * S + t.nanosec for t in res.frame_stamps]


def feed(fleet, robot, sent):
    """Publish ``sent`` stamps to ``robot`` (a frame at a time: sensor-data QoS keeps 5) until a query's answer is
    based on exactly them."""
    frames = walkthrough_frames(num_frames=len(sent), height=48, width=64)
    node, pub, client = fleet["node"], fleet["pubs"][robot], fleet["clients"][robot]
    held = []

    def answered():
        nonlocal held
        for stamp, (_, img) in zip(sent, frames):
            if stamp not in held:
                pub.publish(array_to_image_msg(img, "rgb8", header=Header(stamp=ns_to_time(stamp))))
                time.sleep(0.02)
        res = call(node, client, SpatialQuery.Request(question="How many boxes?"))
        held = stamps(res) if res.success else []
        return held == sent

    assert wait_for(answered, timeout=60, interval=0.3), (robot, held)


def test_one_process_one_model_each_robot_its_own_frames_and_parameters(fleet):
    assert "one process for node /robot1/spacemind_node, /robot2/spacemind_node, /robot3/spacemind_node" \
        in fleet["first_line"]
    for k, robot in enumerate(ROBOTS):  # stamps 100 s, 200 s, 300 s apart prove whose frames answered
        feed(fleet, robot, [(100 * (k + 1) + i) * S for i in range(4)])
    node = fleet["node"]
    names = {n for n, _ in node.get_node_names_and_namespaces()}
    assert names >= {"spacemind_node"}
    got = {}
    for robot in ROBOTS:
        client = node.create_client(GetParameters, f"/{robot}/spacemind_node/get_parameters")
        assert client.wait_for_service(timeout_sec=10)
        values = call(node, client, GetParameters.Request(names=["queue_limit", "min_frames"])).values
        got[robot] = (values[0].integer_value, values[1].integer_value)
    assert got == {"robot1": (12, 3), "robot2": (2, 3), "robot3": (1, 4)}  # each section applied to its robot only


def test_diagnostics_per_robot_on_one_model(fleet):
    seen = {}
    fleet["node"].create_subscription(DiagnosticArray, "/diagnostics",
                                      lambda m: seen.update({s.name: s for s in m.status}), 10)
    parts = {f"{r}/spacemind_node: {part}" for r in ROBOTS for part in ("intake", "model")}
    assert wait_for(lambda: parts <= set(seen), timeout=20), sorted(seen)
    for robot in ROBOTS:
        values = {kv.key: kv.value for kv in seen[f"{robot}/spacemind_node: model"].values}
        assert values["robots_on_model"] == "3" and values["configured"] == "True"
        intake = {kv.key: kv.value for kv in seen[f"{robot}/spacemind_node: intake"].values}
        assert intake["image_topic"] == f"/{robot}/image"


def test_a_flooded_robot_does_not_reach_the_others(fleet):
    node, clients = fleet["node"], fleet["clients"]
    feed(fleet, "robot1", [(500 + i) * S for i in range(4)])
    feed(fleet, "robot3", [(700 + i) * S for i in range(4)])
    feed(fleet, "robot2", [(600 + i) * S for i in range(4)])
    # robot2: undecodable frames, frames too wide, bad requests and more queries than its lane holds
    pub = fleet["pubs"]["robot2"]
    bad = Image(header=Header(stamp=ns_to_time(900 * S)), height=48, width=64, encoding="rgb8", step=192,
                data=bytes(10))  # 10 bytes for a 48x64 image
    for i in range(50):
        pub.publish(bad)
        pub.publish(array_to_image_msg(np.zeros((2, 640, 3), np.uint8), "rgb8",
                                       header=Header(stamp=ns_to_time((610 + i) * S))))
    storm = [clients["robot2"].call_async(SpatialQuery.Request(question="How many boxes?")) for _ in range(20)]
    storm += [clients["robot2"].call_async(SpatialQuery.Request(question="")) for _ in range(20)]
    for robot, sent in (("robot1", 500), ("robot3", 700)):
        res = call(node, clients[robot], SpatialQuery.Request(question="How many boxes?"), timeout=120)
        assert res.success, (robot, res.error_code, res.error_message)
        assert stamps(res) == [(sent + i) * S for i in range(4)]  # robot2's frames never reached its window
    assert wait_for(lambda: all(f.done() for f in storm), timeout=180)
    codes = [f.result().error_code for f in storm]
    assert codes.count("BUSY") >= 1 and set(codes[:20]) == {"", "BUSY"}, codes  # its lane holds 1 + 2
    assert codes[20:] == ["BAD_REQUEST"] * 20
    assert stamps(call(node, clients["robot2"], SpatialQuery.Request(question="How many?"), timeout=120)) == \
        [(600 + i) * S for i in range(4)]  # robot2's own window lost nothing to the bad frames either


def test_a_quiet_robot_is_answered_while_a_loud_one_waits(fleet):
    node, clients = fleet["node"], fleet["clients"]
    feed(fleet, "robot1", [(1100 + i) * S for i in range(4)])
    feed(fleet, "robot3", [(1300 + i) * S for i in range(4)])
    done_order, lock = [], threading.Lock()

    def record(name):
        def callback(_future):
            with lock:
                done_order.append(name)
        return callback

    loud = []
    for i in range(10):  # ten queries from robot1 (its lane holds 13), then one from robot3
        f = clients["robot1"].call_async(SpatialQuery.Request(question="How many boxes?"))
        f.add_done_callback(record(f"loud{i}"))
        loud.append(f)
    assert wait_for(lambda: len(done_order) >= 1, timeout=60)  # robot1's queue is full and running
    with lock:
        before = len(done_order)
    quiet = clients["robot3"].call_async(SpatialQuery.Request(question="How many boxes?"))
    quiet.add_done_callback(record("quiet"))
    assert wait_for(lambda: quiet.done() and all(f.done() for f in loud), timeout=240)
    assert quiet.result().success and all(f.result().success for f in loud)
    # round-robin: the quiet query runs right after the loud query running when it came (or one or two after,
    # taken while its request travelled on a loaded machine), never behind the loud robot's whole queue (9 more)
    assert done_order.index("quiet") - before <= 3 and len(done_order) - done_order.index("quiet") >= 4, done_order
