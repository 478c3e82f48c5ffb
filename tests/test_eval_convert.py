"""spacemind-eval convert: a short generated video and VSI-Bench-style records (JSON, parquet) -> bags + JSONL,
then an offline run over the result."""
import json

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from spacemind_ros.eval.bags import bag_frames
from spacemind_ros.eval.cli import main
from tests.evaldata import read_predictions

S = 1_000_000_000


def make_video(path, seconds=3.0, fps=10, size=(96, 128)):
    """MPEG-4 video whose frame i has a brightness of 8 * i (so frames can be told apart after decoding)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(int(seconds * fps)):
            img = np.full((*size, 3), 8 * i, np.uint8)
            img[:, : size[1] // 2, 0] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


RECORDS = [
    {"id": 0, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_counting",
     "question": "How many chair(s) are in this room?", "options": None, "ground_truth": "4"},
    {"id": 1, "dataset": "arkitscenes", "scene_name": "41069025", "question_type": "object_rel_distance",
     "question": "Which is closest to the sofa?", "options": ["A. tv", "B. lamp", "C. bed", "D. table"],
     "ground_truth": "C"},
    {"id": 2, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "room_size_estimation",
     "question": "What is the size of this room (in square meters)?", "options": None, "ground_truth": "21.5"},
    {"id": 3, "dataset": "scannet", "scene_name": "scene_missing", "question_type": "object_counting",
     "question": "How many beds?", "options": None, "ground_truth": "1"},
    {"id": 4, "dataset": "scannet", "scene_name": "scene0011_00", "question_type": "object_weight",
     "question": "How heavy?", "options": None, "ground_truth": "1"},
]


def check_output(out):
    qs = [json.loads(line) for line in (out / "questions.jsonl").read_text().splitlines()]
    assert [q["id"] for q in qs] == [0, 1, 2]
    assert qs[0]["bag"] == "bags/arkitscenes/41069025" and qs[0]["options"] == [] and qs[0]["ground_truth"] == "4"
    assert qs[1]["options"] == RECORDS[1]["options"] and qs[2]["image_topic"] == "/camera/image_raw"
    frames = list(bag_frames(out / qs[0]["bag"], "/camera/image_raw"))
    # 3 s of 10 fps at 2 Hz: the frames at 0, 0.5, ..., 2.5 s, scaled so the longer side is 64
    assert [s for s, _ in frames] == [int(k * 0.5 * S) for k in range(6)]
    assert all(img.shape == (48, 64, 3) for _, img in frames)
    brightness = [int(img[:, 40:, 1].mean()) for _, img in frames]  # frame i = 8 * i: 0, 40, 80, ...
    assert all(abs(b - 8 * 5 * k) <= 6 for k, b in enumerate(brightness)), brightness


def test_convert_json_then_run_offline(tmp_path, capsys):
    videos = tmp_path / "videos"
    make_video(videos / "arkitscenes" / "41069025.mp4")
    make_video(videos / "scene0011_00.mp4", seconds=2.0)  # flat layout also found
    (tmp_path / "q.json").write_text(json.dumps(RECORDS))
    out = tmp_path / "out"
    rc = main(["convert", "--questions", str(tmp_path / "q.json"), "--videos", str(videos), "--out", str(out),
               "--rate", "2", "--max-side", "64", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1  # two records skipped
    assert f"{tmp_path / 'q.json'}:4: no video for scene 'scene_missing'" in err
    assert f"{tmp_path / 'q.json'}:5: unknown question_type 'object_weight'" in err
    check_output(out)
    # resumable: complete bags are kept, not rewritten
    mtime = (out / "bags" / "arkitscenes" / "41069025" / "metadata.yaml").stat().st_mtime_ns
    assert main(["convert", "--questions", str(tmp_path / "q.json"), "--videos", str(videos), "--out", str(out),
                 "--rate", "2", "--max-side", "64", "--quiet"]) == 1
    assert (out / "bags" / "arkitscenes" / "41069025" / "metadata.yaml").stat().st_mtime_ns == mtime
    assert main(["run", "--questions", str(out / "questions.jsonl"), "--out", str(tmp_path / "run"), "--quiet",
                 "--frames", "8"]) == 0
    recs = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert len(recs) == 3 and all(r["success"] for r in recs)


def test_convert_parquet_to_mcap(tmp_path):
    videos = tmp_path / "videos"
    make_video(videos / "arkitscenes" / "41069025.mp4")
    make_video(videos / "scannet" / "scene0011_00.mp4", seconds=2.0)
    rows = [dict(r, options=r["options"] or None) for r in RECORDS]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "test.parquet")
    out = tmp_path / "out"
    assert main(["convert", "--questions", str(tmp_path / "test.parquet"), "--videos", str(videos), "--out",
                 str(out), "--rate", "2", "--max-side", "64", "--storage", "mcap", "--quiet"]) == 1
    check_output(out)
    assert list((out / "bags" / "arkitscenes" / "41069025").glob("*.mcap"))


def test_unreadable_video_is_reported(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "41069025.mp4").write_bytes(b"not a video" * 100)
    (tmp_path / "q.jsonl").write_text(json.dumps(RECORDS[0]) + "\n")
    assert main(["convert", "--questions", str(tmp_path / "q.jsonl"), "--videos", str(videos), "--out",
                 str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'q.jsonl'}:1: video" in err and "cannot be converted" in err
    assert not (tmp_path / "out" / "bags" / "arkitscenes" / "41069025").exists()
