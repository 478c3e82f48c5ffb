"""Window geometry on a generated scene: predicted camera centres aligned to the ground-truth camera positions.

The tiny preset's VGGT is random, so the error is not expected to be small; this checks the plumbing end to end
(scene bag -> frames -> VGGT -> poses -> similarity to ground truth) and reports the error."""
import json

import numpy as np
import pytest

dataset = pytest.importorskip("spacemind_ros.scenes.dataset", reason="the scenes issue has not landed on this branch")

from spacemind_ros.cli import main  # noqa: E402
from spacemind_ros.scenes.bag import IMAGE_TOPIC, POSE_TOPIC, read_messages  # noqa: E402


def test_predicted_poses_against_ground_truth(tmp_path, capsys):
    folder = tmp_path / "scene"
    dataset.write_scene(3, folder, dataset.SceneSettings(width=160, height=120, frames=24))
    out = tmp_path / "geometry"
    code = main(["geometry", "--bag", str(folder / "bag"), "--topic", IMAGE_TOPIC, "--odom-topic", POSE_TOPIC,
                 "--out", str(out), "--max-points", "2000"])
    assert code == 0
    capsys.readouterr()
    poses = json.loads((out / "poses.json").read_text())
    truth = {t: m.pose.position for t, m in read_messages(folder / "bag", POSE_TOPIC)}
    assert len(poses["frames"]) >= 4
    if poses["metric"]:
        predicted = np.array([f["position"] for f in poses["frames"]])
        gt = np.array([[truth_at(truth, f["stamp_ns"]).x, truth_at(truth, f["stamp_ns"]).y,
                        truth_at(truth, f["stamp_ns"]).z] for f in poses["frames"]])
        err = np.linalg.norm(predicted - gt, axis=1)
        print(f"aligned camera position error: mean {err.mean():.3f} m, max {err.max():.3f} m, "
              f"residual {poses['residual_rms_m']:.3f} m")
        assert np.sqrt((err ** 2).mean()) == pytest.approx(poses["residual_rms_m"], rel=1e-3, abs=1e-6)
    else:  # a random camera head may put the cameras on a line: then the note says why there is no alignment
        assert "alignment failed" in poses["note"] or "matched" in poses["note"]


def truth_at(truth, stamp):
    return truth[min(truth, key=lambda t: abs(t - stamp))]
