"""Two namespaced nodes side by side, each started by spacemind_launch on the shell's ROS_DOMAIN_ID: each answers
its own clients, a params file applies under a namespace, integers are accepted for doubles, the ``spacemind query``
client finds a namespaced node and says where it looked when nothing answers."""
import json
import os
import subprocess
import sys
import time

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.srv import GetParameters
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from spacemind_interfaces.srv import SpatialQuery
from std_msgs.msg import Header

from spacemind_ros.images import array_to_image_msg
from spacemind_ros.pipeline.answer_json import QUESTION_KEYS, UNTRAINED_WARNING
from spacemind_ros.ros.conversions import ns_to_time
from spacemind_ros.ros.environment import loopback_environment, shell_environment
from spacemind_ros.ros.parameters import to_yaml
from spacemind_ros.scenes import walkthrough_frames
from tests.rostools import call, ros_node, stop, wait_for

pytestmark = pytest.mark.ros
S = 1_000_000_000


def runner(*arguments):
    """spacemind_launch in a child, given only the shell's ROS_DOMAIN_ID (this test run's) and loopback settings."""
    env = loopback_environment(int(os.environ["ROS_DOMAIN_ID"]))
    env.pop("SPACEMIND_ROS_DOMAIN_ID", None)
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, "-m", "spacemind_ros.ros.runner", *arguments], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def robots(tmp_path_factory):
    params = yaml.safe_load(to_yaml())
    values = params["/**"]["ros__parameters"]
    values.update(min_frames=3, keyframe_gap_s=0, window_duration_s=30, preset="tiny")  # integers for two doubles
    params_file = tmp_path_factory.mktemp("params") / "robot1.yaml"
    params_file.write_text(yaml.safe_dump(params))
    procs = [runner("namespace:=robot1", f"params_file:={params_file}", "window_max_frames:=64"),
             runner("namespace:=/robot2", "keyframe_gap_s:=0", "window_duration_s:=60", "preset:=tiny")]  # ints
    first_lines = [p.stdout.readline() for p in procs]  # the runner's own line comes before the node starts
    try:
        with ros_node("namespaces_test_client") as node:
            clients = {r: node.create_client(SpatialQuery, f"/{r}/spatial_query") for r in ("robot1", "robot2")}
            assert all(c.wait_for_service(timeout_sec=60) for c in clients.values()), "namespaced nodes did not come up"
            for c in clients.values():
                assert wait_for(lambda c=c: call(node, c, SpatialQuery.Request(question="r")).error_code != "NOT_READY",
                                timeout=90)
            yield dict(node=node, clients=clients, procs=procs, first_lines=first_lines)
    finally:
        outputs = [stop(p, timeout=40) for p in procs]  # the runner gives its node 10 s, then SIGKILL
        for p, out in zip(procs, outputs):
            assert p.returncode in (0, -15), out[-3000:]


def get_params(node, robot, names):
    client = node.create_client(GetParameters, f"/{robot}/spacemind_node/get_parameters")
    assert client.wait_for_service(timeout_sec=10)
    values = call(node, client, GetParameters.Request(names=names)).values
    return {n: (v.type, v.integer_value, v.double_value) for n, v in zip(names, values)}


def test_params_file_under_a_namespace_and_integers_for_doubles(robots):
    node = robots["node"]
    one = get_params(node, "robot1", ["min_frames", "keyframe_gap_s", "window_duration_s", "window_max_frames"])
    assert one["min_frames"] == (2, 3, 0.0)  # INTEGER 3: the params file applied under /robot1
    assert one["keyframe_gap_s"] == (3, 0, 0.0) and one["window_duration_s"] == (3, 0, 30.0)  # DOUBLE
    assert one["window_max_frames"] == (2, 64, 0.0)  # the one argument given overrides the file
    two = get_params(node, "robot2", ["min_frames", "window_duration_s"])
    assert two["min_frames"] == (2, 4, 0.0) and two["window_duration_s"] == (3, 0, 60.0)


def test_each_node_answers_its_own_clients(robots):
    node, clients = robots["node"], robots["clients"]
    names = {n for n, _ in node.get_service_names_and_types()}
    assert "/spatial_query" not in names
    assert {"/robot1/route_advice", "/robot2/spatial_query_action/_action/send_goal"} <= names
    frames = walkthrough_frames(num_frames=6, height=48, width=64)
    sent, pubs = {}, {}
    for robot, base in (("robot1", 10), ("robot2", 20)):
        pubs[robot] = node.create_publisher(Image, f"/{robot}/image", qos_profile_sensor_data)
        assert wait_for(lambda: pubs[robot].get_subscription_count() == 1, timeout=20)
        sent[robot] = [(base + i) * S for i in range(4 if robot == "robot1" else 6)]

    held = {robot: [] for robot in sent}

    def answer(robot):
        # Best effort with a history of 5 (sensor-data QoS): a burst of 6 loses its first frame whenever the node's
        # intake lags, so each retry resends only what the last answer lacked, a frame at a time.
        for stamp, (_, img) in zip(sent[robot], frames):
            if stamp not in held[robot]:
                pubs[robot].publish(array_to_image_msg(img, "rgb8", header=Header(stamp=ns_to_time(stamp))))
                time.sleep(0.02)
        res = call(node, clients[robot], SpatialQuery.Request(question="How many boxes?"))
        held[robot] = [t.sec * S + t.nanosec for t in res.frame_stamps] if res.success else []
        return held[robot]

    for robot in ("robot1", "robot2"):  # each answers from its own frames only
        assert wait_for(lambda r=robot: answer(r) == sent[r], timeout=30, interval=0.3), (robot, answer(robot))


def test_diagnostics_are_named_per_node(robots):
    node, seen = robots["node"], {}
    node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: seen.update({s.name: s for s in m.status}), 10)
    parts = {f"robot{i}/spacemind_node: {part}" for i in (1, 2) for part in ("intake", "model")}
    assert wait_for(lambda: parts <= set(seen), timeout=20), sorted(seen)
    model = seen["robot1/spacemind_node: model"]
    assert model.level == DiagnosticStatus.OK and "untrained" in model.message
    # no frame for over 3 s while active: a stale input
    assert wait_for(lambda: seen["robot2/spacemind_node: intake"].level == DiagnosticStatus.WARN
                    and "stale" in seen["robot2/spacemind_node: intake"].message, timeout=20)


def spacemind(*args, domain=None):
    env = loopback_environment(int(os.environ["ROS_DOMAIN_ID"]) if domain is None else domain)
    return subprocess.run([sys.executable, "-m", "spacemind_ros.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def test_client_finds_a_namespaced_node_and_says_where_it_looked(robots):
    done = spacemind("query", "How many boxes?", "--namespace", "robot2")
    out = json.loads(done.stdout)
    assert list(out)[:len(QUESTION_KEYS)] == list(QUESTION_KEYS) and out["via"]["service"] == "/robot2/spatial_query"
    assert out["trained"] is False and out["warning"] == UNTRAINED_WARNING  # read from the node's model_path
    assert out["frame_stamps_s"] == [s / 1e9 for s in out["frame_stamps_ns"]]
    domain = int(os.environ["ROS_DOMAIN_ID"])
    missed = spacemind("query", "How many boxes?", "--wait", "3")
    assert missed.returncode == 3
    assert f"no /spatial_query answered within 3 s on ROS_DOMAIN_ID={domain}, discovery LOCALHOST" in missed.stderr
    assert "/robot1/spatial_query, /robot2/spatial_query (use --namespace)" in missed.stderr


def test_runner_uses_the_shells_domain_and_loopback(robots):
    domain = int(os.environ["ROS_DOMAIN_ID"])  # the clients above found both nodes on it
    one, two = robots["first_lines"]
    assert f"[runner] ROS_DOMAIN_ID={domain}, discovery LOCALHOST (loopback only); node /robot1/spacemind_node" in one
    assert "node /robot2/spacemind_node, params_file " in two and "config/spacemind.yaml" in two


def test_shell_environment():
    shell = {"ROS_DOMAIN_ID": "42", "PATH": "/bin"}  # a shell with a domain and default (network) discovery
    env = shell_environment(base=shell)
    assert env["ROS_DOMAIN_ID"] == "42" and env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    assert env["FASTDDS_DEFAULT_PROFILES_FILE"].endswith("fastdds_localhost.xml")
    assert shell_environment(base={})["ROS_DOMAIN_ID"] == "0"  # unset: ROS's default domain, not a random one
    assert shell_environment(network=True, base=shell) == shell  # --network: discovery as the shell has it
    with pytest.raises(ValueError, match="not a number"):
        shell_environment(base={"ROS_DOMAIN_ID": "seven"})
