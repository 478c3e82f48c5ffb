"""Bad input to spacemind-eval run: every case is reported with file and line, the rest of the run goes on, and
the exit code says that something was skipped."""
import json
import shutil

from spacemind_ros.eval.cli import main
from spacemind_ros.eval.questions import load_questions
from tests.evaldata import make_bag, questions_for, read_predictions, write_jsonl


def test_bad_questions_and_bags_are_skipped_with_file_and_line(tmp_path, capsys):
    stamps = make_bag(tmp_path / "good", "sqlite3", frames=8)
    make_bag(tmp_path / "other_topic", "sqlite3", frames=8, topic="/front/image")
    # truncated bags: an sqlite3 database cut in half, an mcap file cut before its footer
    make_bag(tmp_path / "cut_db", "sqlite3", frames=8)
    db = next((tmp_path / "cut_db").glob("*.db3"))
    db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    make_bag(tmp_path / "cut_mcap", "mcap", frames=8)
    mc = next((tmp_path / "cut_mcap").glob("*.mcap"))
    mc.write_bytes(mc.read_bytes()[: mc.stat().st_size // 2])
    (tmp_path / "garbage.mcap").write_bytes(b"this is not a bag" * 50)
    good = questions_for("good", "good", stamps)[0]
    lines = [
        json.dumps(good),                                                             # 1 ok
        "{\"id\": \"broken\", ",                                                      # 2 malformed JSON
        json.dumps({**good, "id": "u", "question_type": "object_weight"}),            # 3 unknown type
        json.dumps({k: v for k, v in good.items() if k != "ground_truth"} | {"id": "g"}),  # 4 no ground truth
        json.dumps({**good, "id": "nobag", "bag": "does_not_exist"}),                 # 5 missing bag
        json.dumps({**good, "id": "topic", "bag": "other_topic"}),                    # 6 missing topic
        json.dumps({**good, "id": "cutdb", "bag": "cut_db"}),                         # 7 truncated sqlite3
        json.dumps({**good, "id": "cutmcap", "bag": "cut_mcap"}),                     # 8 truncated mcap
        json.dumps({**good, "id": "garbage", "bag": "garbage.mcap"}),                 # 9 not a bag
        json.dumps({**good, "id": "noopts", "question_type": "route_planning"}),      # 10 MC without options
        json.dumps({**good}),                                                         # 11 duplicate id
        json.dumps({**good, "id": "last"}),                                           # 12 ok
    ]
    q = write_jsonl(tmp_path / "q.jsonl", lines)
    rc = main(["run", "--questions", str(q), "--out", str(tmp_path / "out"), "--frames", "8", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1, err
    for line, text in [(2, "not valid JSON"), (3, "unknown question_type 'object_weight'"),
                       (4, "ground_truth is missing"), (5, "does not exist"), (6, "topic '/camera/image_raw' is not "
                       "in bag"), (7, "malformed"), (8, "cannot be read"), (9, "cannot be read"),
                       (10, "multiple choice"), (11, "duplicate id")]:
        assert f"{q}:{line}: " in err and text in err.split(f"{q}:{line}: ")[1].splitlines()[0], (line, text, err)
    recs = {r["id"]: r for r in read_predictions(tmp_path / "out" / "predictions.jsonl")}
    assert recs[good["id"]]["success"] and recs["last"]["success"]
    skipped = [json.loads(line) for line in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()]
    assert sorted(s["line"] for s in skipped) == list(range(2, 12))
    assert all(s["file"] == str(q) for s in skipped)


def test_a_clean_run_exits_0_and_bag_dir_overrides_the_folder(tmp_path):
    stamps = make_bag(tmp_path / "bags" / "scene", "mcap", frames=8)
    q = write_jsonl(tmp_path / "elsewhere.jsonl", questions_for("scene", "s", stamps)[:2])
    assert main(["run", "--questions", str(q), "--out", str(tmp_path / "o1"), "--quiet"]) == 1  # tmp/scene: missing
    assert main(["run", "--questions", str(q), "--bag-dir", str(tmp_path / "bags"), "--out", str(tmp_path / "o2"),
                 "--quiet"]) == 0


def test_too_few_frames_is_an_answer_with_an_error_not_a_skip(tmp_path):
    stamps = make_bag(tmp_path / "short", "sqlite3", frames=2)
    qs = questions_for("short", "s", stamps)[:1]
    qs.append({**qs[0], "id": "early", "stamp_ns": stamps[0] - 1})  # before the first frame
    q = write_jsonl(tmp_path / "q.jsonl", qs)
    assert main(["run", "--questions", str(q), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    recs = {r["id"]: r for r in read_predictions(tmp_path / "o" / "predictions.jsonl")}
    assert {r["error_code"] for r in recs.values()} == {"NOT_ENOUGH_FRAMES"}
    assert not any(r["success"] for r in recs.values()) and all(r["prediction"] == "" for r in recs.values())
    score = json.loads((tmp_path / "o" / "score.json").read_text())
    assert score["detail"]["errors"] == {"NOT_ENOUGH_FRAMES": 2} and score["object_counting"] == 0.0


def test_question_file_problems_keep_the_good_records(tmp_path):
    p = write_jsonl(tmp_path / "q.jsonl", [
        json.dumps({"id": 1, "question_type": "object_counting", "question": "How many?", "options": [],
                    "ground_truth": "2", "bag": "x"}),
        json.dumps({"id": 2, "question_type": "object_counting", "question": "How many?", "options": ["A. 1"],
                    "ground_truth": "2", "bag": "x"}),
        json.dumps({"id": 3, "question_type": "object_counting", "question": "How many?", "ground_truth": "2"}),
        json.dumps({"id": 4, "question_type": "object_counting", "question": "How many?", "ground_truth": "2",
                    "bag": "/abs/bag", "stamp_ns": -5}),
        json.dumps({"id": 5, "question_type": "object_counting", "question": "How many?", "ground_truth": "2",
                    "bag": "/abs/bag", "stamp_ns": 7}),
    ])
    qs, problems = load_questions(p)
    assert [q.id for q in qs] == ["1", "5"] and qs[0].bag == tmp_path / "x" and str(qs[1].bag) == "/abs/bag"
    assert qs[1].stamp_ns == 7 and qs[0].image_topic == "/camera/image_raw"
    assert [(x.line, x.id) for x in problems] == [(2, "2"), (3, "3"), (4, "4")]
    assert "numerical answer" in problems[0].message and "'bag'" in problems[1].message
    assert "stamp_ns" in problems[2].message
    shutil.rmtree(tmp_path)
    _, problems = load_questions(p)
    assert len(problems) == 1 and problems[0].line == 0 and "cannot read" in problems[0].message
