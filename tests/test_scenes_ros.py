"""A generated scene's bag streams into spacemind_node through the image player (three processes)."""
import json
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import qos_profile_sensor_data
from spacemind_interfaces.srv import SpatialQuery

from spacemind_ros.scenes import SceneSettings, write_scene
from spacemind_ros.scenes.bag import IMAGE_TOPIC, read_messages
from tests.rostools import call, ros_node, spawn, start_node, stop, wait_for

pytestmark = pytest.mark.ros
FRAMES = 40


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scene") / "synth"
    write_scene(9, folder, SceneSettings(width=160, height=120, frames=FRAMES))
    stamps = [t for t, _ in read_messages(folder / "bag", IMAGE_TOPIC)]
    records = [json.loads(line) for line in (folder / "questions.jsonl").read_text().splitlines()]
    return folder, stamps, records


def test_generated_bag_streams_into_the_node(scene):
    folder, stamps, records = scene
    node = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4)
    try:
        with ros_node("scene_bag_client") as client:
            query = client.create_client(SpatialQuery, "/spatial_query")
            assert query.wait_for_service(timeout_sec=30.0)
            assert wait_for(lambda: call(client, query, SpatialQuery.Request(question="r")).error_code
                            != "NOT_READY", timeout=60)
            diagnostics = []
            client.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
            player = spawn(["-m", "spacemind_ros.ros.image_player", "--bag", str(folder / "bag"),
                            "--bag-topic", IMAGE_TOPIC, "--rate", "15"])  # a camera's pace: best effort keeps up
            assert player.wait(timeout=120) == 0
            out = stop(player)
            assert f"published {FRAMES} frames" in out, out[-2000:]
            time.sleep(0.5)
            mc = next(r for r in records if r["options"])
            res = call(client, query, SpatialQuery.Request(question=mc["question"], options=mc["options"],
                                                           task=mc["question_type"]), timeout=120)
            assert res.success, res.error_message
            assert res.task == mc["question_type"]
            got = [t.sec * 1_000_000_000 + t.nanosec for t in res.frame_stamps]
            # The node answered from the bag's own frames: every stamp it used is one the bag holds.
            assert len(got) == 32 and set(got) <= set(stamps) and got == sorted(got)
            def received():
                return int({kv.key: kv.value for s in diagnostics[-1].status for kv in s.values}["frames_received"]) \
                    if diagnostics else 0

            assert wait_for(lambda: received() >= FRAMES - 2, timeout=10), f"{received()} of {FRAMES} frames"
    finally:
        out = stop(node, timeout=30)  # a busy shared machine can take a while to tear the node down
        assert node.returncode in (0, -15), out[-3000:]


def test_player_refuses_a_missing_topic(scene):
    folder, _, _ = scene
    player = spawn(["-m", "spacemind_ros.ros.image_player", "--bag", str(folder / "bag"), "--bag-topic", "/nope",
                    "--wait-subscriber", "0"])
    assert player.wait(timeout=60) != 0
    assert "topic '/nope' is not in" in stop(player)


def test_player_publishes_perturbed_frames(scene):
    """--perturb blind: every frame a subscriber in another process receives is the grey image, at the bag's
    stamps; a query perturbation is refused with how to set it on the node."""
    from sensor_msgs.msg import Image

    from spacemind_ros.eval.perturbations import GREY
    from spacemind_ros.images import image_msg_to_rgb8

    folder, stamps, _ = scene
    with ros_node("perturbed_player_listener") as listener:
        got = []
        listener.create_subscription(Image, "/image", got.append, qos_profile_sensor_data)
        player = spawn(["-m", "spacemind_ros.ros.image_player", "--bag", str(folder / "bag"), "--bag-topic",
                        IMAGE_TOPIC, "--rate", "30", "--perturb", "blind", "--perturb", "drop:0.3"])
        assert player.wait(timeout=120) == 0
        out = stop(player)
        assert wait_for(lambda: len(got) >= 5, timeout=10), out
    sent = int(out.split("published ")[1].split()[0])
    assert "dropped by --perturb drop" in out and sent < FRAMES
    assert all((image_msg_to_rgb8(m) == GREY).all() for m in got)
    assert {m.header.stamp.sec * 1_000_000_000 + m.header.stamp.nanosec for m in got} <= set(stamps)
    refused = spawn(["-m", "spacemind_ros.ros.image_player", "--perturb", "shuffle", "--wait-subscriber", "0"])
    assert refused.wait(timeout=60) == 2 and "eval_perturbation:=shuffle" in stop(refused)
