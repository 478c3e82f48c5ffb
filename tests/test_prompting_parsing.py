"""Request validation, task inference, VSI-Bench prompts and answer parsing."""
import math

import pytest

from spacemind_ros.errors import BadRequestError
from spacemind_ros.pipeline.answer_parsing import fuzzy_first_word, parse_choice, parse_number, parse_route
from spacemind_ros.pipeline.prompting import (
    build_question_text,
    infer_task,
    resolve_task,
    validate_options,
    validate_question,
)


def test_question_limits():
    with pytest.raises(BadRequestError, match="empty"):
        validate_question("   ")
    with pytest.raises(BadRequestError, match="10000 characters; the limit is 2000"):
        validate_question("x" * 10_000)
    assert validate_question("  where? ") == "where?"


def test_option_rules():
    assert validate_options(["A. sofa", "B) bed"]) == ["A. sofa", "B) bed"]
    with pytest.raises(BadRequestError, match="27 options given; at most 26"):
        validate_options([f"{chr(65 + i % 26)}. x" for i in range(27)])
    with pytest.raises(BadRequestError, match="must start with its letter"):
        validate_options(["sofa", "bed"])
    with pytest.raises(BadRequestError, match="expected B"):
        validate_options(["A. sofa", "C. bed"])


@pytest.mark.parametrize(
    "question,options,task",
    [
        ("How many chairs are in the room?", [], "object_counting"),
        ("What is the distance between the sofa and the door?", [], "object_abs_distance"),
        ("How far is the bed from the TV?", [], "object_abs_distance"),
        ("What is the size of this room in square meters?", [], "room_size_estimation"),
        ("What is the length of the longest dimension of the table?", [], "object_size_estimation"),
        ("Which object is closest to the lamp?", ["A. sofa", "B. bed"], "object_rel_distance"),
        ("If I stand by the fridge facing the sink, is the stove to my left?", ["A. left", "B. right"],
         "object_rel_direction_medium"),
        ("How do I get to the bed?", ["A. go forward", "B. turn left"], "route_planning"),
        ("Which appears first in the video?", ["A. sofa", "B. bed"], "obj_appearance_order"),
        ("What color is the sofa?", [], "open"),
    ],
)
def test_infer_task(question, options, task):
    assert infer_task(question, options) == task


def test_resolve_task_errors():
    with pytest.raises(BadRequestError, match="unknown task 'telepathy'"):
        resolve_task("telepathy", "q", [])
    with pytest.raises(BadRequestError, match="multiple choice"):
        resolve_task("object_rel_distance", "q", [])
    with pytest.raises(BadRequestError, match="numerical answer"):
        resolve_task("object_counting", "q", ["A. 1"])


def test_vsibench_prompts():
    na = build_question_text("How many chairs?", [], "object_counting")
    assert na == ("These are frames of a video.\nHow many chairs?\n"
                  "Please answer the question using a single word or phrase.")
    mca = build_question_text("Closest?", ["A. sofa", "B. bed"], "object_rel_distance")
    assert mca == ("These are frames of a video.\nClosest?\nOptions:\nA. sofa\nB. bed\n"
                   "Answer with the option's letter from the given choices directly.")


@pytest.mark.parametrize(
    "text,expected",
    [("B", "B"), ("B.", "B"), ("(C) the bed", "C"), ("The answer is A", "A"), ("bed", "B"), ("Z", ""), ("", "")],
)
def test_parse_choice(text, expected):
    assert parse_choice(text, ["A. sofa", "B. bed", "C. lamp"]) == expected


@pytest.mark.parametrize(
    "text,unit,value,out_unit",
    [
        ("two", "count", 2.0, "count"),
        ("1.5m", "m", 1.5, "m"),
        ("150 cm", "m", 1.5, "m"),
        ("2.5 meters", "cm", 250.0, "cm"),
        ("12 square meters", "m^2", 12.0, "m^2"),
        ("3", "count", 3.0, "count"),
        ("about 40", "cm", 40.0, "cm"),
    ],
)
def test_parse_number(text, unit, value, out_unit):
    v, u = parse_number(text, unit)
    assert v == pytest.approx(value) and u == out_unit


def test_parse_number_none():
    v, u = parse_number("no idea", "m")
    assert math.isnan(v) and u == ""
    assert fuzzy_first_word("3.5. meters") == "3.5"


def test_parse_route():
    steps, actions, landmarks = parse_route(
        "1. Go forward until the sofa\n2. Turn left\n3. Walk past the kitchen table, then turn right; "
        "turn around at the door. Stop at the bed.")
    assert actions == ["FORWARD", "TURN_LEFT", "FORWARD", "TURN_RIGHT", "TURN_BACK", "STOP"]
    assert landmarks == ["sofa", "", "kitchen table", "", "door", "bed"]
    assert steps[0] == "Go forward until the sofa"
    assert parse_route("random words") == ([], [], [])


@pytest.mark.parametrize("question,task", [
    ("What is the distance between the counter and the fridge?", "object_abs_distance"),  # not 'count'
    ("How far is the countertop from the door?", "object_abs_distance"),
    ("Count the chairs in this room.", "object_counting"),
    ("How many chairs are there?", "object_counting"),
    ("What is the height of the cabinet?", "object_size_estimation"),
    ("Describe the leftover food", "open"),  # 'left' only as a whole word
])
def test_task_inference_matches_whole_words(question, task):
    from spacemind_ros.pipeline.prompting import infer_task

    assert infer_task(question, []) == task
