"""Route advice scored against the scenes' ground-truth routes, and the demo's side-by-side route table."""
import json

import pytest

from spacemind_ros.demo import route_table
from spacemind_ros.eval.cli import main
from spacemind_ros.eval.routes import read_routes, route_match
from spacemind_ros.pipeline.answer_parsing import parse_route
from spacemind_ros.scenes import SceneSettings, write_dataset

TRUTH = {"ground_truth": "1. Go forward until the tv\n2. Turn right\n3. Go forward until the sofa\n4. Stop at the sofa",
         "actions": ["FORWARD", "TURN_RIGHT", "FORWARD", "STOP"], "landmarks": ["tv", "", "sofa", "sofa"]}


def test_route_match_by_hand():
    assert route_match(*parse_route(TRUTH["ground_truth"])[1:], TRUTH) == {
        "exact": True, "actions": True, "landmarks": True, "non_empty": True}
    wrong_turn = parse_route("1. Go forward until the tv\n2. Turn left\n3. Go forward until the sofa\n4. Stop")
    assert route_match(*wrong_turn[1:], TRUTH) == {"exact": False, "actions": False, "landmarks": False,
                                                   "non_empty": True}
    other_landmark = parse_route("Go forward to the tv, then turn right, then go forward to the bed. Stop at the sofa")
    assert route_match(*other_landmark[1:], TRUTH)["actions"] and not route_match(*other_landmark[1:], TRUTH)["exact"]
    assert route_match([], [], TRUTH) == {"exact": False, "actions": False, "landmarks": False, "non_empty": False}


def test_demo_prints_the_true_route_beside_the_nodes():
    ok = {"success": True, "steps": ["Go forward until the tv", "Turn right"], "actions": ["FORWARD", "TURN_RIGHT"],
          "landmarks": ["tv", ""], "answer": "...", "error_code": ""}
    text = route_table(TRUTH, ok)
    lines = text.splitlines()
    assert lines[1].split("|")[0].strip() == "1. Go forward until the tv" and lines[1].endswith("Go forward until the tv")
    assert lines[4].split("|")[1].strip() == "" and lines[-1] == "  actions and landmarks differ"
    empty = route_table(TRUTH, {**ok, "steps": [], "actions": [], "landmarks": []})
    assert "(no steps)" in empty
    failed = route_table(None, {**ok, "success": False, "error_code": "TIMEOUT", "answer": ""})
    assert "TIMEOUT" in failed and "match" not in failed


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    out = tmp_path_factory.mktemp("routes")
    write_dataset(1000, 3, out, SceneSettings(width=96, height=72, frames=24, fps=4.0), heldout_fraction=0.3)
    return out


def test_scenes_write_route_ground_truth_per_split(scenes):
    manifest = json.loads((scenes / "dataset.json").read_text())
    routes = read_routes(scenes / "routes.jsonl")
    assert len(routes) == sum(manifest["routes"].values()) > 0
    train = read_routes(scenes / "routes_train.jsonl")
    heldout = read_routes(scenes / "routes_heldout.jsonl")
    assert len(train) + len(heldout) == len(routes)
    held_scenes = {json.loads(line)["scene_name"] for line in (scenes / "heldout.jsonl").read_text().splitlines()}
    assert {r["scene_name"] for r in heldout} <= held_scenes and not {r["scene_name"] for r in train} & held_scenes
    for r in routes:  # each one parses back into its own actions and landmarks
        assert parse_route(r["ground_truth"])[1:] == (r["actions"], r["landmarks"])
        assert (scenes / r["bag"]).exists() and r["question"].endswith(f"How do I get to {r['goal']}?")


def test_routes_command_answers_and_scores_each_route(scenes, tmp_path):
    assert main(["routes", "--routes", str(scenes / "routes.jsonl"), "--preset", "tiny", "--out", str(tmp_path),
                 "--limit", "2"]) == 0
    summary = json.loads((tmp_path / "routes_score.json").read_text())
    assert summary["routes"] == 2 and summary["model"] == "preset:tiny" and set(summary) >= {"exact", "actions"}
    lines = [json.loads(line) for line in (tmp_path / "routes.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(r["success"] and set(r["match"]) == {"exact", "actions", "landmarks", "non_empty"}
                                   for r in lines)
    assert summary["exact"] == 100.0 * sum(r["match"]["exact"] for r in lines) / 2
