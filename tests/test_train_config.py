"""Training config files, the CLI's overrides and the annotation readers (no model)."""
import json
from pathlib import Path

import pytest

from spacemind_ros.train.cli import main
from spacemind_ros.train.config import SHIPPED, TrainConfig, load_config, render_shipped
from spacemind_ros.train.readers import read_dataset, split_human_turn

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_configs_are_generated_and_documented(name):
    path = ROOT / "config" / "train" / f"{name}.yaml"
    assert path.read_text() == render_shipped(name), "regenerate: python -m spacemind_ros.train.config"
    config = load_config(path)
    assert isinstance(config, TrainConfig)


def test_paper_defaults_and_ablation_ladder():
    paper = load_config(ROOT / "config/train/spacemind-8b.yaml")
    assert (paper.train.epochs, paper.train.lr, paper.train.global_batch) == (2.0, 2e-5, 64)
    assert paper.data.sample_frames - 2 * paper.data.drop_ends == 32 and paper.model.cgmf_variant == "full"
    ladder = {load_config(ROOT / f"config/train/ablation-{v}.yaml").model.cgmf_variant
              for v in ("none", "shallow", "token_weight", "geometric_bias")}
    assert ladder == {"none", "shallow", "token_weight", "geometric_bias"}


def test_overrides_and_errors(capsys):
    c = load_config(None, ["train.lr=1e-4", "data.train=[{format: scenes, path: q.jsonl}]"])
    assert c.train.lr == 1e-4 and c.data.train[0]["format"] == "scenes"
    with pytest.raises(ValueError, match="unknown field"):
        load_config(None, ["train.learning_rate=1"])
    with pytest.raises(ValueError, match="cgmf_variant"):
        load_config(None, ["model.cgmf_variant=deep"])
    assert main(["--print-config", "train.epochs=1"]) == 0
    assert "epochs: 1" in capsys.readouterr().out
    assert main(["--print-config", "nonsense"]) == 2


def test_llava_video_reader_vlm3r_and_vica(tmp_path):
    items = [
        {"id": "a", "video": "scannet/scene0000_00.mp4", "question_type": "object_rel_distance", "conversations": [
            {"from": "human", "value": "<image>\nThese are frames of a video.\nWhich is closest to the bed?\n"
                                       "Options:\nA. chair\nB. lamp\nAnswer with the option's letter from the given "
                                       "choices directly."},
            {"from": "gpt", "value": "B"},
            {"from": "human", "value": "How many chairs are there?\nPlease answer the question using a single "
                                       "word or phrase."},
            {"from": "gpt", "value": "4"}]},
        {"id": "b", "video": "arkit/1.mp4", "conversations": []},
        {"id": "c", "video": "arkit/2.mp4", "conversations": [
            {"from": "human", "value": "<video>\nWhich is bigger?\nA. sofa\nB. cup"}, {"from": "gpt", "value": "sofa"}]},
    ]
    path = tmp_path / "vica.json"
    path.write_text(json.dumps(items))
    records, skipped, report = read_dataset({"format": "vica", "path": str(path), "media_root": "/videos"})
    assert [r.id for r in records] == ["a", "c"]  # one sample per conversation, its second turn a follow-up
    assert records[0].options == ["A. chair", "B. lamp"] and records[0].answer == "B"
    assert records[0].question == "Which is closest to the bed?" and records[0].media == "/videos/scannet/scene0000_00.mp4"
    assert records[0].prompt_text.endswith("Answer with the option's letter from the given choices directly.")
    (follow,) = records[0].followups
    assert follow.task == "object_counting" and follow.answer == "4" and follow.question == "How many chairs are there?"
    assert records[1].answer == "A"  # the option's text maps to its letter
    assert len(skipped) == 1 and "empty conversation" in str(skipped[0]) and str(path) in str(skipped[0])
    assert (report.kept, report.turns, dict(report.skipped)) == (2, 3, {"empty conversation": 1})
    assert split_human_turn("<image>\nWhere?")[0] == "Where?"


def _conversation(id, turns, question_type=None):
    item = {"id": id, "video": f"{id}.mp4", "conversations": [
        {"from": side, "value": value} for q, a in turns for side, value in (("human", q), ("gpt", a))]}
    return dict(item, question_type=question_type) if question_type else item


def test_free_form_answers_are_kept_converted_or_skipped_and_reported(tmp_path):
    from spacemind_ros.train.records import KEPT_OPEN, NUMBER_PARSED, parse_number

    items = [
        _conversation("count", [("How many chairs are in the room?", "There are 3 chairs.")], "object_counting"),
        _conversation("far", [("How far is the sofa from the door?", "About 2.5 meters")], "object_abs_distance"),
        _conversation("words", [("How many lamps are there?", "two")], "object_counting"),
        _conversation("guess", [("How many lamps are there?", "two")]),  # no type: only the wording is numerical
        _conversation("vague", [("How many cups are there?", "several")], "object_counting"),
        _conversation("two", [("How big is the room?", "It is 4 m by 5 m")], "room_size_estimation"),
        _conversation("bare", [("How many beds are there?", "1")]),
    ]
    path = tmp_path / "vlm3r.json"
    path.write_text(json.dumps(items))
    records, skipped, report = read_dataset({"format": "vlm3r", "path": str(path), "media_root": "/v"})
    got = {r.id: (r.task, r.answer, r.note) for r in records}
    assert got == {"count": ("object_counting", "3", NUMBER_PARSED),
                   "far": ("object_abs_distance", "2.5", NUMBER_PARSED),
                   "words": ("object_counting", "2", NUMBER_PARSED),
                   "guess": ("open", "two", KEPT_OPEN),
                   "bare": ("object_counting", "1", "")}
    assert sorted(b.kind for b in skipped) == ["numerical answer without one number"] * 2
    assert "'several'" in str(skipped[0]) and str(path) in str(skipped[0])
    assert report.as_dict() == {"format": "vlm3r", "path": str(path), "kept": 5, "turns": 5,
                                "converted": {NUMBER_PARSED: 3, KEPT_OPEN: 1},
                                "skipped": {"numerical answer without one number": 2}}
    assert report.line().startswith(f"{path} (vlm3r): kept 5 records (5 turns); converted: 3 number parsed")
    assert [parse_number(t) for t in ("1,200 cm", "twenty-one", "3.0 or 3", "none", "2 or 3", "About 1.5m", "12cm")] \
        == ["1200", "21", "3", None, None, "1.5", "12"]


def test_conversation_turns_stay_together_in_one_sample(tmp_path):
    from spacemind_ros.model.presets import build_tiny
    from spacemind_ros.train.data import IGNORE, tokenize_sample
    from spacemind_ros.train.readers import read_llava_video

    good = _conversation("g", [("Which is closest to the bed?\nA. chair\nB. lamp", "B"),
                               ("And how far is it from the bed?", "1.5"), ("Which is farther?\nA. chair\nB. lamp", "A")])
    broken = _conversation("b", [("How many chairs are there?", "3"), ("Which one?\nA. red\nB. blue", "the green one"),
                                 ("How far is it?", "2")])
    path = tmp_path / "c.json"
    path.write_text(json.dumps([good, broken]))
    records, skipped = read_llava_video(path, tmp_path, "vlm3r")
    g, b = records
    assert [t.answer for t in g.turns] == ["B", "1.5", "A"] and [t.task for t in g.turns][1] == "object_abs_distance"
    assert [t.answer for t in b.turns] == ["3"]  # the conversation ends before its unusable second turn
    assert [s.kind for s in skipped] == ["answer not among the options", "follows an unusable turn"]
    out_of_order = _conversation("o", [("How many chairs are there?", "3"), ("And lamps?", "2")])
    out_of_order["conversations"].insert(2, {"from": "gpt", "value": "a stray second answer"})
    path.write_text(json.dumps([out_of_order]))
    (only,), _ = read_llava_video(path, tmp_path, "vlm3r")
    assert [t.answer for t in only.turns] == ["3"]  # the turns after the stray one lost their order: not kept

    _, processor = build_tiny()
    ids, labels = tokenize_sample(processor, 2, g)
    tok = processor.tokenizer
    text = tok.decode(ids)
    served = processor.encode(2, g.prompt_text).input_ids[0]
    assert ids[: len(served)].tolist() == served.tolist()  # the first turn is the serving prompt
    assert text.endswith("B<|im_end|>\n<|im_start|>user\n" + g.followups[0].prompt_text +
                         "<|im_end|>\n<|im_start|>assistant\n1.5<|im_end|>\n<|im_start|>user\n" +
                         g.followups[1].prompt_text + "<|im_end|>\n<|im_start|>assistant\nA<|im_end|>")
    answers = tok.decode(ids[labels != IGNORE])
    assert answers == "B<|im_end|>1.5<|im_end|>A<|im_end|>"  # every answer is a target, nothing else


def test_sqa3d_reader(tmp_path):
    q = {"questions": [{"question_id": 1, "scene_id": "scene0001_00", "situation": "I am facing the sink.",
                        "question": "What is on my left?"},
                       {"question_id": 2, "scene_id": "scene0002_00", "situation": "", "question": "Is it dark?"}]}
    a = {"annotations": [{"question_id": 1, "scene_id": "scene0001_00", "answers": [{"answer": "towel"}]}]}
    (tmp_path / "q.json").write_text(json.dumps(q))
    (tmp_path / "a.json").write_text(json.dumps(a))
    records, skipped, _ = read_dataset({"format": "sqa3d", "path": str(tmp_path / "q.json"),
                                     "annotations": str(tmp_path / "a.json"), "media_root": "/scannet",
                                     "media_pattern": "{scene_id}/color"})
    assert len(records) == 1 and records[0].answer == "towel" and records[0].task == "open"
    assert records[0].question == "I am facing the sink. What is on my left?"
    assert records[0].media == "/scannet/scene0001_00/color" and records[0].media_kind == "frames"
    assert len(skipped) == 1 and "no annotation" in str(skipped[0])


def test_prompt_is_the_serving_prompt_and_labels_cover_the_answer_only():
    from spacemind_ros.model.presets import build_tiny
    from spacemind_ros.pipeline.prompting import build_question_text
    from spacemind_ros.train.data import IGNORE, tokenize_sample
    from spacemind_ros.train.records import make_record

    _, processor = build_tiny()
    rec = make_record(id=1, question="Which is closest to the bed?", options=["A. chair", "B. lamp"], answer="B",
                      media="/x.mp4", question_type="object_rel_distance")
    ids, labels = tokenize_sample(processor, 3, rec)
    served = processor.encode(3, build_question_text(rec.question, rec.options, "object_rel_distance")).input_ids[0]
    assert ids[: len(served)].tolist() == served.tolist()
    assert (labels[: len(served)] == IGNORE).all()
    assert processor.tokenizer.decode(ids[len(served):]) == "B<|im_end|>"
    assert labels[len(served):].tolist() == ids[len(served):].tolist()


def test_encoder_cache_round_trip_and_damaged_entries(tmp_path):
    import torch

    from spacemind_ros.train.data import sampling_config
    from spacemind_ros.train.encoder_cache import EncoderCache
    from spacemind_ros.train.records import make_record

    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 10)
    rec = make_record(id=1, question="How many chairs?", options=[], answer="2", media=video,
                      question_type="object_counting")
    cache = EncoderCache(tmp_path / "cache", "fp")
    key = cache.key(rec, sampling_config())
    assert key != cache.key(rec, sampling_config(sample_frames=16))
    assert cache.load(key) is None
    t = [torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(2, 1, 6)]
    cache.save(key, *t)
    got = cache.load(key)
    assert all(torch.equal(got[k], v) for k, v in zip(("visual", "patch_tokens", "camera_tokens"), t))
    assert cache.entries() == 1 and cache.size_bytes() > 0
    cache.path(key).write_bytes(b"half a file")
    assert cache.load(key) is None  # recomputed, never trusted
    video.write_bytes(b"y" * 11)  # the media changed: a new key
    assert cache.key(rec, sampling_config()) != key


def test_a_one_line_jsonl_is_one_record(tmp_path):
    row = {"id": 7, "dataset": "d", "scene_name": "s", "question_type": "object_rel_distance", "question": "Closest?",
           "options": ["A. x", "B. y"], "ground_truth": "B", "bag": "bag", "image_topic": "/camera/image_raw"}
    (tmp_path / "q.jsonl").write_text(json.dumps(row) + "\n")
    records, skipped, _ = read_dataset({"format": "scenes", "path": str(tmp_path / "q.jsonl")})
    assert [r.id for r in records] == ["7"] and not skipped
    assert records[0].media == str(tmp_path / "bag") and records[0].topic == "/camera/image_raw"
