"""SpatialReasoner on the tiny preset: answers, KV-prefix reuse equivalence, feature cache, every error path."""
import json
import os
import sys
import threading
import time

import numpy as np
import pytest
import torch

from spacemind_ros.model.presets import SMALL_QUERY_FRAMES, build_tiny
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import walkthrough_frames

S = 1_000_000_000


@pytest.fixture(scope="module")
def tiny():
    return build_tiny(seed=0)


def make(tiny, n=40, **cfg):
    model, processor = tiny
    r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(**cfg))
    for stamp, img in walkthrough_frames(num_frames=n, height=60, width=80):
        r.add_frame(stamp + S, img)
    return r


def test_answers_have_structure_and_stamps(tiny):
    r = make(tiny)
    a = r.ask("How far is the red box from the blue box?")
    assert a.success and a.task == "object_abs_distance" and a.answer
    assert len(a.frame_stamps) == 32 and a.frame_stamps == sorted(a.frame_stamps)
    assert set(a.stage_times_s) == {"preprocess", "internvit", "vggt", "cgmf", "prefill", "decode"}
    mc = r.ask("Which is closest to the door?", options=["A. red box", "B. blue box"])
    assert mc.success and mc.task == "object_rel_distance" and mc.choice in ("", "A", "B")
    route = r.route("the blue box", start="by the red box")
    assert route.success and route.task == "route_advice" and len(route.actions) == len(route.steps)
    json.dumps(a.to_dict())
    r.close()


def test_follow_up_reuses_prefix_and_matches_uncached(tiny):
    cached = make(tiny, kv_cache=True)
    plain = make(tiny, kv_cache=False, feature_cache=False)
    questions = ["How far is the red box from the blue box?", "How many boxes are there?",
                 "What is the size of this room?"]
    for i, q in enumerate(questions):
        a, b = cached.ask(q), plain.ask(q)
        assert a.success and b.success
        assert a.answer == b.answer and a.frame_stamps == b.frame_stamps
        assert a.cached_prefix == (i > 0) and not b.cached_prefix
        if i > 0:
            assert "vggt" not in a.stage_times_s and "prefill" not in a.stage_times_s
    key, prefix_embeds, prefix_cache = cached._prefix
    assert prefix_cache.get_seq_length() == prefix_embeds.shape[1]  # decoding's tokens were cropped off again
    # A follow-up canceled mid-decode leaves the prefix cache as it was: the next one still matches.
    cancel = threading.Event()
    stopped = cached.ask(questions[1], cancel=cancel,
                         progress=lambda stage, frames, partial: stage == "generating" and partial and cancel.set())
    assert stopped.error_code == "CANCELED" and cached._prefix[0] == key
    assert cached.ask(questions[1]).answer == plain.ask(questions[1]).answer
    cached.add_frame(cached.window.latest_stamp() + S, walkthrough_frames(1, 60, 80)[0][1])  # window changed: cold again
    assert not cached.ask(questions[0]).cached_prefix
    cached.close()
    plain.close()


def test_feature_worker_fills_cache_and_answers_match(tiny):
    r = make(tiny, feature_cache=True)
    assert r.wait_features()
    model, processor = tiny
    frames = r.window.frames()
    assert all(f.features is not None for f in frames)
    assert all(torch.equal(f.vggt_input, processor.vggt_frame(f.image)) for f in frames)
    assert frames[0].vggt_input.dtype == torch.uint8 and frames[0].vggt_input.shape == (3, 56, 56)  # 80x60 padded
    cold = make(tiny, feature_cache=False)
    no_vggt_cache = make(tiny, feature_cache=True, vggt_input_cache=False)
    assert no_vggt_cache.wait_features() and all(f.vggt_input is None for f in no_vggt_cache.window.frames())
    answers = {x.ask("How many boxes?").answer for x in (r, cold, no_vggt_cache)}
    assert len(answers) == 1  # the caches change the speed, never the answer
    for x in (r, cold, no_vggt_cache):
        x.close()


@pytest.mark.parametrize(
    "kwargs,code,match",
    [
        (dict(question=""), "BAD_REQUEST", "empty"),
        (dict(question="x" * 10_000), "BAD_REQUEST", "limit is 2000"),
        (dict(question="q", options=[f"{chr(65 + i % 26)}. o" for i in range(27)]), "BAD_REQUEST", "at most 26"),
        (dict(question="q", options=["sofa"]), "BAD_REQUEST", "must start with its letter"),
        (dict(question="q", task="telepathy"), "BAD_REQUEST", "unknown task"),
        (dict(question="q", until=10), "BAD_REQUEST", "before the oldest frame"),
        (dict(question="q", timeout=1e-6), "TIMEOUT", "timed out"),
    ],
)
def test_bad_requests(tiny, kwargs, code, match):
    r = make(tiny, n=8)
    a = r.ask(**kwargs)
    assert not a.success and a.error_code == code and match in a.error_message
    assert r.ask("How many boxes?").success  # still answers afterwards
    r.close()


def test_not_enough_frames_and_future_until(tiny):
    model, processor = tiny
    r = SpatialReasoner(model, processor, WindowConfig(min_frames=4), clock=lambda: 50 * S)
    a = r.ask("How many boxes?")
    assert a.error_code == "NOT_ENOUGH_FRAMES" and "publish images" in a.error_message
    r.add_frame(S, np.zeros((8, 8, 3), np.uint8))
    assert r.ask("How many boxes?").error_code == "NOT_ENOUGH_FRAMES"
    assert r.ask("How many boxes?", until=60 * S).error_code == "BAD_REQUEST"
    r.close()


def test_busy_and_cancel(tiny):
    r = make(tiny, queue_limit=0, min_new_tokens=1000, max_new_tokens=1000)
    started = threading.Event()
    results = {}

    def slow():
        results["slow"] = r.ask("How far is the red box?", progress=lambda *a: started.set())

    t = threading.Thread(target=slow)
    t.start()
    assert started.wait(30)
    busy = r.ask("How many boxes?")
    assert busy.error_code == "BUSY" and "retry" in busy.error_message
    t.join()
    assert results["slow"].success
    cancel = threading.Event()
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("a", r.ask(
        "How far?", cancel=cancel, progress=lambda stage, *_: stage == "generating" and cancel.set())))
    t.start()
    t.join()
    assert out["a"].error_code == "CANCELED"
    r.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread niceness is Linux behaviour")
def test_model_work_runs_on_its_own_threads_at_lower_os_priority(tiny):
    base = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    r = make(tiny, compute_nice=7)
    seen, torch_threads = {}, set()

    def progress(stage, frames, partial):
        seen[threading.current_thread().name] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        torch_threads.add(torch.get_num_threads())

    assert r.ask("How many boxes?", progress=progress).success
    assert r.wait_features()
    worker = r._worker
    expected = min(19, base + 7)
    assert list(seen.values()) == [expected] and next(iter(seen)).startswith("spacemind-inference")
    assert os.getpriority(os.PRIO_PROCESS, worker.native_id) == expected
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == base  # the caller's thread is untouched
    # queries keep the caller's torch thread count, not the feature worker's single thread
    assert torch_threads == {torch.get_num_threads()}
    r.close()


def test_close_stops_a_running_query(tiny):
    r = make(tiny, min_new_tokens=1000, max_new_tokens=1000)
    generating, out = threading.Event(), {}
    t = threading.Thread(target=lambda: out.setdefault("a", r.ask(
        "How far?", progress=lambda stage, *_: stage == "generating" and generating.set())))
    t.start()
    assert generating.wait(30)
    r.close()
    t.join(timeout=10)
    assert not t.is_alive() and out["a"].error_code == "CANCELED"


def test_bad_frame_is_rejected_and_loses_nothing(tiny):
    r = make(tiny, n=8)
    before = len(r.window)
    with pytest.raises(ValueError, match="NaN"):
        r.add_frame(500 * S, np.full((8, 8, 3), np.nan, np.float32))
    assert len(r.window) == before and r.ask("How many boxes?").success
    r.close()


def test_cli_over_folder_and_bag(tmp_path, capsys):
    from PIL import Image

    from spacemind_ros.cli import main
    from spacemind_ros.pipeline.sources import write_image_bag

    frames = walkthrough_frames(num_frames=12, height=60, width=80)
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, (_, img) in enumerate(frames):
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    assert main(["ask", "How many boxes are there?", "--images", str(folder)]) == 0
    out = json.loads(capsys.readouterr().out)
    # the default small model asks with the frames it trained with: 8 of the 12, sampled over the whole walk
    assert out["success"] and out["task"] == "object_counting" and len(out["frame_stamps_ns"]) == SMALL_QUERY_FRAMES
    write_image_bag(tmp_path / "bag", "/cam", frames, encoding="bgr8")
    assert main(["ask", "Which is closer?", "--options", "A. red", "B. blue", "--bag", str(tmp_path / "bag"),
                 "--topic", "/cam"]) == 0
    out = json.loads(capsys.readouterr().out)
    stamps = [s for s, _ in frames]
    assert out["success"] and len(out["frame_stamps_ns"]) == SMALL_QUERY_FRAMES
    assert out["frame_stamps_ns"] == sorted(set(out["frame_stamps_ns"]) & set(stamps))  # the bag's own, in order
    assert out["frame_stamps_ns"][0] < stamps[3] and out["frame_stamps_ns"][-1] > stamps[-4]  # the whole walk
    assert main(["ask", "q", "--bag", str(tmp_path / "bag"), "--topic", "/nope"]) == 2
    assert "not in" in capsys.readouterr().err
    assert main(["ask", "", "--images", str(folder)]) == 2  # a bad request is refused before the model loads
    assert "question is empty" in capsys.readouterr().err


def test_cli_over_video(tmp_path, capsys):
    import av

    from spacemind_ros.cli import main

    path = tmp_path / "scene.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 80, 64, "yuv420p"
        for _, img in walkthrough_frames(num_frames=10, height=64, width=80):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    assert main(["route", "the blue box", "--video", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["success"] and len(out["frame_stamps_ns"]) == SMALL_QUERY_FRAMES
