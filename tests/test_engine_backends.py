"""Whole queries through the onnxruntime backend give the torch backend's greedy answers: in process, over the
``spacemind ask`` CLI and over the node (its own process)."""
import json
import subprocess
import sys
import time

import pytest
import torch

from spacemind_ros.engine import GraphBackend, TorchBackend, open_backend
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames
from tests.conftest import NON_SQUARE_HW

# The session fixture exports VGGT once (about 1.5 min of CPU on the tiny preset; more on a loaded machine).
pytestmark = pytest.mark.timeout(1200)
S = 1_000_000_000
QUESTIONS = [dict(question="How far is the red box from the blue box?"),
             dict(question="Which box is closest to the camera?", options=["A. red", "B. green", "C. blue"]),
             dict(question="How many boxes are there?")]


def reasoner(model, processor, encoders, frames):
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(), encoders=encoders)
    for stamp, img in frames:
        r.add_frame(stamp, img)
    return r


def test_onnxruntime_reasoner_answers_like_torch(tiny_engines):
    model, processor, engine_dir, _ = tiny_engines
    ort_backend, why = open_backend("onnxruntime", model, engine_dir=engine_dir, vggt_hw=NON_SQUARE_HW)
    assert isinstance(ort_backend, GraphBackend) and why == "onnxruntime requested"
    assert "CPUExecutionProvider" in ort_backend.description
    torch_backend, _ = open_backend("pytorch", model)  # the old name still works
    assert isinstance(torch_backend, TorchBackend)
    frames = [(s + S, img) for s, img in walkthrough_frames(num_frames=40)]
    a, b = reasoner(model, processor, ort_backend, frames), reasoner(model, processor, torch_backend, frames)
    try:
        for q in QUESTIONS:
            x, y = a.ask(**q), b.ask(**q)
            assert x.success and y.success, (x.error_message, y.error_message)
            assert (x.answer, x.choice, x.value, x.frame_stamps) == (y.answer, y.choice, y.value, y.frame_stamps)
        ra, rb = a.route("the blue box"), b.route("the blue box")
        assert ra.success and ra.answer == rb.answer
        # The encoders themselves agree with torch on the same window.
        pixels = torch.stack([processor.internvl_pixels(img) for _, img in frames[:7]])
        assert float((ort_backend.visual_tokens(pixels) - model.visual_tokens(pixels)).abs().max()) < 1e-4
        vggt = processor.vggt_pixels([img for _, img in frames[:7]])[None]
        got, want = ort_backend.spatial_tokens(vggt), model.spatial_tokens(vggt)
        assert float((got.extrinsic - want.extrinsic).abs().max()) < 1e-4
        # One frame is below the exported VGGT range (2..64): it runs in torch, same numbers.
        one = ort_backend.spatial_tokens(vggt[:, :1])
        assert torch.equal(one.patch_tokens, model.spatial_tokens(vggt[:, :1]).patch_tokens)
    finally:
        a.close()
        b.close()


def test_auto_on_cpu_keeps_torch_and_says_why(tiny_engines):
    model, _, engine_dir, _ = tiny_engines
    backend, why = open_backend("auto", model, engine_dir=engine_dir)
    assert isinstance(backend, TorchBackend) and why.startswith("auto: torch") and "CPU" in why


def _ask_cli(backend: str, engine_dir) -> dict:
    cmd = [sys.executable, "-m", "spacemind_ros.cli", "ask", "How far is the red box from the blue box?",
           "--demo-scene", "--preset", "tiny", "--backend", backend, "--engine-dir", str(engine_dir)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout), out.stderr


def test_cli_ask_onnxruntime_equals_torch(tiny_engines):
    _, _, engine_dir, _ = tiny_engines
    (ort_answer, ort_log), (torch_answer, _) = _ask_cli("onnxruntime", engine_dir), _ask_cli("torch", engine_dir)
    assert "backend: onnxruntime (CPUExecutionProvider" in ort_log
    assert "exporting" not in ort_log  # the session's exports were found in the cache
    for field in ("success", "answer", "value", "unit", "choice", "frame_stamps_ns"):
        assert ort_answer[field] == torch_answer[field], field
    assert ort_answer["success"]


@pytest.mark.ros
def test_node_with_onnxruntime_backend_answers_like_torch(tiny_engines):
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from spacemind_interfaces.srv import SpatialQuery
    from std_msgs.msg import Header

    from spacemind_ros.images import array_to_image_msg
    from spacemind_ros.ros.conversions import ns_to_time
    from tests.rostools import call, ros_node, start_node, stop, wait_for

    model, processor, engine_dir, _ = tiny_engines
    frames = {s + S: img for s, img in walkthrough_frames(num_frames=12)}
    proc = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, backend="onnxruntime",
                      engine_dir=str(engine_dir))
    try:
        with ros_node("engine_node_client") as node:
            query = node.create_client(SpatialQuery, "/spatial_query")
            assert query.wait_for_service(timeout_sec=60)
            ready = wait_for(lambda: call(node, query, SpatialQuery.Request(question="q")).error_code
                             not in ("NOT_READY",), timeout=300)
            assert ready, "node did not become active"
            pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
            assert wait_for(lambda: pub.get_subscription_count() > 0, timeout=30)
            for stamp, img in frames.items():
                pub.publish(array_to_image_msg(img, "rgb8", header=Header(stamp=ns_to_time(stamp))))
                time.sleep(0.05)
            question = "How far is the red box from the blue box?"
            res = call(node, query, SpatialQuery.Request(question=question, timeout_s=120.0), timeout=180)
            assert res.success, res.error_message
    finally:
        out = stop(proc)
    assert "backend: onnxruntime (CPUExecutionProvider" in out, out[-3000:]
    stamps = [t.sec * S + t.nanosec for t in res.frame_stamps]
    assert len(stamps) >= 4 and set(stamps) <= set(frames)
    # The torch reasoner on exactly the frames the node used gives the same greedy answer.
    r = reasoner(model, processor, None, [(s, frames[s]) for s in stamps])
    try:
        want = r.ask(question)
    finally:
        r.close()
    assert want.success and res.answer == want.answer and res.value == pytest.approx(want.value, nan_ok=True)


@pytest.mark.ros
def test_node_explicit_backend_that_cannot_start_fails_configure_and_stays_alive(tiny_engines):
    from tests.rostools import start_node, stop, wait_for

    from spacemind_ros.engine.tensorrt import tensorrt_available

    if tensorrt_available()[0]:
        pytest.skip("TensorRT is importable here")
    proc = start_node(autostart=True, backend="tensorrt")
    try:
        assert not wait_for(lambda: proc.poll() is not None, timeout=20)  # still running
    finally:
        out = stop(proc)
    assert "configure failed" in out and "TensorRT is not importable" in out, out[-3000:]
