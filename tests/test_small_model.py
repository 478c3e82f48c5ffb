"""The shipped small model: it loads strictly from the package, stays under 25 MB, records how it was made, and
answers a held-out generated scene (seed 7, the demo's; training used seeds 1000-1399) as it did when it shipped.
The recipe that made it runs in its CI length (a few steps a stage, the ladder included)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors import safe_open

from spacemind_ros.model.presets import SMALL_QUERY_FRAMES, load_model, small_checkpoint
from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
from spacemind_ros.scenes import SceneSettings, write_scene
from spacemind_ros.train.small_recipe import FIT_SAMPLE_EVERY

HELD_OUT_SEED = 7
# Questions of seed 7 the shipped model answers right (recomputed whenever the checkpoint is retrained):
# record id -> ground truth. The checkpoint's recipe.json names the run.
# It gets 5 of seed 7's 23 questions exactly right (numbers are scored by relative accuracy elsewhere, so most
# numerical answers are near misses, not pinned here); its route has the right actions, the wrong landmarks.
PINNED: dict[int, str] = {7000: "2", 7002: "1", 7015: "A", 7017: "B", 7022: "C"}
PINNED_ROUTE = {
    "request": ("the refrigerator", "standing by the desk, facing the plant"),
    "actions": ["FORWARD", "TURN_BACK", "FORWARD", "STOP"],
    "landmarks": ["stool", "", "tv", "desk"],
    "actions_right": True,
}


@pytest.fixture(scope="module")
def small():
    return load_model(preset="small")


def test_shipped_checkpoint_is_complete_small_and_strict(small):
    folder = small_checkpoint()
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 25 * 2**20
    assert not (folder / "trainer_state").exists()
    # the adapter names the folder's own base, not a path on the machine that trained it
    assert json.loads((folder / "lora" / "adapter_config.json").read_text())["base_model_name_or_path"] == "internvl"
    model, processor = small
    assert model.config.preset == "small" and model.config.query_frames == SMALL_QUERY_FRAMES == 8
    # InternVL in the hub layout, bfloat16; transformers loads it with no missing, unexpected or mismatched key
    with safe_open(str(folder / "internvl" / "model.safetensors"), "pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"BF16"}
    from transformers import InternVLForConditionalGeneration

    _, info = InternVLForConditionalGeneration.from_pretrained(str(folder / "internvl"), output_loading_info=True)
    assert not any(info.get(k) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    with safe_open(str(folder / "cgmf.safetensors"), "pt") as f:
        assert set(f.keys()) == set(model.cgmf.state_dict())
    assert model.config.cgmf.camera_gate and model.config.cgmf.geometric_bias  # the full CGMF
    assert model.vggt.depth_head is not None  # trained in the geometry stage, kept
    tok = processor.tokenizer
    assert tok.convert_tokens_to_ids("<IMG_CONTEXT>") == model.image_token_id and tok.eos_token == "<|im_end|>"
    recipe = json.loads((folder / "recipe.json").read_text())
    assert recipe["command"].startswith("python -m spacemind_ros.train.small_recipe")
    assert recipe["scenes"]["seed"] == 1000 and recipe["scenes"]["count"] == 400
    assert {"small-1-geometry", "small-2-vision-llm", "small-3-category", "small-4-qa"} <= set(recipe["stages"])
    assert recipe["overfit"]["passed"] and recipe["routes"]["routes"] == 80
    assert {"overall"} <= set(recipe["heldout"]["scores"]) and "prior" in recipe["heldout"]["baselines"]
    assert not 1000 <= HELD_OUT_SEED < 1400


README_TASKS = {"object counting": "object_counting", "absolute distance": "object_abs_distance",
                "object size": "object_size_estimation", "room size": "room_size_estimation",
                "relative distance": "object_rel_distance", "relative direction": "object_rel_direction",
                "route planning": "route_planning", "appearance order": "obj_appearance_order", "overall": "overall"}


def test_readme_table_is_the_shipped_recipes_ladder():
    """The README's small-model table, column by column, is recipe.json's ladder (one decimal): it is copied from
    the command that made the checkpoint and must change with it."""
    recipe = json.loads((small_checkpoint() / "recipe.json").read_text())
    lines = (Path(__file__).resolve().parents[1] / "README.md").read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("| task | full | blind twin")]
    assert len(starts) == 1, "the README has one small-model table"
    start = starts[0]
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    runs = [h.split(" (")[0].replace("training split's prior", "baseline:prior") for h in header[1:]]
    assert runs[:2] == ["full", "blind twin"] and runs[-1] == "baseline:prior"
    # every model the command trained is a column: the rungs too
    assert set(runs) == {k for k in recipe["ladder"] if not k.startswith("baseline:")} | {"baseline:prior"}
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("*") for c in line.strip("|").split("|")]
        assert len(cells) == len(header), line
        rows[README_TASKS[cells[0]]] = dict(zip(runs, cells[1:]))
    assert set(rows) == set(README_TASKS.values())
    for task, cells in rows.items():
        for run, cell in cells.items():
            assert cell == f"{recipe['ladder'][run][task]:.1f}", (task, run)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("seed7")
    summary = write_scene(HELD_OUT_SEED, out / "scene", SceneSettings(width=160, height=120, frames=64, fps=4.0))
    return out / "scene", summary["records"]


def test_answers_on_a_held_out_scene_are_the_shipped_ones(small, held_out):
    from rosbags.highlevel import AnyReader

    from spacemind_ros.images import image_msg_to_rgb8

    model, processor = small
    folder, records = held_out
    window = WindowConfig(min_gap_s=0.0, duration_s=3600.0, max_frames=256, sample_frames=SMALL_QUERY_FRAMES + 2)
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(max_new_tokens=16, compute_nice=0))
    try:
        with AnyReader([folder / "bag"]) as reader:
            conns = [c for c in reader.connections if c.topic == "/camera/image_raw"]
            for conn, ts, raw in reader.messages(connections=conns):
                reasoner.add_frame(ts, image_msg_to_rgb8(reader.deserialize(raw, conn.msgtype)))
        reasoner.wait_features()
        by_id = {r["id"]: r for r in records}
        got = {}
        for rid in PINNED:
            r = by_id[rid]
            answer = reasoner.ask(r["question"], options=r["options"], task=r["question_type"])
            assert answer.success, answer.error_message
            got[rid] = answer.choice if r["options"] else answer.answer.strip()
    finally:
        reasoner.close()
    assert got == PINNED
    assert all(by_id[rid]["ground_truth"] == truth for rid, truth in PINNED.items())  # right answers, not any


def test_route_advice_on_the_held_out_scene_is_the_shipped_one(small, held_out):
    """The demo's /route_advice: the first route of seed 7, asked as the node asks it; steps parsed by the node's
    parser, pinned."""
    from spacemind_ros.eval.routes import route_match

    model, processor = small
    folder, _ = held_out
    route = json.loads((folder / "routes.jsonl").read_text().splitlines()[0])
    window = WindowConfig(min_gap_s=0.0, duration_s=3600.0, max_frames=256, sample_frames=SMALL_QUERY_FRAMES + 2)
    reasoner = SpatialReasoner(model, processor, window, ReasonerConfig(compute_nice=0))
    try:
        from spacemind_ros.eval.bags import bag_frames

        for stamp, image in bag_frames(folder / "bag", "/camera/image_raw"):
            reasoner.add_frame(stamp, image)
        reasoner.wait_features()
        answer = reasoner.route(route["goal"], route["start"])
    finally:
        reasoner.close()
    assert answer.success, answer.error_message
    assert (route["goal"], route["start"]) == PINNED_ROUTE["request"]
    assert answer.actions == PINNED_ROUTE["actions"] and answer.landmarks == PINNED_ROUTE["landmarks"]
    assert route_match(answer.actions, answer.landmarks, route)["actions"] == PINNED_ROUTE["actions_right"]


@pytest.mark.timeout(900)  # six scenes, four stages, the blind twin, one rung, five checks: about 3 min on 2 cores
def test_the_recipe_runs_in_its_ci_length(tmp_path):
    done = subprocess.run([sys.executable, "-m", "spacemind_ros.train.small_recipe", "--quick", "--ladder",
                           "--rungs", "none", "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for stage in ("1-geometry", "2-vision-llm", "3-category", "4-qa", "blind", "ladder-none"):
        assert (tmp_path / stage / "final" / "spacemind_config.json").is_file(), stage
    model, _ = load_model(tmp_path / "4-qa" / "final")
    assert model.config.preset == "small" and model.config.cgmf.camera_gate
    table = (tmp_path / "ladder.md").read_text()
    assert table.startswith("| task | n | full | blind twin | none | blind twin - full | none - full | random | "
                            "majority | prior |")
    assert "| overall |" in table and (tmp_path / "ladder.png").stat().st_size > 10_000
    checks = (tmp_path / "checks.md").read_text()
    assert checks.startswith("| task | n | clean | blind | shuffle | single | camera_noise:2 | camera_noise:5 |")
    recipe = json.loads((tmp_path / "recipe.json").read_text())
    assert {"full", "blind twin", "none", "baseline:prior"} <= set(recipe["ladder"])
    assert set(recipe["checks"]) >= {"clean", "blind", "shuffle", "single", "camera_noise:2", "camera_noise:5"}
    assert recipe["routes"]["routes"] > 0 and set(recipe["routes"]) >= {"exact", "actions", "non_empty"}
    geometry = recipe["geometry"]  # VGGT beside its initialisation, the camera never moving, the mean motion and pose
    for guess in ("camera_still", "mean_motion", "mean_pose"):
        assert set(geometry[guess]) == {"translation_m", "rotation_deg"} and geometry[guess]["rotation_deg"] >= 0
    assert geometry["camera_still"]["rotation_deg"] > 0
    assert geometry["mean_pose"] != geometry["mean_motion"]  # one pose for all views is not each view's own
    assert 0 < geometry["view_overlap"] < 1  # neighbouring views share some of what they show, never all
    scores = geometry["trained"] | geometry["initialisation"]
    assert not any(k.startswith(("still_", "motion_", "pose_")) for k in scores)
    assert "overall" in recipe["heldout"]["scores"] and "overall" in recipe["heldout"]["baselines"]["prior"]
    # the fit: the full model and its blind twin on a sample of the questions they trained on
    sample = (tmp_path / "scenes" / "train_sample.jsonl").read_text().splitlines()
    assert sample == (tmp_path / "scenes" / "train.jsonl").read_text().splitlines()[::FIT_SAMPLE_EVERY]
    assert recipe["training_sample"]["questions"] == min(len(sample), 8)  # --quick asks 8 at most
    assert (tmp_path / "fit.md").read_text().startswith("| task | n | full | blind twin | blind twin - full |")
    assert {"full", "blind twin", "baseline:prior"} <= set(recipe["fit"])
    # the blind twin trained on grey frames only: its encoder cache is its own
    assert json.loads((tmp_path / "blind" / "summary.json").read_text())["steps"] > 0
    # the ladder's rungs differ only in CGMF; the 'none' rung's CGMF never trained
    from safetensors.torch import load_file

    out_proj = load_file(str(tmp_path / "ladder-none" / "final" / "cgmf.safetensors"))["output_proj.weight"]
    assert not out_proj.any()
    assert Path(tmp_path / "scenes" / "routes_heldout.jsonl").is_file()


@pytest.mark.timeout(900)
def test_plumbing_small_model_overfits_a_handful_of_questions(tmp_path):
    """32 training questions of 4 scenes, every question type but route planning and appearance order (the scenes
    had no clear instance of those in their first questions), learnt by heart by the QA stage's own config and then
    answered through the serving path: at least 95% exact, or something between data, prompt, labels and decoding
    is broken. Then one question text for ~30 rooms, whose answers only the frames decide."""
    from spacemind_ros.train.overfit import overfit_check

    result = overfit_check(tmp_path)
    assert result["questions"] == 32 and len(result["types"]) >= 7, result
    assert result["passed"] and result["exact"] >= 31, result["wrong"]
    assert json.loads((tmp_path / "overfit.json").read_text())["exact"] == result["exact"]
    # The same counting question for every room, one or two instances: only the frames tell them apart (a model
    # blind to them gets half), and the serving path answers them all
    same = result["frames_only"]
    asked = [json.loads(line) for line in (tmp_path / "frames_only" / "scenes" / "frames_only.jsonl").open()]
    assert len({q["question"] for q in asked}) == 1 and len({q["scene_name"] for q in asked}) == len(asked) >= 28
    assert sorted({q["ground_truth"] for q in asked}) == ["1", "2"]
    assert abs(sum(q["ground_truth"] == "1" for q in asked) * 2 - len(asked)) <= 2  # balanced: blind gets ~50%
    assert same["questions"] == len(asked) and same["exact"] >= 0.95 * len(asked), same["wrong"]
