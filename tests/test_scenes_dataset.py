"""Scenes on disk: determinism, the bag read back with rosbags, the question JSONL, the CLI."""
import json
from pathlib import Path

import numpy as np
import pytest

from spacemind_ros.scenes import QUESTION_TYPES, SceneSettings, write_scene
from spacemind_ros.scenes.bag import DEPTH_TOPIC, IMAGE_TOPIC, INFO_TOPIC, POSE_TOPIC, raw_messages, read_messages
from spacemind_ros.scenes.cli import main as scenes_cli
from spacemind_ros.scenes.dataset import START_NS, is_heldout

SMALL = SceneSettings(width=64, height=48, frames=12)
FIELDS = {"id", "dataset", "scene_name", "question_type", "question", "options", "ground_truth", "bag",
          "image_topic"}


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_same_seed_gives_identical_messages_and_questions_and_other_seeds_differ(tmp_path):
    write_scene(7, tmp_path / "a", SMALL)
    write_scene(7, tmp_path / "b", SMALL)
    write_scene(8, tmp_path / "c", SMALL)
    a, b, c = (raw_messages(tmp_path / x / "bag") for x in "abc")
    assert len(a) == 5 * SMALL.frames and a == b  # image, camera_info, depth, pose, semantic
    assert [m for m in a if m[0] == IMAGE_TOPIC] != [m for m in c if m[0] == IMAGE_TOPIC]
    qa, qb, qc = ((tmp_path / x / "questions.jsonl").read_bytes() for x in "abc")
    assert qa == qb and qa != qc
    assert (tmp_path / "a" / "scene.json").read_bytes() == (tmp_path / "b" / "scene.json").read_bytes()


def test_rendering_in_worker_processes_gives_the_same_bytes(tmp_path):
    write_scene(5, tmp_path / "one", SMALL)
    write_scene(5, tmp_path / "two", SMALL, workers=2)
    assert raw_messages(tmp_path / "one" / "bag") == raw_messages(tmp_path / "two" / "bag")
    assert (tmp_path / "one" / "questions.jsonl").read_bytes() == (tmp_path / "two" / "questions.jsonl").read_bytes()


def test_bag_reads_back_with_rosbags(tmp_path):
    settings = SceneSettings(width=80, height=60, frames=10, fps=5.0)
    write_scene(4, tmp_path / "s", settings)
    bag = tmp_path / "s" / "bag"
    assert (bag / "metadata.yaml").exists() and list(bag.glob("*.mcap"))
    info = json.loads((tmp_path / "s" / "scene.json").read_text())
    stamps = [START_NS + i * 200_000_000 for i in range(10)]
    images = list(read_messages(bag, IMAGE_TOPIC))
    assert [t for t, _ in images] == stamps == info["walk"]["stamps_ns"]
    msg = images[0][1]
    assert (msg.encoding, msg.height, msg.width, msg.step) == ("rgb8", 60, 80, 240)
    assert msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec == stamps[0]
    assert msg.header.frame_id == "camera_optical"
    depth = [m for _, m in read_messages(bag, DEPTH_TOPIC)]
    d = np.frombuffer(depth[3].data, np.float32).reshape(60, 80)
    assert depth[3].encoding == "32FC1" and np.isfinite(d).all() and 0.1 < d.min() and d.max() < 20
    cam = [m for _, m in read_messages(bag, INFO_TOPIC)]
    k = info["camera"]["intrinsics"]
    assert np.allclose(cam[0].k, [k["fx"], 0, k["cx"], 0, k["fy"], k["cy"], 0, 0, 1])
    assert cam[0].width == 80 and cam[0].distortion_model == "plumb_bob"
    poses = [m for _, m in read_messages(bag, POSE_TOPIC)]
    p = poses[5].pose.position
    assert poses[5].header.frame_id == "map"
    assert np.allclose([p.x, p.y, p.z], info["walk"]["positions"][5], atol=1e-4)
    q = poses[5].pose.orientation
    assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1) < 1e-9
    # The player's reader (spacemind_ros.pipeline.sources) decodes the same frames.
    from spacemind_ros.pipeline.sources import bag_frames

    frames = list(bag_frames(bag, IMAGE_TOPIC))
    assert [s for s, _ in frames] == stamps and frames[0][1].shape == (60, 80, 3)
    assert np.array_equal(frames[0][1], np.frombuffer(msg.data, np.uint8).reshape(60, 80, 3))


def test_sqlite3_storage(tmp_path):
    write_scene(4, tmp_path / "s", SceneSettings(width=32, height=24, frames=3, storage="sqlite3", compress=True))
    assert list((tmp_path / "s" / "bag").glob("*.db3"))
    assert len([m for m in raw_messages(tmp_path / "s" / "bag") if m[0] == IMAGE_TOPIC]) == 3


def test_question_records(tmp_path):
    summary = write_scene(1, tmp_path / "s", SceneSettings(width=160, height=120, frames=60))
    records = read_jsonl(tmp_path / "s" / "questions.jsonl")
    assert records == summary["records"] and len(records) >= 10
    assert {r["question_type"] for r in records} == set(QUESTION_TYPES)
    assert len({r["id"] for r in records}) == len(records)
    info = json.loads((tmp_path / "s" / "scene.json").read_text())
    seen = {int(k) for k in info["seen"]}
    for r, objs in zip(records, info["question_objects"]):
        assert set(r) == FIELDS and r["bag"] == "bag" and r["image_topic"] == "/camera/image_raw"
        assert (tmp_path / "s" / r["bag"] / "metadata.yaml").exists()
        assert set(objs) <= seen
        if r["question_type"] in ("object_counting", "object_abs_distance", "object_size_estimation",
                                  "room_size_estimation"):
            assert r["options"] == [] and float(r["ground_truth"]) > 0
        else:
            letters = [o.split(". ", 1)[0] for o in r["options"]]
            assert letters == [chr(65 + i) for i in range(len(letters))] and r["ground_truth"] in letters
            assert len(set(r["options"])) == len(r["options"])
    room = next(r for r in records if r["question_type"] == "room_size_estimation")
    assert room["ground_truth"] == f"{info['room']['area_m2']:.1f}"
    assert (tmp_path / "s" / "map.png").stat().st_size > 1000
    assert (tmp_path / "s" / "contact_sheet.png").stat().st_size > 1000


def test_cli_writes_an_index_and_a_split_by_seed(tmp_path, capsys):
    out = tmp_path / "ds"
    assert scenes_cli(["generate", "--seed", "20", "--count", "3", "--out", str(out), "--size", "48x36",
                       "--frames", "8", "--heldout-fraction", "0.5", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    index = read_jsonl(out / "questions.jsonl")
    train, held = read_jsonl(out / "train.jsonl"), read_jsonl(out / "heldout.jsonl")
    assert summary["questions"] == len(index) == len(train) + len(held) > 0
    assert sorted(r["id"] for r in train + held) == sorted(r["id"] for r in index)
    manifest = json.loads((out / "dataset.json").read_text())
    assert sorted(manifest["splits"]["train"] + manifest["splits"]["heldout"]) == [20, 21, 22]
    for split, records in (("train", train), ("heldout", held)):
        assert {int(r["scene_name"][-6:]) for r in records} <= set(manifest["splits"][split])
        assert all(is_heldout(int(r["scene_name"][-6:]), 0.5) == (split == "heldout") for r in records)
    for r in index:
        assert r["bag"] == f"{r['scene_name']}/bag" and (out / r["bag"] / "metadata.yaml").exists()
    for split in ("train", "heldout"):  # two inventory questions per scene of the split, about its own bag
        inventory = read_jsonl(out / f"inventory_{split}.jsonl")
        assert sorted(int(r["bag"][6:12]) for r in inventory) == sorted(2 * manifest["splits"][split])
        assert {r["question_type"] for r in inventory} <= {"open"}


@pytest.mark.parametrize("args,message", [
    (["--size", "640by480"], "WIDTHxHEIGHT"),
    (["--frames", "1"], "at least 2 frames"),
    (["--seed", "-3"], "--seed must be >= 0"),
    (["--count", "0"], "count must be at least 1"),
])
def test_cli_bad_arguments(tmp_path, capsys, args, message):
    base = {"--seed": "1", "--out": str(tmp_path / "x")}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    argv = ["generate", "--quiet"] + [a for kv in base.items() for a in kv]
    if message == "WIDTHxHEIGHT":  # argparse's own usage error
        with pytest.raises(SystemExit):
            scenes_cli(argv)
    else:
        assert scenes_cli(argv) == 2
    assert message in capsys.readouterr().err


def test_heldout_split_is_stable_and_about_the_fraction():
    held = [s for s in range(2000) if is_heldout(s, 0.2)]
    assert 300 < len(held) < 500 and held == [s for s in range(2000) if is_heldout(s, 0.2)]
    assert not any(is_heldout(s, 0.0) for s in range(100)) and all(is_heldout(s, 1.0) for s in range(100))
