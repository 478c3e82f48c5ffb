"""The official VSI-Bench scorer on hand-made predictions; expected values are worked out by hand below."""
import json
import subprocess
import sys

import pytest

from spacemind_ros.eval.results import score_records
from spacemind_ros.eval.scoring import TASKS, fuzzy_matching, mean_relative_accuracy, score_official

# (question_type, ground_truth, raw prediction, expected official score, why)
CASES = [
    # multiple choice: first space-separated word, trailing dots removed, case-blind exact match
    ("object_rel_distance", "A", "A", 1.0, "plain letter"),
    ("object_rel_distance", "A", "a.", 1.0, "lower case with a dot"),
    ("object_rel_distance", "B", "B. the sofa is closer", 1.0, "letter, dot, words after it"),
    ("object_rel_distance", "C", "C..", 1.0, "all trailing dots go"),
    ("object_rel_distance", "A", "(A)", 0.0, "brackets are not removed"),
    ("object_rel_distance", "A", "The answer is A", 0.0, "first word is 'The'"),
    ("object_rel_distance", "A", "", 0.0, "empty answer"),
    ("object_rel_distance", "A", " A", 0.0, "leading space: the first word is ''"),
    ("object_rel_distance", "D", "A,", 0.0, "comma stays"),
    ("route_planning", "b", "B", 1.0, "ground truth lower case"),
    ("route_planning", "C", "A", 0.0, "wrong letter"),
    ("obj_appearance_order", "D", "D.\nbecause", 0.0, "no space before the newline: first word 'D.\\nbecause'"),
    ("obj_appearance_order", "D", "d", 1.0, "lower case"),
    ("object_rel_direction_easy", "A", "A.", 1.0, ""),
    ("object_rel_direction_easy", "B", "A", 0.0, ""),
    ("object_rel_direction_medium", "C", "c", 1.0, ""),
    # (no object_rel_direction_hard record: that sub-type counts 0 in the direction mean)
    # numerical: MRA over theta = 0.50, 0.55, ..., 0.95 of |p - y| / y <= 1 - theta
    ("object_counting", "3", "3", 1.0, "exact"),
    ("object_counting", "3", "3.", 1.0, "trailing dot"),
    ("object_counting", "3", "3 chairs", 1.0, "words after the number"),
    ("object_counting", "3", "4", 0.4, "rel. error 1/3 <= 1 - theta for theta 0.50..0.65: 4 of 10"),
    ("object_counting", "3", "three", 0.0, "a word is not a number"),
    ("object_counting", "3", "-3", 0.0, "negative: rel. error 2"),
    ("object_counting", "3", "", 0.0, "empty"),
    ("object_abs_distance", "2.5", "2", 0.6, "rel. error 0.2 > 1 - linspace[6] (0.19999999999999996): 6 of 10"),
    ("object_abs_distance", "2.5", "2.5m", 0.0, "'2.5m' does not parse as a float"),
    ("object_abs_distance", "10", "11", 0.9, "0.1 <= 1 - linspace[8] (0.10000000000000009): 9 of 10"),
    ("object_abs_distance", "1", "1.05", 1.0, "1.05 - 1 = 0.050000000000000044 == 1 - 0.95: counts (<=)"),
    ("object_abs_distance", "10", "1e1", 1.0, "Python float() syntax is accepted"),
    ("object_size_estimation", "40", "60", 0.1, "rel. error 0.5 <= 1 - 0.5 only"),
    ("object_size_estimation", "40", "100", 0.0, "rel. error 1.5"),
    ("object_size_estimation", "40", "nan", 0.0, "NaN compares false"),
    # room_size_estimation: no records -> the task is left out of overall (the official mean of the tasks present)
]


def by_hand():
    """Per-task expectations from the table above: means per type, direction = (easy + medium + 0) / 3; overall the
    mean of the 7 tasks present (room size has no question)."""
    per_type = {}
    for qtype, _, _, score, _ in CASES:
        per_type.setdefault(qtype, []).append(score)
    mean = {t: sum(v) / len(v) for t, v in per_type.items()}
    tasks = {
        "object_counting": mean["object_counting"],
        "object_abs_distance": mean["object_abs_distance"],
        "object_size_estimation": mean["object_size_estimation"],
        "object_rel_distance": mean["object_rel_distance"],
        "object_rel_direction": (mean["object_rel_direction_easy"] + mean["object_rel_direction_medium"] + 0.0) / 3,
        "route_planning": mean["route_planning"],
        "obj_appearance_order": mean["obj_appearance_order"],
    }
    return {t: 100 * v for t, v in tasks.items()} | {"overall": 100 * sum(tasks.values()) / 7}


@pytest.mark.parametrize("qtype,gt,pred,expected,why", CASES)
def test_each_case(qtype, gt, pred, expected, why):
    assert score_official(qtype, pred, gt) == pytest.approx(expected, abs=1e-12), why


def test_fuzzy_matching_is_the_official_expression():
    assert fuzzy_matching("A. sofa") == "A"
    assert fuzzy_matching("  B") == ""
    assert fuzzy_matching("12.5.. metres") == "12.5"
    assert mean_relative_accuracy(1.0, 1.0) == 1.0


def write_predictions(path, cases, parsed=None):
    with open(path, "w") as f:
        for i, (qtype, gt, pred, _, _) in enumerate(cases):
            rec = {"id": f"q{i}", "question_type": qtype, "ground_truth": gt, "prediction": pred}
            if parsed is not None:
                rec["parsed"] = parsed(i, qtype, gt)
            f.write(json.dumps(rec) + "\n")


def test_file_score_equals_the_official_formula(tmp_path):
    path = tmp_path / "p.jsonl"
    write_predictions(path, CASES)
    result = score_records(path)
    assert not result.problems
    summary = result.official.summary()
    expected = by_hand()
    assert set(summary) == set(TASKS) - {"room_size_estimation"} | {"overall"}
    for task, value in expected.items():
        assert summary[task] == pytest.approx(value, abs=1e-9), task
    assert result.official.missing() == ["room_size_estimation", "object_rel_direction_hard"]
    assert result.counts["object_counting"] == 7 and result.records == len(CASES)


def test_cli_json_has_the_8_tasks_overall_and_detail(tmp_path):
    path = tmp_path / "p.jsonl"
    write_predictions(path, CASES)
    out = tmp_path / "score.json"
    proc = subprocess.run([sys.executable, "-m", "spacemind_ros.eval.cli", "score", "--predictions", str(path),
                           "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert set(data) == set(TASKS) - {"room_size_estimation"} | {"overall", "detail"}
    for task, value in by_hand().items():
        assert data[task] == pytest.approx(value, abs=1e-9)
        assert 0 <= data[task] <= 100
    detail = data["detail"]
    assert detail["counts"]["object_rel_direction_hard"] == 0 and detail["counts"]["object_counting"] == 7
    assert detail["per_question_type"]["object_counting"] == pytest.approx(100 * (1 + 1 + 1 + 0.4) / 7)
    assert detail["missing_tasks"] == ["room_size_estimation"]
    assert "room_size_estimation" not in detail["tasks_present"] and len(detail["tasks_present"]) == 7
    assert "overall" in proc.stdout and "lenient" in proc.stdout


def test_lenient_score_is_separate_and_never_feeds_the_official_one(tmp_path):
    cases = [("object_rel_distance", "B", "The answer is B", None, ""),
             ("object_abs_distance", "2", "about 2 m", None, "")]
    good = lambda i, qtype, gt: {"choice": "B", "value": None} if i == 0 else {"choice": "", "value": 2.0}  # noqa: E731
    bad = lambda i, qtype, gt: {"choice": "C", "value": None} if i == 0 else {"choice": "", "value": 9.0}  # noqa: E731
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_predictions(a, cases, good)
    write_predictions(b, cases, bad)
    ra, rb = score_records(a), score_records(b)
    assert ra.official.summary() == rb.official.summary()  # parsed fields do not move the official score
    assert ra.official.summary()["object_rel_distance"] == 0.0 and ra.official.summary()["object_abs_distance"] == 0
    assert ra.lenient.summary()["object_rel_distance"] == 100.0
    assert ra.lenient.summary()["object_abs_distance"] == 100.0
    assert rb.lenient.summary()["object_rel_distance"] == 0.0
    # without parsed fields the lenient score runs the node's parser on the raw text
    write_predictions(a, cases)
    assert score_records(a).lenient.summary()["object_abs_distance"] == 100.0


def test_last_record_of_an_id_counts(tmp_path):
    path = tmp_path / "p.jsonl"
    with open(path, "w") as f:
        f.write(json.dumps({"id": 1, "question_type": "route_planning", "ground_truth": "A", "prediction": "",
                            "success": False, "error_code": "TIMEOUT"}) + "\n")
        f.write(json.dumps({"id": 1, "question_type": "route_planning", "ground_truth": "A", "prediction": "A",
                            "success": True, "latency_s": 0.5}) + "\n")
    result = score_records(path)
    assert result.records == 1 and result.official.summary()["route_planning"] == 100.0
    assert result.errors == {} and result.latencies_s == [0.5]


def test_bad_records_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "p.jsonl"
    lines = [
        json.dumps({"id": 1, "question_type": "route_planning", "ground_truth": "A", "prediction": "A"}),
        "{not json",
        json.dumps({"id": 3, "question_type": "object_weight", "ground_truth": "1", "prediction": "1"}),
        json.dumps({"id": 4, "question_type": "object_counting", "prediction": "1"}),
        json.dumps({"id": 5, "question_type": "object_counting", "ground_truth": "0", "prediction": "0"}),
        json.dumps({"id": 6, "question_type": "object_counting", "ground_truth": "2"}),
        "",
        json.dumps([1, 2]),
    ]
    path.write_text("\n".join(lines) + "\n")
    result = score_records(path)
    where = [(p.line, p.message) for p in result.problems]
    assert [line for line, _ in where] == [2, 3, 4, 5, 6, 8]
    assert "not valid JSON" in where[0][1] and "unknown question_type 'object_weight'" in where[1][1]
    assert "ground_truth is missing" in where[2][1] and "positive number" in where[3][1]
    assert "'prediction'" in where[4][1] and str(path) in str(result.problems[0])
    assert result.records == 1
    proc = subprocess.run([sys.executable, "-m", "spacemind_ros.eval.cli", "score", "--predictions", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and f"{path}:3: unknown question_type" in proc.stderr


def test_report_renders_tables_and_plots_against_a_baseline(tmp_path):
    from PIL import Image

    from spacemind_ros.eval.cli import main

    run, base = tmp_path / "run.jsonl", tmp_path / "base.jsonl"
    write_predictions(run, CASES)
    write_predictions(base, [(t, gt, gt, 1.0, "") for t, gt, *_ in CASES])  # the ground truth itself: 100
    with open(run, "a") as f:
        f.write(json.dumps({"id": "slow", "question_type": "route_planning", "ground_truth": "A", "prediction": "A",
                            "latency_s": 2.0, "model": "/models/spacemind", "backend": "pytorch", "mode": "live",
                            "frames": 32}) + "\n")
    assert main(["report", "--predictions", str(run), "--baseline", str(base), "--out", str(tmp_path / "r")]) == 0
    text = (tmp_path / "r" / "report.md").read_text()
    assert "| task | questions | official | lenient (not official) | random | majority | baseline run |" in text
    assert "| object_counting | 7 | " in text and "| 100.00 |" in text  # the baseline column
    assert "| model | /models/spacemind |" in text and "| mode | live |" in text and "random weights" not in text
    assert "| room_size_estimation | 0 | - | - | - | - | - |" in text  # no question: no score, left out
    assert "mean of the 7 task(s) with questions" in text
    for name, size in (("tasks.png", (900, 400)), ("latency.png", (500, 300))):
        with Image.open(tmp_path / "r" / name) as im:
            assert im.format == "PNG" and im.size[0] >= size[0] and im.size[1] >= size[1], (name, im.size)
