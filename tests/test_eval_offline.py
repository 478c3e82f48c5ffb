"""spacemind-eval run --mode offline on small bags written here (sqlite3 and mcap): records, determinism, the
frames each question sees, resume, bounded memory, no rclpy."""
import json
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from spacemind_ros.eval.cli import main
from spacemind_ros.eval.predictions import repair_tail
from tests.evaldata import S, make_bag, questions_for, read_predictions, write_jsonl


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Two bags with the same stamps (so a window shared between them would show) but different frames."""
    root = tmp_path_factory.mktemp("evaldata")
    stamps_a = make_bag(root / "bags" / "a", "sqlite3", frames=12)
    stamps_b = make_bag(root / "bags" / "b", "mcap", frames=16, size=(56, 72))
    questions = questions_for("bags/a", "a", stamps_a) + questions_for("bags/b", "b", stamps_b)
    return dict(root=root, q=write_jsonl(root / "q.jsonl", questions), stamps={"a": stamps_a, "b": stamps_b},
                questions=questions)


def run(dataset, out, *extra):
    return main(["run", "--questions", str(dataset["q"]), "--out", str(out), "--frames", "8", "--quiet", "--preset",
                 "tiny", *extra])


def expected_stamps(stamps, frames=8):
    """What a query samples: ``frames + 2`` uniformly over the window, both ends dropped (all if fewer)."""
    n = len(stamps)
    if n >= frames + 2:
        return [stamps[i] for i in np.linspace(0, n - 1, frames + 2).round().astype(int)[1:-1]]
    if n > frames:
        return [stamps[i] for i in np.linspace(0, n - 1, frames).round().astype(int)]
    return list(stamps)


@pytest.fixture(scope="module")
def first_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("run1")
    assert run(dataset, out) == 0
    return out


def test_records_carry_raw_answer_parse_and_the_frames_asked_at(dataset, first_run):
    recs = {r["id"]: r for r in read_predictions(first_run / "predictions.jsonl")}
    assert set(recs) == {q["id"] for q in dataset["questions"]}
    for q in dataset["questions"]:
        r = recs[q["id"]]
        stamps = dataset["stamps"][q["scene_name"]]
        assert r["success"], r["error_message"]
        assert isinstance(r["prediction"], str) and set(r["parsed"]) == {"choice", "value", "unit", "task"}
        assert r["question_type"] == r["parsed"]["task"] == q["question_type"]
        assert r["mode"] == "offline" and r["model"] == "preset:tiny" and r["backend"] == "pytorch"
        assert r["frames"] == 8 and r["latency_s"] > 0 and r["ground_truth"] == q["ground_truth"]
        if "stamp_ns" in q:  # asked mid-bag: only the frames up to its stamp, in bag time
            seen = [s for s in stamps if s <= q["stamp_ns"]]
            assert r["stamp_ns"] == q["stamp_ns"] and r["frames_fed"] == len(seen)
        else:
            seen = stamps
            assert r["stamp_ns"] == stamps[-1] and r["frames_fed"] == len(stamps)
        assert r["frame_stamps"] == expected_stamps(seen)


def test_report_and_score_are_written(first_run):
    for name in ("report.md", "tasks.png", "latency.png", "score.json", "run.json"):
        assert (first_run / name).stat().st_size > 0, name
    score = json.loads((first_run / "score.json").read_text())
    assert 0 <= score["overall"] <= 100 and score["detail"]["records"] == 8
    text = (first_run / "report.md").read_text()
    assert "random weights" in text and "| overall |" in text and "p95" in text and "tasks.png" in text


def test_offline_is_deterministic_and_each_bag_has_a_window_of_its_own(dataset, first_run, tmp_path):
    """Same predictions on a second run; and each answer equals a fresh reasoner fed only that bag's frames."""
    assert run(dataset, tmp_path / "again") == 0
    keep = ("id", "prediction", "parsed", "frame_stamps", "success")
    a = [{k: r[k] for k in keep} for r in read_predictions(first_run / "predictions.jsonl")]
    b = [{k: r[k] for k in keep} for r in read_predictions(tmp_path / "again" / "predictions.jsonl")]
    assert a == b
    from spacemind_ros.eval.bags import bag_frames
    from spacemind_ros.eval.settings import EvalSettings
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner

    recs = {r["id"]: r for r in read_predictions(first_run / "predictions.jsonl")}
    for scene in ("a", "b"):
        model, processor = load_model(None, preset="tiny")
        reasoner = SpatialReasoner(model, processor, EvalSettings(frames=8).window_config(), ReasonerConfig())
        try:
            for stamp, image in bag_frames(dataset["root"] / "bags" / scene, "/camera/image_raw"):
                reasoner.add_frame(stamp, image)
            reasoner.wait_features()
            q = next(q for q in dataset["questions"] if q["id"] == f"{scene}-count")
            answer = reasoner.ask(q["question"], task=q["question_type"])
            assert answer.answer == recs[q["id"]]["prediction"]
            assert answer.frame_stamps == recs[q["id"]]["frame_stamps"]
        finally:
            reasoner.close()


def test_resume_after_an_interrupted_run(dataset, first_run, tmp_path):
    out = tmp_path / "resumed"
    assert run(dataset, out, "--limit", "3", "--no-report") == 0
    first = read_predictions(out / "predictions.jsonl")
    assert len(first) == 3
    with open(out / "predictions.jsonl", "a") as f:  # killed while writing the 4th line
        f.write('{"id": "b-count", "prediction": "tw')
    assert run(dataset, out) == 0
    recs = read_predictions(out / "predictions.jsonl")
    assert recs[:3] == first  # the earlier answers are kept as they were, not asked again
    assert sorted(r["id"] for r in recs) == sorted(q["id"] for q in dataset["questions"])
    full = {r["id"]: r["prediction"] for r in read_predictions(first_run / "predictions.jsonl")}
    assert {r["id"]: r["prediction"] for r in recs} == full
    # a resume into the same folder with other settings is refused
    assert run(dataset, out, "--frames", "16") == 2


def test_repair_tail_cuts_only_a_partial_last_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"a": 1}\n{"b": 2}\n')
    assert not repair_tail(p) and p.read_text() == '{"a": 1}\n{"b": 2}\n'
    p.write_text('{"a": 1}\n{"b": ')
    assert repair_tail(p) and p.read_text() == '{"a": 1}\n'
    p.write_text('{"a"')
    assert repair_tail(p) and p.read_text() == ""


def test_memory_stays_bounded_on_a_long_bag(tmp_path):
    """300 frames of 240x320 (69 MB of pixels) through an 8-frame window: frames are streamed, not collected."""
    stamps = make_bag(tmp_path / "long", "mcap", frames=300, size=(240, 320), fps=30.0)
    q = questions_for("long", "long", stamps)[:1]
    write_jsonl(tmp_path / "q.jsonl", q)
    tracemalloc.start()
    try:
        rc = main(["run", "--questions", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "out"), "--quiet",
                   "--window-frames", "8", "--frames", "8", "--no-report"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rc == 0
    rec = read_predictions(tmp_path / "out" / "predictions.jsonl")[0]
    assert rec["success"] and rec["window_frames"] == 8 and rec["frames_fed"] == 300
    assert rec["frame_stamps"] == stamps[-8:]
    frame_bytes = 240 * 320 * 3
    assert peak < 60 * frame_bytes, f"peak {peak / 1e6:.1f} MB for 8 window frames of {frame_bytes / 1e6:.2f} MB"


def test_offline_never_imports_rclpy(dataset, tmp_path):
    code = ("import sys\nfrom spacemind_ros.eval.cli import main\n"
            f"rc = main(['run', '--questions', {str(dataset['q'])!r}, '--out', {str(tmp_path)!r}, '--quiet',"
            " '--frames', '8'])\n"
            "assert rc == 0, rc\nassert 'rclpy' not in sys.modules, 'offline imported rclpy'\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
