"""spacemind-eval run --mode live: frames published over ROS into a real spacemind_node in another process,
questions through its query service; the tiny preset answers exactly as the offline pipeline does."""
import json
import os
import subprocess
import sys

import pytest

from spacemind_ros.eval.cli import main
from tests.evaldata import make_bag, questions_for, read_predictions, write_jsonl
from tests.rostools import start_node, stop

pytestmark = [pytest.mark.ros, pytest.mark.slow, pytest.mark.timeout(600)]
SAME = ("id", "prediction", "parsed", "frame_stamps", "success", "error_code", "stamp_ns", "frames_fed")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("livedata")
    stamps_a = make_bag(root / "a", "sqlite3", frames=12)
    stamps_b = make_bag(root / "b", "mcap", frames=14, size=(56, 72))  # same stamps as a: windows must not mix
    qs = questions_for("a", "a", stamps_a) + questions_for("b", "b", stamps_b)
    qs.append({**qs[0], "id": "a-early", "stamp_ns": stamps_a[1]})  # 2 frames < min_frames: NOT_ENOUGH_FRAMES
    return dict(root=root, q=write_jsonl(root / "q.jsonl", qs), questions=qs)


def run_cli(args, timeout=280):
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # conftest's loopback DDS settings and ROS_DOMAIN_ID
    return subprocess.run([sys.executable, "-m", "spacemind_ros.eval.cli", "run", "--quiet", "--preset", "tiny",
                           *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def same_fields(path):
    return {r["id"]: {k: r.get(k) for k in SAME} for r in read_predictions(path)}


def test_live_run_through_a_started_node_equals_offline(dataset, tmp_path):
    assert main(["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(tmp_path / "off"),
                 "--frames", "8", "--quiet"]) == 0
    proc = run_cli(["--questions", str(dataset["q"]), "--out", str(tmp_path / "live"), "--mode", "live",
                    "--frames", "8", "--rate", "60"])
    assert proc.returncode == 0, proc.stderr[-4000:]
    offline, live = same_fields(tmp_path / "off" / "predictions.jsonl"), same_fields(tmp_path / "live" /
                                                                                      "predictions.jsonl")
    assert set(live) == {q["id"] for q in dataset["questions"]}
    assert live == offline
    recs = read_predictions(tmp_path / "live" / "predictions.jsonl")
    answered = [r for r in recs if r["success"]]
    assert len(answered) == 8 and all(r["mode"] == "live" and r["round_trip_s"] >= r["latency_s"] > 0
                                      for r in answered)
    assert all(r["frames_match"] is True and r["all_frames_received"] for r in answered)
    assert next(r for r in recs if r["id"] == "a-early")["error_code"] == "NOT_ENOUGH_FRAMES"
    run = json.loads((tmp_path / "live" / "run.json").read_text())
    assert run["node_parameters"]["query_frames"] == 8 and run["node_parameters"]["max_new_tokens"] == 16
    assert (tmp_path / "live" / "report.md").exists() and (tmp_path / "live" / "node.log").exists()


def test_live_run_into_an_existing_node_adopts_its_window(dataset, tmp_path):
    node = start_node(autostart=True, keyframe_gap_s=0.0, min_frames=4, query_frames=16, window_max_frames=10,
                      window_duration_s=30.0)
    try:
        proc = run_cli(["--questions", str(dataset["q"]), "--out", str(tmp_path / "live"), "--mode", "live",
                        "--node", "--rate", "60"])
        assert proc.returncode == 0, proc.stderr[-4000:]
        # A second run into the same node: its window still holds the first run's last frames; the second run's
        # stamps must start after them (or they would be too old and the answers would differ).
        again = run_cli(["--questions", str(dataset["q"]), "--out", str(tmp_path / "again"), "--mode", "live",
                         "--node", "--rate", "60"])
        # The node applies query perturbations itself: a run that asks for one from a node without it is refused.
        refused = run_cli(["--questions", str(dataset["q"]), "--out", str(tmp_path / "refused"), "--mode", "live",
                           "--node", "--perturb", "shuffle"])
    finally:
        out = stop(node)
    assert again.returncode == 0, again.stderr[-4000:] + out[-2000:]
    assert refused.returncode == 2 and "eval_perturbation:=shuffle" in refused.stderr, refused.stderr[-2000:]
    assert same_fields(tmp_path / "again" / "predictions.jsonl") == same_fields(tmp_path / "live" /
                                                                                 "predictions.jsonl")
    assert "window_max_frames=10" in proc.stderr and "query_frames=16" in proc.stderr  # warned, then adopted
    run = json.loads((tmp_path / "live" / "run.json").read_text())["settings"]
    assert run["window_max_frames"] == 10 and run["frames"] == 16 and run["model"] == "preset:tiny"
    # offline with the node's window gives the same answers
    assert main(["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(tmp_path / "off"),
                 "--frames", "16", "--window-frames", "10", "--window-duration", "30", "--quiet"]) == 0
    live = same_fields(tmp_path / "live" / "predictions.jsonl")
    assert live == same_fields(tmp_path / "off" / "predictions.jsonl")
    assert all(len(r["frame_stamps"]) <= 10 for r in live.values())
    assert all(r["frames_match"] for r in read_predictions(tmp_path / "again" / "predictions.jsonl") if r["success"])


def test_perturbed_live_run_equals_the_perturbed_offline_run(dataset, tmp_path):
    """blind and drop are applied by the replaying player to what it publishes; shuffle by the node it starts
    (eval_perturbation): the live answers equal the offline ones, and differ from the clean run's."""
    perturb = ["--perturb", "blind", "--perturb", "shuffle", "--perturb", "drop:0.5"]
    assert main(["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(tmp_path / "off"),
                 "--frames", "8", "--quiet", *perturb]) == 0
    proc = run_cli(["--questions", str(dataset["q"]), "--out", str(tmp_path / "live"), "--mode", "live",
                    "--frames", "8", "--rate", "60", *perturb])
    assert proc.returncode == 0, proc.stderr[-4000:]
    live = same_fields(tmp_path / "live" / "predictions.jsonl")
    assert live == same_fields(tmp_path / "off" / "predictions.jsonl")
    assert "frames dropped by the drop perturbation" in proc.stderr
    run = json.loads((tmp_path / "live" / "run.json").read_text())
    assert run["settings"]["perturbation"] == "blind+shuffle+drop:0.5"
    assert run["node_parameters"]["eval_perturbation"] == "shuffle"
    recs = [r for r in read_predictions(tmp_path / "live" / "predictions.jsonl") if r["success"]]
    assert recs and all(r["perturbation"] == "blind+shuffle+drop:0.5" for r in recs)
    assert any(r["frame_stamps"] != sorted(r["frame_stamps"]) for r in recs)  # the node shuffled what it sampled
