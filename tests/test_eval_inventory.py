"""spacemind-eval inventory: the objects a model names for a walk, against the truth and the training split's
frequency list."""
import json

import pytest

from spacemind_ros.eval.cli import main as eval_main
from spacemind_ros.eval.inventory import frequency_prior, inventory_match, parse_items, read_inventory
from spacemind_ros.scenes.inventory import ORDER_QUESTION, TOTALS_QUESTION, inventory_records


def test_items_and_their_match_by_hand():
    assert parse_items("chair 2, trash can 1, lamp.") == [("chair", 2), ("trash can", 1), ("lamp", None)]
    assert parse_items(" , Desk,") == [("desk", None)]
    m = inventory_match("chair 2, desk 1, tv 1, tv 1", "chair 2, desk 2, sink 1")
    assert m["f1"] == pytest.approx(2 * 2 / (3 + 3))  # {chair, desk, tv} against {chair, desk, sink}
    assert m["pairs_f1"] == pytest.approx(2 * 1 / (3 + 3))  # only (chair, 2) is right
    assert inventory_match("", "chair 1") == {"f1": 0.0, "pairs_f1": 0.0}


def _record(question, truth, bag="s/bag"):
    return {"bag": bag, "question": question, "ground_truth": truth}


def test_the_frequency_list_is_the_commonest_categories_with_their_commonest_totals():
    records = [_record(TOTALS_QUESTION, "chair 2, desk 1"), _record(TOTALS_QUESTION, "chair 2, sink 1, desk 1"),
               _record(TOTALS_QUESTION, "chair 1, lamp 3"), _record(ORDER_QUESTION, "tv, bed, sofa, stove")]
    prior = frequency_prior(records)  # lists of 2, 3 and 2 names: 2 on average
    assert prior == {"order": "chair, desk", "totals": "chair 2, desk 1"}


def test_bad_inventory_files_are_refused_with_their_line(tmp_path):
    path = tmp_path / "inv.jsonl"
    path.write_text(json.dumps(_record(ORDER_QUESTION, "chair")) + "\n" + json.dumps({"question": "x"}) + "\n")
    with pytest.raises(ValueError, match=r"inv.jsonl:2: inventory record lacks bag, ground_truth"):
        read_inventory(path)
    path.write_text(json.dumps(_record("How many chairs?", "2")) + "\n")
    with pytest.raises(ValueError, match=r"inv.jsonl:1: not an inventory question"):
        read_inventory(path)


def test_the_command_answers_every_question_and_scores_it(synth_scene, tmp_path, capsys):
    scene = json.loads((synth_scene / "synth" / "scene.json").read_text())
    records = inventory_records(scene, str(synth_scene / "synth" / "bag"), 1)  # an absolute bag path
    assert [r["question"] for r in records] == [ORDER_QUESTION, TOTALS_QUESTION]
    questions = tmp_path / "inventory.jsonl"
    questions.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "inv"
    assert eval_main(["inventory", "--questions", str(questions), "--prior-from", str(questions),
                      "--out", str(out)]) == 0
    summary = json.loads((out / "inventory_score.json").read_text())
    assert summary["records"] == 2 and summary["frames"] == 8
    assert summary["order"]["questions"] == summary["totals"]["questions"] == 1
    assert summary["totals"]["prior_pairs_f1"] == 1.0  # one scene: its own list is the frequency list
    assert set(summary["order"]) == {"questions", "f1", "prior_f1"}  # the order question asks for no counts
    lines = [json.loads(x) for x in (out / "inventory.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["order", "totals"] and all(x["success"] for x in lines)
    assert lines[1]["match"] == inventory_match(lines[1]["prediction"], records[1]["ground_truth"])
    assert json.loads(capsys.readouterr().out)["totals"]["f1"] == summary["totals"]["f1"]
