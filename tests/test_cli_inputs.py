"""``spacemind ask/route``: every argument checked before the model loads, bad images skipped and counted, a frame
budget that keeps memory flat with video length, the untrained banner and the shared JSON schema."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from spacemind_ros import cli
from spacemind_ros.pipeline import sources
from spacemind_ros.pipeline.answer_json import QUESTION_KEYS, ROUTE_KEYS, SMALL_WARNING, UNTRAINED_WARNING
from spacemind_ros.scenes import walkthrough_frames

COMMON_KEYS = ["frame_stamps_ns", "frame_stamps_s", "latency_s", "trained", "warning", "via"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    good = root / "good"
    good.mkdir()
    for i, (_, img) in enumerate(walkthrough_frames(num_frames=6, height=48, width=64)):
        Image.fromarray(img).save(good / f"{i:03d}.png")
    (root / "empty").mkdir()
    (root / "not_a_video.mp4").write_bytes(b"this is not a video")
    bag = root / "bag"
    sources.write_image_bag(bag, "/camera/image_raw", walkthrough_frames(num_frames=4, height=48, width=64))
    return root


@pytest.fixture
def model_loads(monkeypatch):
    """Records every model load; the checks must come first, so these tests expect none."""
    import spacemind_ros.model.presets as presets

    calls = []
    monkeypatch.setattr(presets, "load_model", lambda *a, **k: calls.append((a, k)) or presets.build_tiny())
    return calls


@pytest.mark.parametrize(
    "argv,message",
    [
        (["ask", "How many boxes?", "--images", "{root}/missing"], "does not exist"),
        (["ask", "How many boxes?", "--images", "{root}/good/000.png"], "is a file, not a folder"),
        (["ask", "How many boxes?", "--images", "{root}/empty"], "no images"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--task", "telepathy"], "unknown task"),
        (["ask", "Which is closer?", "--images", "{root}/good", "--options", "sofa", "bed"],
         "must start with its letter"),
        (["ask", "Which is closer?", "--images", "{root}/good", "--options", "A. sofa", "C. bed"], "expected B"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--task", "object_counting", "--options", "A. 1"],
         "options must be empty"),
        (["ask", "  ", "--images", "{root}/good"], "question is empty"),
        (["ask", "x" * 2001, "--images", "{root}/good"], "the limit is 2000"),
        (["route", "", "--images", "{root}/good"], "goal is empty"),
        (["ask", "How many boxes?", "--video", "{root}/missing.mp4"], "does not exist"),
        (["ask", "How many boxes?", "--video", "{root}/not_a_video.mp4"], "not a readable video"),
        (["ask", "How many boxes?", "--bag", "{root}/missing_bag"], "does not exist"),
        (["ask", "How many boxes?", "--bag", "{root}/bag", "--topic", "/elsewhere"], "'/elsewhere' is not in"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--model", "{root}/empty"], "not a SpaceMind folder"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--fps", "0"], "--fps 0.0 must be > 0"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--min-gap", "-1"], "--min-gap"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--max-frames", "0"], "--max-frames"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--min-frames", "0"], "--min-frames"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--timeout", "-1"], "--timeout"),
        (["ask", "How many boxes?", "--images", "{root}/good", "--device", "tpu"], "not a torch device"),
    ],
)
def test_input_errors_come_before_the_model_loads(data, model_loads, capsys, argv, message):
    code = cli.main([a.format(root=data) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert "spacemind: error:" in err and "Traceback" not in err
    assert model_loads == [], "the model was loaded before the arguments were checked"


def run_cli(capsys, argv):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_bad_images_in_a_folder_are_skipped_and_counted(data, tmp_path, model_loads, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for path in (data / "good").iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    buf = (folder / "000.png").read_bytes()
    Image.open(folder / "000.png").convert("RGB").save(folder / "002b.jpg", quality=90)
    jpeg = (folder / "002b.jpg").read_bytes()
    (folder / "002b.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # truncated JPEG
    (folder / "003b.png").write_bytes(buf[:40])  # a PNG header and nothing else
    code, out, err = run_cli(capsys, ["ask", "How many boxes are there?", "--images", str(folder)])
    assert code == 0 and out["success"], out
    assert out["via"]["frames_read"] == 6 and out["via"]["frames_skipped"] == 2 and out["via"]["frames_kept"] == 6
    assert "skipped 002b.jpg" in err and "skipped 003b.png" in err and len(model_loads) == 1


def write_bag_with_bad_messages(path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    ImageMsg, Header, Time = (store.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                      "builtin_interfaces/msg/Time"))
    rng = np.random.default_rng(0)
    messages = []
    for i in range(6):
        img = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
        fields = dict(height=24, width=32, encoding="rgb8", step=96, data=img.reshape(-1))
        if i == 2:
            fields.update(encoding="nv21")  # unknown encoding
        if i == 4:
            fields.update(data=img.reshape(-1)[:-5])  # data shorter than step * height
        messages.append(ImageMsg(header=Header(stamp=Time(sec=i, nanosec=0), frame_id="camera"), is_bigendian=0,
                                 **fields))
    with Writer(path, version=8) as writer:
        conn = writer.add_connection("/camera/image_raw", ImageMsg.__msgtype__, typestore=store)
        for i, msg in enumerate(messages):
            writer.write(conn, i * 1_000_000_000, store.serialize_cdr(msg, ImageMsg.__msgtype__))


def test_bad_images_in_a_bag_are_skipped_and_counted(tmp_path, model_loads, capsys):
    bag = tmp_path / "bag"
    write_bag_with_bad_messages(bag)
    code, out, err = run_cli(capsys, ["ask", "How far is the red box from the blue box?", "--bag", str(bag)])
    assert code == 0 and out["success"] and out["via"]["frames_skipped"] == 2 and out["via"]["frames_kept"] == 4
    assert "message 3" in err and "nv21" in err and "message 5" in err and "data length" in err
    assert out["frame_stamps_ns"] == [0, 1_000_000_000, 3_000_000_000, 5_000_000_000]


def test_one_json_schema_and_the_untrained_banner(data, model_loads, capsys):
    code, out, err = run_cli(capsys, ["ask", "How far is the red box from the blue box?", "--images",
                                      str(data / "good"), "--preset", "tiny"])
    assert list(out) == [*QUESTION_KEYS, *COMMON_KEYS]
    assert out["frame_stamps_s"] == [s / 1e9 for s in out["frame_stamps_ns"]] and len(out["frame_stamps_ns"]) == 6
    assert out["trained"] is False and out["warning"] == UNTRAINED_WARNING and "UNTRAINED MODEL" in err
    assert out["via"]["pipeline"] == "preset:tiny"
    code, out, err = run_cli(capsys, ["ask", "How far is the red box from the blue box?", "--images",
                                      str(data / "good")])  # the default: the small model, and what it knows
    assert out["trained"] is True and out["warning"] == SMALL_WARNING and "SMALL MODEL" in err
    assert out["via"]["pipeline"] == "preset:small" and "synthetic rooms" in SMALL_WARNING
    code, out, _ = run_cli(capsys, ["route", "the blue box", "--images", str(data / "good")])
    assert list(out) == [*ROUTE_KEYS, *COMMON_KEYS] and out["task"] == "route_advice"


def write_video(path: Path, frames: int, size=(240, 180)) -> None:
    import av

    w, h = size
    x = np.arange(w, dtype=np.int32)[None, :, None]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            img = np.broadcast_to(((x + 4 * i) % 256).astype(np.uint8), (h, w, 3))
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


PEAK_RSS = """
import resource, sys
from spacemind_ros.pipeline import sources
kept = sources.uniform_budget(sources.open_video(sys.argv[1]).frames(None), int(sys.argv[2]))
stamps = [s for s, _ in kept]
print(len(kept), stamps[0], stamps[-1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak(video, budget):
    out = subprocess.run([sys.executable, "-c", PEAK_RSS, str(video), str(budget)], capture_output=True, text=True,
                         check=True).stdout.split()
    return [int(v) for v in out]


def test_frame_budget_keeps_memory_flat_with_video_length(tmp_path, model_loads, capsys):
    short, long = tmp_path / "short.mp4", tmp_path / "long.mp4"
    write_video(short, 60)
    write_video(long, 600)  # 20 s; every decoded frame kept would be 600 * 130 KB = 78 MB
    kept_short, _, _, rss_short = peak(short, 32)
    kept_long, first, last, rss_long = peak(long, 32)
    assert 16 <= kept_short <= 32
    assert 16 <= kept_long <= 32 and first == 0 and last > 17 * 10**9  # spread over the whole video
    assert rss_long < rss_short + 25, f"peak RSS grew with video length: {rss_short} MB -> {rss_long} MB"
    code, out, _ = run_cli(capsys, ["ask", "How many boxes?", "--video", str(long), "--max-frames", "32"])
    assert code == 0 and out["via"]["frames_read"] == 600 and 16 <= out["via"]["frames_kept"] <= 32


def test_uniform_budget_is_uniform():
    kept = sources.uniform_budget(((i, None) for i in range(1000)), 100)
    stamps = [s for s, _ in kept]
    assert 50 <= len(stamps) <= 100 and stamps[0] == 0 and len(set(np.diff(stamps))) == 1
    assert stamps[-1] >= 1000 - (stamps[1] - stamps[0])  # no more than one stride missing at the end
    assert [s for s, _ in sources.uniform_budget(((i, None) for i in range(7)), 100)] == list(range(7))
