"""The position stage: each token cell gets its mean 3D point (own camera, first camera) from the renderer's depth and
poses, and CGMF learns it through a head that never reaches the served model."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from spacemind_ros.train.config import load_config
from spacemind_ros.train.geometry_objective import GeometryView, read_views
from spacemind_ros.train.model_setup import _is_identity, build_training_model
from spacemind_ros.train.position_objective import HUBER_BETA_M, baseline_errors, cell_points, position_targets
from spacemind_ros.train.trainer import Trainer


def _view(depth, world=None, f=1.0):
    h, w = depth.shape
    return GeometryView(np.zeros((h, w, 3), np.uint8), np.asarray(depth, np.float32),
                        np.eye(4) if world is None else world, f, f, (w - 1) / 2, (h - 1) / 2)


def test_cell_points_by_hand():
    depth = np.full((4, 4), 2.0)
    depth[2:, 2:] = [[0, 0], [0, 3.0]]  # bottom-right cell: one pixel of four has depth
    depth[0:2, 2:] = 0  # top-right cell: none
    points, valid = cell_points(_view(depth), 2)
    # top-left cell: pixels u, v in {0, 1}, centre 1.5: x = (u - 1.5) * 2 -> mean -2, y likewise, z = 2
    assert np.allclose(points[0], [-2.0, -2.0, 2.0])
    assert valid.tolist() == [True, False, True, True]  # a quarter with depth is enough, none is not
    assert np.allclose(points[3], [(3 - 1.5) * 3, (3 - 1.5) * 3, 3.0])  # only the pixel with depth counts
    assert np.allclose(points[2], [-2.0, 2.0, 2.0])  # bottom-left: v in {2, 3} -> y = mean(0.5, 1.5) * 2
    with pytest.raises(ValueError, match="token grid"):
        cell_points(_view(np.ones((2, 2))), 4)


def test_position_targets_are_in_each_camera_and_in_the_first():
    depth = np.full((2, 2), 1.0)
    quarter = np.eye(4)  # camera 1: turned 90 degrees about y (its z is the world's x), one metre along the world's x
    quarter[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]
    quarter[:3, 3] = [1.0, 0.0, 0.0]
    targets, valid = position_targets([_view(depth), _view(depth, quarter)], 1)
    assert targets.shape == (2, 1, 6) and valid.all()
    assert torch.allclose(targets[0, 0, :3], targets[0, 0, 3:])  # the first camera is the frame
    assert torch.allclose(targets[1, 0, :3], torch.tensor([0.0, 0.0, 1.0]))  # straight ahead of camera 1
    assert torch.allclose(targets[1, 0, 3:], torch.tensor([2.0, 0.0, 0.0]))  # = one metre past it along x
    # The world's own frame does not matter, only the cameras' relative poses: move the whole walk elsewhere
    elsewhere = np.eye(4)
    elsewhere[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    elsewhere[:3, 3] = [5.0, -2.0, 0.5]
    moved, _ = position_targets([_view(depth, elsewhere), _view(depth, elsewhere @ quarter)], 1)
    assert torch.allclose(moved, targets, atol=1e-6)


def test_cells_are_the_category_stages_token_cells():
    """On a non-square frame, the cells with depth are the cells the category stage gives that class."""
    from spacemind_ros.train.category_objective import token_targets

    classes = np.zeros((6, 10), np.uint8)
    classes[0:3, 5:10] = 1  # the top-right token cell of a 2x2 grid, and a sliver of the top-left one
    classes[0:1, 4] = 1
    depth = np.where(classes == 1, 2.0, 0.0)
    _, valid = cell_points(_view(depth), 2)
    assert valid.tolist() == (token_targets(classes, 2, 2)[:, 1] >= 0.25).tolist() == [False, True, False, False]


@pytest.fixture
def scene(synth_scene):
    return synth_scene


def test_a_scene_bags_depth_and_poses_agree_between_views(scene):
    """The frames the targets are built in: a pixel of view 6 back-projected with its depth and moved into view 0's
    camera lands where view 0's own depth says that surface is (so intrinsics, poses and depth share conventions)."""
    views = read_views(scene / "synth" / "bag", [0, 6])
    targets, valid = position_targets(views, 4)
    assert targets.shape == (2, 16, 6) and valid.all()  # a closed room: depth everywhere
    assert float(targets[..., 2].min()) > 0  # in front of the camera
    first, other = views
    h, w = other.depth.shape
    errors = []
    for v in range(0, h, 4):
        for u in range(0, w, 4):
            d = float(other.depth[v, u])
            p = np.linalg.inv(first.world_from_camera) @ other.world_from_camera @ np.array(
                [(u - other.cx) / other.fx * d, (v - other.cy) / other.fy * d, d, 1.0])
            if p[2] > 0.1:
                u0, v0 = round(first.fx * p[0] / p[2] + first.cx), round(first.fy * p[1] / p[2] + first.cy)
                if 0 <= u0 < w and 0 <= v0 < h:
                    errors.append(abs(float(first.depth[v0, u0]) - p[2]))
    assert len(errors) >= 20  # the two views share part of the room
    assert np.mean(np.array(errors) < 0.1) >= 0.9  # within 10 cm (pixel rounding at edges aside)


def test_baseline_errors_are_the_position_scores_of_guesses_without_poses(scene):
    bag = str(scene / "synth" / "bag")
    errors = baseline_errors([bag], [bag], 16, frames=4, seed=0)
    assert set(errors) == {"camera still", "training mean", "mean per view", "views"} and errors["views"] == 4
    assert errors["camera still"] > 0.1  # the camera walks: its own frame is not the first view's
    # One scene both trains and is held out: its per-view means sit closer to its views than one mean for all.
    assert errors["mean per view"] < errors["training mean"]


def _config(scene, out, steps, extra=()):
    data = f"[{{format: scenes, path: '{scene / 'q.jsonl'}'}}]"
    return load_config(None, [
        "model.preset=small", "model.trainable=[cgmf]", "model.cgmf_variant=full", "train.objective=position",
        "train.geometry_frames=4", f"data.train={data}", f"data.eval={data}", "train.global_batch=1",
        f"train.max_steps={steps}", "train.lr=3e-3", "train.warmup_ratio=0", f"output.dir='{out}'",
        "output.progress_bar=false", "output.tensorboard=false", *extra])


def test_position_stage_trains_cgmf_only_and_the_head_stays_out(scene, tmp_path):
    trainer = Trainer(_config(scene, tmp_path, 12))
    head = trainer.loss_module.head
    assert any(p is head.weight for p in trainer.trainable)
    assert {n.split(".")[0] for n, p in trainer.model.named_parameters() if p.requires_grad} == {"cgmf"}
    frozen = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not n.startswith("cgmf.")}
    module, calls = trainer.loss_module, []
    predict = module.predict
    module.predict = lambda sample: calls.append(1) or predict(sample)
    before = trainer.evaluate()
    error_before = trainer.last_eval_score
    assert len(calls) == 1  # one held-out sample: the encoders run once for its loss and its score
    batch = trainer.collator([trainer._dataset(trainer.eval_records)[0]])
    (sample,) = batch["samples"]
    with torch.no_grad():
        pred, valid = predict(sample), sample["valid"]
        loss = F.smooth_l1_loss(pred[valid], sample["targets"][valid], beta=HUBER_BETA_M)
        error = (pred[..., 3:] - sample["targets"][..., 3:]).norm(dim=-1)[valid].sum()
    assert module.evaluate(batch) == pytest.approx((float(loss), float(error), int(valid.sum())), rel=1e-5)
    assert before == pytest.approx(float(loss), rel=1e-5)  # one sample: the mean is its loss
    del module.predict
    summary = trainer.fit()
    assert summary["steps"] == 12 and summary["skipped"] == 0
    assert summary["eval_loss"] < before and summary["eval_score"] < error_before  # metres, lower is better
    # beside what guesses without the views' poses score on the same held-out views
    guesses = summary["position_baselines"]
    assert guesses["views"] == 4 and {"camera still", "training mean", "mean per view"} < set(guesses)
    assert all(torch.equal(p, frozen[n]) for n, p in trainer.model.named_parameters() if n in frozen)
    assert not _is_identity(trainer.model.cgmf)  # CGMF now adds to the visual tokens
    final = tmp_path / "final"
    assert set(load_file(str(final / "cgmf.safetensors"))) == set(trainer.model.cgmf.state_dict())
    # What the model serves holds no head weights: InternVL's keys are its own, the head is kept for resuming only
    internvl = set(load_file(str(final / "internvl" / "model.safetensors")))
    assert not any(k.startswith("head") or ".head." in k for k in internvl)
    heads = load_file(str(final / "trainer_state" / "heads.safetensors"))
    assert set(heads) == {"head.weight", "head.bias"} and torch.equal(heads["head.weight"], head.weight.detach())

    # The rung without CGMF, started from this folder, gets CGMF back at identity (else the folder would serve it).
    none = load_config(None, ["model.preset=small", f"model.init_from='{final}'", "model.cgmf_variant=none",
                              "model.trainable=[llm]"])
    model, _ = build_training_model(none.model, torch.device("cpu"), torch.float32)
    assert _is_identity(model.cgmf)
    other = load_config(None, ["model.preset=small", f"model.init_from='{final}'", "model.cgmf_variant=shallow"])
    with pytest.raises(ValueError, match="trained CGMF"):
        build_training_model(other.model, torch.device("cpu"), torch.float32)


def test_position_stage_needs_cgmf_to_train(scene, tmp_path):
    with pytest.raises(ValueError, match="position trains CGMF"):
        Trainer(_config(scene, tmp_path, 1, ["model.cgmf_variant=none"]))
    with pytest.raises(ValueError, match="position trains CGMF"):
        Trainer(_config(scene, tmp_path, 1, ["model.trainable=[llm]"]))


def test_a_resumed_position_stage_ends_as_an_uninterrupted_one(scene, tmp_path):
    """The head trains beside CGMF but is not part of the model: checkpoints keep it for resuming (a fresh head with
    the old optimizer moments would be another run)."""
    whole = Trainer(_config(scene, tmp_path / "whole", 4, ["output.save_every=2"]))
    whole.fit()
    assert (tmp_path / "whole" / "checkpoint-000002" / "trainer_state" / "heads.safetensors").is_file()
    resumed = Trainer(_config(scene, tmp_path / "resumed", 4,
                              [f"output.resume='{tmp_path / 'whole' / 'checkpoint-000002'}'"]))
    assert resumed.step == 2
    resumed.fit()
    for a, b in ((whole.model.cgmf, resumed.model.cgmf), (whole.loss_module.head, resumed.loss_module.head)):
        for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(p, q), name
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in whole.history[2:]]
