"""A checkpoint written by the trainer is served by spacemind_node (model_path) in another process and answers."""
import pytest
import torch
from spacemind_interfaces.srv import SpatialQuery

from spacemind_ros.train.trainer import Trainer
from tests.rostools import call, ros_node, spawn, start_node, stop, wait_for
from tests.train_helpers import TOPIC, tiny_config, write_scenes

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_node_serves_a_trained_checkpoint(tmp_path):
    scenes = write_scenes(tmp_path / "scenes")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        summary = Trainer(tiny_config(tmp_path / "run", scenes, "train.max_steps=2", "output.tensorboard=false",
                                      "data.eval=[]")).fit()
    finally:
        torch.set_num_threads(threads)
    final = summary["final_checkpoint"]
    node = start_node(autostart=True, model_path=final, keyframe_gap_s=0.0, min_frames=4)
    try:
        with ros_node("train_node_test_client") as client:
            query = client.create_client(SpatialQuery, "/spatial_query")
            assert query.wait_for_service(timeout_sec=60.0)
            assert wait_for(lambda: call(client, query, SpatialQuery.Request(question="ready?")).error_code
                            != "NOT_READY", timeout=120)
            player = spawn(["-m", "spacemind_ros.ros.image_player", "--bag", str(scenes.parent / "bags" / "scene0"),
                            "--bag-topic", TOPIC, "--rate", "30", "--restamp"])
            assert player.wait(timeout=60) == 0, stop(player)
            res = call(client, query, SpatialQuery.Request(question="How many boxes are in this room?"))
            assert res.success, res.error_message
            # best-effort image QoS on a loaded machine may lose a frame or two of the 12; the query needs 4
            assert res.task == "object_counting" and 4 <= len(res.frame_stamps) <= 12
    finally:
        out = stop(node)
    assert node.returncode in (0, -15), out[-3000:]
    assert final in out and "untrained" not in out, out[-3000:]
