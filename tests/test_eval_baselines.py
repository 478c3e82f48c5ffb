"""Baselines beside a score (random, majority, prior from a training split), the official averaging over the tasks
present, and numerical ground truth 0. Expected values are worked out by hand in the comments."""
import json
import subprocess
import sys

import pytest

from spacemind_ros.eval.baselines import Prior
from spacemind_ros.eval.results import score_records
from spacemind_ros.eval.scoring import (
    DIRECTION_TYPES,
    MCA_TYPES,
    QUESTION_TYPES,
    mean_relative_accuracy,
    score_official,
)

OPTS4 = ["A. a", "B. b", "C. c", "D. d"]
OPTS2 = ["A. left", "B. right"]
# (question_type, ground truth, options): the evaluated set
EVALUATED = [
    ("object_counting", "3", []), ("object_counting", "10", []), ("object_counting", "3.3", []),
    ("route_planning", "A", OPTS4), ("route_planning", "A", OPTS4), ("route_planning", "B", OPTS4),
    ("object_rel_direction_easy", "A", OPTS2), ("object_rel_direction_easy", "B", OPTS2),
]
# the training split the prior learns from: counting median 3, route B, direction easy B
TRAIN = [("object_counting", "3"), ("object_counting", "3"), ("object_counting", "4"), ("route_planning", "B"),
         ("route_planning", "B"), ("route_planning", "A"), ("object_rel_direction_easy", "B")]


def write(path, rows, prediction="Z"):
    with open(path, "w") as f:
        for i, (qtype, gt, *rest) in enumerate(rows):
            rec = {"id": f"q{i}", "question_type": qtype, "ground_truth": gt, "prediction": prediction}
            if rest:
                rec["options"] = rest[0]
            f.write(json.dumps(rec) + "\n")
    return path


def test_random_majority_and_prior_by_hand(tmp_path):
    prior, problems = Prior.from_file(write(tmp_path / "train.jsonl", TRAIN))
    assert not problems and prior.answers == {"object_counting": "3", "route_planning": "B",
                                              "object_rel_direction_easy": "B"}
    result = score_records(write(tmp_path / "p.jsonl", EVALUATED), prior)
    b = {name: base.scores for name, base in result.baselines.items()}
    # random: route 1/4; direction easy 1/2, medium and hard missing count 0 -> (50 + 0 + 0) / 3
    assert b["random"] == pytest.approx({"route_planning": 25.0, "object_rel_direction": 50 / 3,
                                         "overall": (25 + 50 / 3) / 2})
    # majority of the evaluated set: route A (2 of 3); direction easy A and B tie -> A (the earlier letter): 1 of 2
    assert result.baselines["majority"].answers == {"route_planning": "A", "object_rel_direction_easy": "A"}
    assert b["majority"] == pytest.approx({"route_planning": 200 / 3, "object_rel_direction": 50 / 3,
                                           "overall": (200 / 3 + 50 / 3) / 2})
    # prior: counting 3 against 3 (1.0), 10 (rel. error 0.7: 0.0) and 3.3 (0.09: theta 0.50..0.90, 0.9);
    # route B: 1 of 3; direction easy B: 1 of 2 -> 50 / 3
    counting = 100 * (1.0 + 0.0 + 0.9) / 3
    assert b["prior"] == pytest.approx({"object_counting": counting, "route_planning": 100 / 3,
                                        "object_rel_direction": 50 / 3,
                                        "overall": (counting + 100 / 3 + 50 / 3) / 3})
    assert "train.jsonl" in result.baselines["prior"].label and "7 records" in result.baselines["prior"].label
    assert "evaluated set" in result.baselines["majority"].label  # says which labels it read


def test_prior_of_the_evaluated_set_is_labelled_as_reading_its_labels(tmp_path):
    result = score_records(write(tmp_path / "p.jsonl", EVALUATED), prior_of_evaluated=True)
    prior = result.baselines["prior"]
    assert prior.answers["object_counting"] == "3.3" and prior.answers["route_planning"] == "A"
    assert "OF THE EVALUATED SET" in prior.label and "not a fair baseline" in prior.label
    assert "prior" not in score_records(tmp_path / "p.jsonl").baselines  # never without being asked


def test_cli_prints_named_baselines_instead_of_chance(tmp_path):
    train, preds = write(tmp_path / "train.jsonl", TRAIN), write(tmp_path / "p.jsonl", EVALUATED, "A")
    out = tmp_path / "s.json"
    proc = subprocess.run([sys.executable, "-m", "spacemind_ros.eval.cli", "score", "--predictions", str(preds),
                           "--prior-from", str(train), "--json", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[-3:] == ["random", "majority", "prior"] and "chance" not in proc.stdout.splitlines()[0]
    detail = json.loads(out.read_text())["detail"]
    assert set(detail["baselines"]) == {"random", "majority", "prior"} and "chance" not in detail
    assert detail["tasks_present"] == ["object_counting", "object_rel_direction", "route_planning"]
    both = subprocess.run([sys.executable, "-m", "spacemind_ros.eval.cli", "score", "--predictions", str(preds),
                           "--prior-from", str(train), "--prior-from-evaluated"], capture_output=True, text=True,
                          timeout=120)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def official_aggregate(records):
    """thinking-in-space's vsibench_aggregate_results, transcribed: mean per question type, the three direction
    sub-types popped into one mean, overall = sum(output.values()) / len(output)."""
    per = {}
    for qtype, score in records:
        per.setdefault(qtype, []).append(score)
    output = {f"{t}_accuracy" if t in MCA_TYPES else f"{t}_MRA:.5:.95:.05": sum(v) / len(v) for t, v in per.items()}
    output["object_rel_direction_accuracy"] = sum(output.pop(f"{t}_accuracy") for t in DIRECTION_TYPES) / 3.0
    return 100 * sum(output.values()) / len(output)


def test_a_subset_without_a_task_averages_the_tasks_present_as_the_official_code(tmp_path):
    rows = [(t, "A" if t in MCA_TYPES else "2", OPTS4 if t in MCA_TYPES else []) for t in QUESTION_TYPES]
    predictions = {t: ("A" if i % 2 else "B") if t in MCA_TYPES else str(1 + i / 4) for i, t in enumerate(QUESTION_TYPES)}
    full = tmp_path / "full.jsonl"
    with open(full, "w") as f:
        for i, (t, gt, opts) in enumerate(rows):
            f.write(json.dumps({"id": i, "question_type": t, "ground_truth": gt, "options": opts,
                                "prediction": predictions[t]}) + "\n")
    scored = [(t, score_official(t, predictions[t], gt)) for t, gt, _ in rows]
    all8 = score_records(full).official.summary()
    assert all8["overall"] == pytest.approx(official_aggregate(scored))
    subset = tmp_path / "no_route.jsonl"
    subset.write_text("".join(line + "\n" for line in full.read_text().splitlines()
                              if '"route_planning"' not in line))
    without = score_records(subset)
    expected = official_aggregate([(t, s) for t, s in scored if t != "route_planning"])
    assert without.official.summary()["overall"] == pytest.approx(expected)
    tasks = [v for k, v in without.official.summary().items() if k != "overall"]
    assert expected == pytest.approx(sum(tasks) / 7)  # 7 tasks present, not 8
    assert "route_planning" not in without.official.summary() and without.official.missing_tasks() == [
        "route_planning"]
    assert "route_planning" not in without.tasks_present and len(without.tasks_present) == 7


def test_numerical_ground_truth_zero_is_counted_never_divided_by(tmp_path):
    with pytest.raises(ValueError, match="positive number"):
        mean_relative_accuracy(0.0, 0.0)
    with pytest.raises(ValueError, match="positive number"):
        score_official("object_counting", "0", "0")
    assert score_official("route_planning", "A", "A") == 1.0  # multiple choice is untouched
    path = write(tmp_path / "p.jsonl", [("object_counting", "0"), ("object_counting", "2")], "2")
    result = score_records(path)
    assert result.records == 1 and result.official.summary()["object_counting"] == 100.0
    assert len(result.problems) == 1 and result.problems[0].line == 1 and "positive number" in str(result.problems[0])
    prior, problems = Prior.from_file(write(tmp_path / "train.jsonl", [("object_counting", "0"),
                                                                        ("object_counting", "5")]))
    assert prior.answers == {"object_counting": "5"} and len(problems) == 1
    with pytest.raises(ValueError, match="no record"):
        Prior.from_file(write(tmp_path / "bad.jsonl", [("object_counting", "0")]))
