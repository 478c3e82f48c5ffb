"""spacemind_node across processes: node in a child process, image publisher in another, client here."""
import math
import threading
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from spacemind_interfaces.msg import SpatialAnswer
from spacemind_interfaces.srv import RouteAdvice, SpatialQuery

from spacemind_ros.images import array_to_image_msg
from tests.rostools import call, ros_node, spawn, start_node, stop, wait_for

pytestmark = pytest.mark.ros
S = 1_000_000_000


@pytest.fixture(scope="module")
def node_proc():
    proc = start_node(autostart=True, keyframe_gap_s=0.0, queue_limit=0, min_frames=4,
                      compressed_topic="image/compressed")
    yield proc
    out = stop(proc)
    assert proc.returncode in (0, -15), out[-3000:]


@pytest.fixture(scope="module")
def client(node_proc):
    with ros_node("node_test_client") as node:
        query = node.create_client(SpatialQuery, "spatial_query")
        route = node.create_client(RouteAdvice, "route_advice")
        assert query.wait_for_service(timeout_sec=30.0) and route.wait_for_service(timeout_sec=30.0)
        assert wait_for(lambda: call(node, query, SpatialQuery.Request(question="ready?")).error_code != "NOT_READY",
                        timeout=60)
        diagnostics = []
        node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
        answers = []
        node.create_subscription(SpatialAnswer, "/spacemind_node/answers", answers.append, 10)
        pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
        cpub = node.create_publisher(CompressedImage, "image/compressed", qos_profile_sensor_data)
        yield dict(node=node, query=query, route=route, diagnostics=diagnostics, answers=answers, pub=pub, cpub=cpub)


def ask(c, **fields):
    return call(c["node"], c["query"], SpatialQuery.Request(**fields))


def last_diag(c):
    assert wait_for(lambda: c["diagnostics"], timeout=10)
    return {kv.key: kv.value for status in c["diagnostics"][-1].status for kv in status.values}  # intake + model


def test_query_before_any_frame_is_not_enough_frames(client):
    res = ask(client, question="How many boxes?")
    assert not res.success and res.error_code == "NOT_ENOUGH_FRAMES"


def test_three_processes_answer_with_published_stamps(client):
    # --restamp: each frame carries its publishing time, so the answer's stamps must fall inside this interval
    started = time.time_ns()
    player = spawn(["-m", "spacemind_ros.ros.image_player", "--rate", "30", "--restamp"])
    assert player.wait(timeout=60) == 0
    finished = time.time_ns()
    stop(player)
    time.sleep(0.3)
    res = ask(client, question="How far is the red box from the blue box?")
    assert res.success, res.error_message
    stamps = [t.sec * S + t.nanosec for t in res.frame_stamps]
    assert len(stamps) == 32 and stamps == sorted(set(stamps)) and started < stamps[0] and stamps[-1] < finished
    assert res.task == "object_abs_distance" and res.unit in ("m", "") and res.latency_s > 0
    route = call(client["node"], client["route"], RouteAdvice.Request(goal="the blue box"))
    assert route.success and len(route.actions) == len(route.steps) == len(route.landmarks)
    assert not route.path.poses and "geometry_dense_heads" in route.path_note  # no depth head: no Path, and why
    assert wait_for(lambda: any(a.question.startswith("How far") for a in client["answers"]), timeout=10)
    d = last_diag(client)
    # 48 best-effort frames at 30 Hz: a loaded 2-core machine loses a few in transport (38 arrived once); the
    # window must still hold the 32 a query samples
    assert int(d["frames_received"]) >= 32 and int(d["window_fill"]) >= 32 and d["backend"] == "torch"


@pytest.mark.parametrize(
    "fields,code,match",
    [
        (dict(question=""), "BAD_REQUEST", "empty"),
        (dict(question="x" * 10_000), "BAD_REQUEST", "limit is 2000"),
        (dict(question="q", options=[f"{chr(65 + i % 26)}. o" for i in range(27)]), "BAD_REQUEST", "at most 26"),
        (dict(question="q", options=["sofa", "bed"]), "BAD_REQUEST", "must start with its letter"),
        (dict(question="q", task="telepathy"), "BAD_REQUEST", "unknown task"),
        (dict(question="q", until=Time(sec=2_000_000_000)), "BAD_REQUEST", "in the future"),
        (dict(question="q", until=Time(sec=0, nanosec=1)), "BAD_REQUEST", "before the oldest frame"),
        (dict(question="How far is the red box?", timeout_s=0.0005), "TIMEOUT", "timed out"),
    ],
    ids=["empty", "huge", "27-options", "no-letters", "unknown-task", "until-future", "until-before", "timeout"],
)
def test_bad_requests_then_a_good_one(client, fields, code, match):
    res = ask(client, **fields)
    assert not res.success and res.error_code == code and match in res.error_message
    assert math.isnan(res.value)
    assert ask(client, question="How many boxes are there?").success


def test_busy_beyond_the_queue(client):
    futures = [client["route"].call_async(RouteAdvice.Request(goal="the blue box"))]
    futures += [client["query"].call_async(SpatialQuery.Request(question="How many boxes?")) for _ in range(6)]
    assert wait_for(lambda: all(f.done() for f in futures), timeout=60)
    codes = [f.result().error_code for f in futures]
    assert "BUSY" in codes and "" in codes
    assert ask(client, question="How many boxes?").success


@pytest.mark.parametrize(
    "msg,why",
    [
        (Image(height=4, width=4, encoding="nv21", step=8, data=bytes(32)), "unknown encoding"),
        (Image(height=4, width=4, encoding="rgb8", step=5, data=bytes(20)), "wrong step"),
        (Image(height=4, width=4, encoding="rgb8", step=12, data=bytes(47)), "wrong data length"),
        (Image(height=0, width=0, encoding="rgb8", step=0, data=b""), "zero size"),
        (CompressedImage(format="jpeg", data=b"definitely not a jpeg"), "undecodable jpeg"),
    ],
)
def test_bad_images_are_dropped_and_counted(client, msg, why):
    before = int(last_diag(client)["frames_dropped"])
    client["diagnostics"].clear()
    (client["cpub"] if isinstance(msg, CompressedImage) else client["pub"]).publish(msg)
    assert wait_for(lambda: client["diagnostics"] and int(last_diag(client)["frames_dropped"]) > before,
                    timeout=15), why
    intake = next(s for m in client["diagnostics"] for s in m.status if s.name == "spacemind_node: intake"
                  and int({kv.key: kv.value for kv in s.values}["frames_dropped"]) > before)
    assert intake.level == DiagnosticStatus.WARN and "dropped" in intake.message  # the report that counted it
    assert ask(client, question="How many boxes are there?").success


def test_parameter_validation(client):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    node = client["node"]
    setp = node.create_client(SetParameters, "/spacemind_node/set_parameters")
    assert setp.wait_for_service(timeout_sec=10)

    def set_(name, value):
        kind = ParameterType.PARAMETER_INTEGER if isinstance(value, int) else ParameterType.PARAMETER_STRING
        pv = ParameterValue(type=kind, integer_value=value) if isinstance(value, int) else \
            ParameterValue(type=kind, string_value=value)
        return call(node, setp, SetParameters.Request(parameters=[Parameter(name=name, value=pv)])).results[0]

    assert not set_("window_max_frames", 1).successful  # below the declared range
    assert not set_("queue_limit", 1000).successful
    assert not set_("model_path", "/elsewhere").successful  # read-only
    assert set_("queue_limit", 0).successful
    assert set_("keyframe_gap_s", 0).successful  # an INTEGER for a DOUBLE parameter is taken as 0.0
