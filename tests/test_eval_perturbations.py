"""Perturbed evaluation runs: each perturbation changes exactly what it says, is seeded, and is recorded."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from spacemind_ros.eval.cli import main
from spacemind_ros.eval.perturbations import (
    GREY,
    Perturbation,
    QueryPerturbation,
    StreamPerturbation,
    gaussian_blur,
    parse_all,
    query_perturbation,
    rotation_change_deg,
)
from spacemind_ros.eval.questions import load_questions
from spacemind_ros.eval.replay import run_questions
from spacemind_ros.eval.settings import EvalSettings
from spacemind_ros.pipeline.frame_window import Frame
from tests.evaldata import make_bag, questions_for, read_predictions, write_jsonl

S = 1_000_000_000


def test_specs_parse_and_bad_ones_say_why():
    assert [p.spec for p in parse_all(["blind", "single", "camera_noise:2", "drop:0.25"])] == [
        "blind", "single:middle", "camera_noise:2", "drop:0.25"]
    assert Perturbation.parse("single:last").spec == "single:last"
    for bad, why in (("fog", "unknown perturbation"), ("blind:3", "takes no level"), ("blur", "needs a level"),
                     ("blur:x", "not a number"), ("image_noise:-1", ">= 0"), ("drop:1", "0 <= FRACTION < 1"),
                     ("single:first", "middle or last"), ("camera_noise:nan", "finite")):
        with pytest.raises(ValueError, match=why):
            Perturbation.parse(bad)
    with pytest.raises(ValueError, match="more than once: blur"):
        parse_all(["blur:1", "blur:2"])
    assert query_perturbation("") is None
    assert query_perturbation("shuffle+camera_noise:1").spec == "shuffle+camera_noise:1"
    with pytest.raises(ValueError, match="applied by the replaying player"):
        query_perturbation("shuffle+blind")


def frame(value=None, shape=(40, 60, 3), seed=0):
    rng = np.random.default_rng(seed)
    return np.full(shape, value, np.uint8) if value is not None else rng.integers(0, 256, shape, dtype=np.uint8)


def test_blind_makes_every_frame_the_same_grey_image():
    p = StreamPerturbation(parse_all(["blind"]))
    out = p.frame(5 * S, frame())
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8 and (out == GREY).all()


def test_image_noise_has_the_requested_size_and_is_seeded_per_stamp():
    p = StreamPerturbation(parse_all(["image_noise:10"]), seed=3)
    clean = frame(128, (200, 200, 3))  # mid-grey: no clipping
    noisy = p.frame(7 * S, clean).astype(float) - 128
    assert abs(noisy.std() - 10) < 0.2 and abs(noisy.mean()) < 0.2
    assert (p.frame(7 * S, clean) == StreamPerturbation(parse_all(["image_noise:10"]), seed=3).frame(7 * S, clean)).all()
    assert (p.frame(8 * S, clean) != p.frame(7 * S, clean)).any()  # another stamp, other noise


def test_blur_is_a_gaussian_of_the_requested_sigma():
    # a bright line spreads into a 1-D Gaussian across it (a line, not a point: its tail survives uint8 rounding)
    for axis in (0, 1):
        line = np.zeros((61, 61, 1), np.uint8)
        line[(slice(None), 30) if axis else (30, slice(None))] = 255
        out = gaussian_blur(line, 3.0).astype(float)[..., 0]
        profile = out[20] if axis else out[:, 20]
        w = profile / profile.sum()
        assert abs(profile.sum() - 255) < 5  # mass kept
        assert np.sqrt((w * (np.arange(61) - 30) ** 2).sum()) == pytest.approx(3.0, abs=0.1)
    assert (gaussian_blur(frame(77), 2.0) == 77).all()  # a flat image stays flat
    edge = np.zeros((10, 40, 3), np.uint8)
    edge[:, 20:] = 200
    row = gaussian_blur(edge, 2.0)[5, :, 0].astype(int)
    assert (np.diff(row) >= 0).all() and row[0] == 0 and row[-1] == 200 and 0 < row[19] < 100 < row[20] < 200


def test_drop_loses_that_fraction_of_frames_the_same_ones_every_time():
    stamps = [i * S // 10 for i in range(2000)]
    p = StreamPerturbation(parse_all(["drop:0.3"]), seed=1)
    kept = [s for s in stamps if p.frame(s, frame(1, (2, 2, 3))) is not None]
    assert abs(1 - len(kept) / len(stamps) - 0.3) < 0.03 and p.dropped == len(stamps) - len(kept)
    again = StreamPerturbation(parse_all(["drop:0.3"]), seed=1)
    assert kept == [s for s in stamps if again.frame(s, frame(1, (2, 2, 3))) is not None]


def frames(n=9):
    return [Frame(stamp_ns=(i + 1) * S, image=frame(i, (4, 4, 3))) for i in range(n)]


def test_shuffle_permutes_the_sampled_frames_and_keeps_their_stamps():
    fs = frames()
    out = QueryPerturbation(parse_all(["shuffle"]), seed=0).frames(fs)
    stamps = [f.stamp_ns for f in out]
    assert sorted(stamps) == [f.stamp_ns for f in fs] and stamps != sorted(stamps)
    assert all(f.image[0, 0, 0] == f.stamp_ns // S - 1 for f in out)  # each image stays with its stamp
    assert stamps == [f.stamp_ns for f in QueryPerturbation(parse_all(["shuffle"]), seed=0).frames(fs)]
    assert stamps != [f.stamp_ns for f in QueryPerturbation(parse_all(["shuffle"]), seed=1).frames(fs)]


def test_single_keeps_the_middle_or_the_last_sampled_frame():
    fs = frames(8)
    assert [f.stamp_ns for f in QueryPerturbation(parse_all(["single"])).frames(fs)] == [5 * S]
    assert [f.stamp_ns for f in QueryPerturbation(parse_all(["single:last"])).frames(fs)] == [8 * S]


def spatial_features(preset):
    from spacemind_ros.model.presets import load_model

    model, processor = load_model(preset=preset)
    images = [frame(seed=i, shape=(60, 80, 3)) for i in range(4)]
    with torch.no_grad():
        spatial = model.spatial_tokens(processor.vggt_pixels(images)[None])
    return model, spatial


@pytest.mark.parametrize("preset", ["small", "tiny"])
def test_camera_noise_turns_the_decoded_cameras_by_the_requested_degrees(preset):
    """The noise is sized by what VGGT's own camera head makes of it: measured on the noisy tokens."""
    model, spatial = spatial_features(preset)
    stamps = [1, 2, 3, 4]
    for degrees in (1.0, 2.0, 5.0):
        p = QueryPerturbation(parse_all([f"camera_noise:{degrees:g}"]), seed=0)
        noisy = p.spatial(spatial, model.vggt, stamps)
        measured = rotation_change_deg(model.vggt, spatial.camera_tokens, noisy.camera_tokens)
        assert measured == pytest.approx(degrees, abs=0.05), (preset, degrees, p.last_camera_noise)
        assert p.last_camera_noise["reached"] and p.last_camera_noise["measured_deg"] == pytest.approx(measured)
        assert torch.equal(noisy.patch_tokens, spatial.patch_tokens)  # only the camera tokens move
        assert not torch.equal(noisy.camera_tokens, spatial.camera_tokens)
        again = QueryPerturbation(parse_all([f"camera_noise:{degrees:g}"]), seed=0).spatial(spatial, model.vggt, stamps)
        assert torch.equal(again.camera_tokens, noisy.camera_tokens)  # seeded by run seed and stamps
    zero = QueryPerturbation(parse_all(["camera_noise:0"])).spatial(spatial, model.vggt, stamps)
    assert torch.equal(zero.camera_tokens, spatial.camera_tokens)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (this machine has no GPU)")
def test_camera_noise_on_cuda_in_bfloat16_autocast():
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.runtime import RuntimeSettings

    model, processor = load_model(preset="small", runtime=RuntimeSettings.resolve("cuda", "auto"))
    with torch.no_grad():
        spatial = model.spatial_tokens(processor.vggt_pixels([frame(seed=i, shape=(60, 80, 3)) for i in range(4)])[None])
    noisy = QueryPerturbation(parse_all(["camera_noise:2"])).spatial(spatial, model.vggt, [1, 2, 3, 4])
    assert noisy.camera_tokens.device.type == "cuda" and noisy.camera_tokens.dtype == spatial.camera_tokens.dtype
    measured = rotation_change_deg(model.vggt, spatial.camera_tokens, noisy.camera_tokens)
    assert measured == pytest.approx(2.0, abs=0.1)


class Recorder:
    mode = "offline"

    def __init__(self):
        self.fed = []

    def feed(self, stamp_ns, image):
        self.fed.append((stamp_ns, image))

    def ask(self, q, until_ns):
        return {"success": True, "answer": "A", "frame_stamps": [], "latency_s": 0.0}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("perturbdata")
    stamps = make_bag(root / "a", "sqlite3", frames=24)
    qs = [q for q in questions_for("a", "a", stamps) if "stamp_ns" not in q]
    return dict(root=root, q=write_jsonl(root / "q.jsonl", qs), stamps=stamps)


def replay(dataset, perturbations):
    questions, problems = load_questions(dataset["q"])
    assert not problems
    backend = Recorder()
    settings = EvalSettings(preset="tiny", frames=8, perturbations=perturbations)
    stats = run_questions(questions, backend, settings, _NullWriter(), set())
    return backend, stats


class _NullWriter:
    def write(self, record):
        pass


def test_the_player_feeds_grey_frames_for_blind_and_loses_frames_for_drop(dataset):
    clean, _ = replay(dataset, [])
    blind, _ = replay(dataset, ["blind"])
    assert [s for s, _ in blind.fed] == [s for s, _ in clean.fed]
    assert all((im == GREY).all() and im.shape == c.shape for (_, im), (_, c) in zip(blind.fed, clean.fed))
    assert not all((c == GREY).all() for _, c in clean.fed)
    dropped, stats = replay(dataset, ["drop:0.5"])
    assert 0 < stats.dropped_frames < 24 and len({s for s, _ in dropped.fed}) == 24 - stats.dropped_frames


def run(dataset, out, *perturb):
    args = ["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(out), "--frames", "8",
            "--quiet", "--no-report"]
    for p in perturb:
        args += ["--perturb", p]
    assert main(args) == 0
    return {r["id"]: r for r in read_predictions(Path(out) / "predictions.jsonl")}


@pytest.fixture(scope="module")
def clean_run(dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    return out, run(dataset, out)


def test_offline_runs_apply_and_record_each_perturbation(dataset, clean_run, tmp_path):
    clean_dir, clean = clean_run
    shuffled = run(dataset, tmp_path / "shuffle", "shuffle")
    single = run(dataset, tmp_path / "single", "single")
    noisy = run(dataset, tmp_path / "noise", "camera_noise:2", "blur:1.5")
    for qid, rec in clean.items():
        assert rec["perturbation"] == "clean" and len(rec["frame_stamps"]) == 8
        s = shuffled[qid]["frame_stamps"]
        assert sorted(s) == sorted(rec["frame_stamps"]) and s != rec["frame_stamps"]
        assert single[qid]["frame_stamps"] == [rec["frame_stamps"][4]]  # the middle of the 8 sampled frames
        assert noisy[qid]["camera_noise"]["measured_deg"] == pytest.approx(2.0, abs=0.05)
        assert noisy[qid]["frame_stamps"] == rec["frame_stamps"]
    assert {r["perturbation"] for r in noisy.values()} == {"camera_noise:2+blur:1.5"}
    run_json = json.loads((tmp_path / "noise" / "run.json").read_text())["settings"]
    assert run_json["perturbations"] == ["camera_noise:2", "blur:1.5"] and run_json["perturbation"] == \
        "camera_noise:2+blur:1.5"
    # a resumed run with another perturbation is refused (it would mix two experiments in one file)
    assert main(["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(tmp_path / "noise"),
                 "--frames", "8", "--quiet", "--perturb", "blind"]) == 2
    assert main(["run", "--preset", "tiny", "--questions", str(dataset["q"]), "--out", str(tmp_path / "bad"),
                 "--perturb", "fog"]) == 2 and not (tmp_path / "bad").exists()
    # one report with the runs side by side
    assert main(["report", "--runs", str(clean_dir), str(tmp_path / "shuffle"), str(tmp_path / "single"),
                 "--prior-from", str(dataset["q"]), "--out", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "compare.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| task |"))
    assert header == ("| task | n | clean | shuffle | single:middle | shuffle - clean | single:middle - clean | "
                      "random | majority | prior |")
    assert "random weights" in text and (tmp_path / "cmp" / "compare.png").stat().st_size > 20_000
    data = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert set(data) == {"clean", "shuffle", "single:middle"}
