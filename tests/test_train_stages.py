"""The small recipe's training stages: which parts train, the geometry objective against a generated scene's ground
truth, a fresh CGMF variant on a stage that ran without one, the in-memory frame cache."""
import numpy as np
import pytest
import torch

from spacemind_ros.pipeline.frame_window import WindowConfig
from spacemind_ros.train.config import load_config
from spacemind_ros.train.geometry_objective import (
    GeometryDataset,
    GeometryLoss,
    draw,
    pose_encoding,
    read_views,
    resize_depth,
    spread_picks,
)
from spacemind_ros.train.media import FrameCache, sampled_frames
from spacemind_ros.train.model_setup import build_training_model, part_of
from spacemind_ros.train.trainer import Trainer


@pytest.fixture
def scene(synth_scene):
    """The shared generated scene's folder (bag with image, depth, pose and camera info)."""
    return synth_scene / "synth"


def scene_data(scene, folder) -> str:
    """A ``data.train`` value: one question record (``folder/q.jsonl``) on the scene's bag (the geometry objective
    reads the bag)."""
    import json

    (folder / "q.jsonl").write_text(json.dumps({
        "id": 1, "dataset": "s", "scene_name": "synth", "question_type": "object_counting", "question": "How many?",
        "options": [], "ground_truth": "1", "bag": str(scene / "bag"), "image_topic": "/camera/image_raw"}) + "\n")
    return f"[{{format: scenes, path: '{folder / 'q.jsonl'}'}}]"


def test_part_names():
    assert part_of("internvl.base_model.model.model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight") \
        == "lora"
    assert part_of("internvl.base_model.model.model.language_model.layers.0.self_attn.q_proj.base_layer.weight") \
        == "llm"
    assert part_of("internvl.base_model.model.lm_head.weight") == "llm"
    assert part_of("internvl.base_model.model.model.vision_tower.encoder.layer.0.attention.q_proj.weight") == "vision"
    assert part_of("internvl.base_model.model.model.multi_modal_projector.linear_1.weight") == "vision"
    assert part_of("vggt.aggregator.camera_token") == "vggt" and part_of("cgmf.q_proj.weight") == "cgmf"


@pytest.mark.parametrize("trainable,variant,expected", [
    (["cgmf", "lora"], "full", {"cgmf", "lora"}),
    (["cgmf", "lora"], "none", {"lora"}),  # CGMF stays at identity in the 'none' rung
    (["vision", "llm"], "none", {"vision", "llm"}),
    (["vggt"], "none", {"vggt"}),
])
def test_exactly_the_asked_parts_train(trainable, variant, expected):
    config = load_config(None, ["model.preset=tiny", f"model.trainable={trainable}", f"model.cgmf_variant={variant}"])
    model, _ = build_training_model(config.model, torch.device("cpu"), torch.float32)
    training = {part_of(n) for n, p in model.named_parameters() if p.requires_grad}
    assert training == expected
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


def test_config_refuses_unknown_parts_and_a_cache_of_training_encoders():
    with pytest.raises(ValueError, match="model.trainable"):
        load_config(None, ["model.trainable=[cgmf, decoder]"])
    with pytest.raises(ValueError, match="encoder_cache"):
        load_config(None, ["model.trainable=[vision, llm]", "train.encoder_cache=/tmp/x"])
    with pytest.raises(ValueError, match="train.objective"):
        load_config(None, ["train.objective=depth"])


def test_pose_encoding_and_depth_follow_the_scene(scene):
    views = read_views(scene / "bag", [0, 5, 11])
    assert views[0].rgb.shape == (48, 64, 3) and views[0].depth.shape == (48, 64)
    assert (views[0].depth > 0).mean() > 0.99  # a closed room: every pixel sees a surface
    enc = pose_encoding(views).numpy()
    assert np.allclose(enc[0, :7], [0, 0, 0, 0, 0, 0, 1], atol=1e-6)  # the first camera is the world
    hfov = np.deg2rad(70.0)
    assert np.isclose(enc[0, 8], hfov, atol=0.02)  # horizontal field of view, radians
    assert np.isclose(np.tan(enc[0, 7] / 2), np.tan(hfov / 2) * 48 / 64, atol=0.01)
    # camera 2's translation is the first camera's centre seen from camera 2 (metres): |t| = distance walked
    c0, c2 = views[0].world_from_camera[:3, 3], views[2].world_from_camera[:3, 3]
    assert np.isclose(np.linalg.norm(enc[2, :3]), np.linalg.norm(c2 - c0), atol=1e-5)
    assert np.isclose(np.linalg.norm(enc[2, 3:7]), 1.0) and enc[2, 6] >= 0
    depth = resize_depth(views[0].depth, "crop", 56)
    assert depth.shape == (42, 56)  # like VGGT's 4:3 input at 56 px
    padded = resize_depth(views[0].depth, "pad", 56)
    assert padded.shape == (56, 56) and (padded[:7] == 0).all()  # white padding has no depth


def test_point_maps_put_each_pixel_in_the_first_camera_frame(scene):
    from spacemind_ros.model.presets import build_small
    from spacemind_ros.train.geometry_objective import point_maps

    views = read_views(scene / "bag", [0, 5, 11])
    points = point_maps(views)
    assert points.shape == (3, 48, 64, 3) and points.dtype == np.float32
    assert np.allclose(points[0, ..., 2], views[0].depth)  # the first camera is the frame: z is its depth
    v, u, view = 30, 40, views[2]  # one pixel of the third view, by hand
    d = view.depth[v, u]
    own = np.array([(u - view.cx) / view.fx * d, (v - view.cy) / view.fy * d, d, 1.0])
    world = view.world_from_camera @ own
    assert np.allclose(points[2, v, u], (np.linalg.inv(views[0].world_from_camera) @ world)[:3], atol=1e-4)
    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat

    enc = pose_encoding(views)  # VGGT's own cameras take every view's points back to its depth
    for i, view in enumerate(views):
        own = points[i].reshape(-1, 3) @ quat_to_mat(enc[i, 3:7]).numpy().T + enc[i, :3].numpy()
        assert np.allclose(own[:, 2], view.depth.ravel(), atol=1e-3)
    _, processor = build_small()
    dataset = GeometryDataset([str(scene / "bag")], processor, frames=3, seed=0)
    dataset.points = True
    sample = dataset[0]
    assert sample["points"].shape == (3, *sample["depth"].shape[1:], 3)  # at the model's input size
    first = sample["depth"][0] > 0
    assert torch.allclose(sample["points"][0][first][:, 2], sample["depth"][0][first])


def test_geometry_scores_put_vggt_beside_the_camera_never_moving(scene):
    """The still guess is scored on the same views by hand: |t*| is the distance walked from the first view, the
    rotation error the angle turned since it."""
    import random

    from spacemind_ros.model.presets import build_small
    from spacemind_ros.train.geometry_objective import geometry_scores, rotation_angle_deg

    quarter = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # 90 degrees about z
    assert torch.allclose(rotation_angle_deg(torch.stack([torch.eye(3), quarter])), torch.tensor([0.0, 90.0]))
    model, processor = build_small()
    scores = geometry_scores(model, processor, [str(scene / "bag")], frames=4, seed=0)
    views = read_views(scene / "bag", spread_picks(12, 4, random.Random("0:0:0")))  # the dataset's draw
    first = views[0].world_from_camera
    walked = [np.linalg.norm(v.world_from_camera[:3, 3] - first[:3, 3]) for v in views[1:]]
    turned = [np.degrees(np.arccos(np.clip((np.trace(first[:3, :3].T @ v.world_from_camera[:3, :3]) - 1) / 2, -1, 1)))
              for v in views[1:]]
    assert scores["still_translation_m"] == pytest.approx(np.mean(walked), abs=1e-3)
    assert scores["still_rotation_deg"] == pytest.approx(np.mean(turned), abs=0.05)
    assert scores["bags"] == 1 and scores["rotation_deg"] >= 0 and 0 < scores["depth_delta1"] < 1


def test_the_mean_motion_guess_is_the_training_draws_mean_pose_per_view(scene):
    """One draw of one scene: its own poses, so the guess is exact on that draw; two draws: their mean by hand."""
    import random

    from spacemind_ros.model.presets import build_small
    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat
    from spacemind_ros.train.geometry_objective import geometry_scores, motion_prior, rotation_angle_deg

    bag = str(scene / "bag")
    own = motion_prior([bag], frames=4, seed=0, epochs=1)
    pooled = motion_prior([bag], frames=4, seed=0, epochs=1, any_view=True)
    scores = geometry_scores(*build_small(), [bag], frames=4, seed=0, priors={"motion": own, "pose": pooled})
    assert scores["motion_translation_m"] == pytest.approx(0, abs=1e-5)
    assert scores["motion_rotation_deg"] == pytest.approx(0, abs=0.05)
    assert scores["still_rotation_deg"] > 1  # the walk turns
    draws = [pose_encoding(read_views(bag, spread_picks(12, 4, random.Random(f"0:{e}:0"))))[1:] for e in range(2)]
    # One pose for every view: the mean of the draw's three, so it misses each of them (they differ).
    assert torch.allclose(pooled.translation, draws[0][:, :3].mean(0).expand(3, 3), atol=1e-6)
    assert torch.equal(pooled.rotation[0], pooled.rotation[2])
    assert scores["pose_translation_m"] == pytest.approx(
        float((draws[0][:, :3] - draws[0][:, :3].mean(0)).norm(dim=-1).mean()), abs=1e-4)
    assert scores["pose_rotation_deg"] > 1
    two = motion_prior([bag, str(scene / "missing")], frames=4, seed=0, epochs=2)  # an unreadable bag is left out
    assert torch.allclose(two.translation, (draws[0][:, :3] + draws[1][:, :3]) / 2, atol=1e-6)
    rotations = quat_to_mat(torch.stack([d[:, 3:7] for d in draws]))  # the mean rotation lies between the two
    between = [rotation_angle_deg(two.rotation @ r.mT) for r in rotations]
    halfway = rotation_angle_deg(rotations[0] @ rotations[1].mT) / 2
    assert torch.allclose(between[0], halfway, atol=0.1) and torch.allclose(between[1], halfway, atol=0.1)
    assert torch.allclose(two.rotation @ two.rotation.mT, torch.eye(3).expand(3, 3, 3), atol=1e-5)
    with pytest.raises(ValueError, match="motion prior of 4 views"):
        geometry_scores(*build_small(), [bag], frames=5, priors={"motion": own})
    with pytest.raises(ValueError, match="none of the 1 bags"):
        motion_prior([str(scene / "missing")])


def test_spread_picks_cover_the_walk_or_a_stretch_of_it():
    import random

    picks = spread_picks(64, 8, random.Random(0))
    assert len(picks) == 8 and picks == sorted(picks) and all(8 * i <= p < 8 * (i + 1) for i, p in enumerate(picks))
    rng = random.Random(0)  # the whole walk draws one index a stretch, as before spans existed (the shipped recipe)
    assert picks == [rng.randrange(8 * i, 8 * (i + 1)) for i in range(8)]
    starts = set()
    for seed in range(20):  # a quarter of the walk: 16 frames from a random start, one view every 2 frames
        close = spread_picks(64, 8, random.Random(seed), span=0.25)
        assert close == sorted(close) and close[-1] - close[0] < 16 and 0 <= close[0] and close[-1] < 64
        assert all(0 < b - a < 4 for a, b in zip(close, close[1:]))
        starts.add(close[0])
    assert max(starts) - min(starts) > 16  # the stretch moves over the walk
    assert len(spread_picks(10, 8, random.Random(0), span=0.1)) == 8  # never fewer frames than views
    with pytest.raises(ValueError, match="at least 8"):
        spread_picks(5, 8, random.Random(0))
    with pytest.raises(ValueError, match="span"):
        spread_picks(64, 8, random.Random(0), span=0.0)


def test_the_span_grows_from_close_to_spread_views():
    from spacemind_ros.train.geometry_objective import epoch_span

    assert [epoch_span(e, 5, 1.0, 0.2) for e in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert epoch_span(7, 5, 1.0, 0.2) == 1.0  # past the last epoch (max_steps) it stays at the span
    assert all(epoch_span(n - 1, n, 1.0, 0.2) == 1.0 for n in range(2, 30))  # exactly: 1 + 1e-16 is no span
    assert epoch_span(0, 4.5, 0.5, 0.25) == 0.25 and epoch_span(4, 4.5, 0.5, 0.25) == 0.5  # a part epoch counts
    assert epoch_span(3, 5, 0.6, None) == 0.6 and epoch_span(0, 1, 1.0, 0.2) == 1.0  # no curriculum
    with pytest.raises(ValueError, match="geometry_span_from"):
        load_config(None, ["train.geometry_span_from=1.5"])
    with pytest.raises(ValueError, match="geometry_span"):
        load_config(None, ["train.geometry_span=0"])


def test_geometry_loss_is_zero_at_the_truth_and_learns(scene):
    target = torch.randn(1, 4, 9)
    assert float(GeometryLoss.camera_loss([target.clone(), target.clone()], target)) == 0.0
    wrong_first = target.clone()
    wrong_first[:, 0] += 5.0  # the first view's pose is the identity by definition: not scored
    assert float(GeometryLoss.camera_loss([wrong_first], target)) == 0.0
    points, conf = torch.zeros(1, 2, 3, 4, 3), torch.ones(1, 2, 3, 4)
    valid = torch.ones(1, 2, 3, 4, dtype=torch.bool)
    assert float(GeometryLoss.point_loss(points, conf, points, valid)) == 0.0  # at the truth, confidence 1
    moved = points.clone()
    moved[..., 0] = 2.0  # every point 2 m off along x; the pixels without depth (50 m off) are not scored
    moved[:, 1] = 50.0
    valid[:, 1] = False
    assert float(GeometryLoss.point_loss(points, conf, moved, valid)) == pytest.approx(2.0)
    assert float(GeometryLoss.point_loss(points, 2 * conf, moved, valid)) == pytest.approx(4 - 0.05 * np.log(2))

    config = load_config(None, [
        "model.preset=tiny", "model.trainable=[vggt]", "model.cgmf_variant=none", "train.objective=geometry"])
    model, processor = build_training_model(config.model, torch.device("cpu"), torch.float32)
    model.vggt.add_dense_heads()
    for p in model.vggt.depth_head.parameters():
        p.requires_grad_(True)
    ds = GeometryDataset([str(scene / "bag")], processor, frames=4, seed=0)
    sample = ds[0]
    assert sample["images"].shape == (4, 3, 56, 56) and sample["depth"].shape == (4, 56, 56)  # tiny: pad mode
    loss_fn = GeometryLoss(model)
    assert not loss_fn.either_sign  # VGGT's own loss unless asked
    with pytest.raises(ValueError, match="quaternion_sign 'Either': choose from fixed, either"):
        GeometryLoss(model, quaternion_sign="Either")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(8):
        loss = loss_fn({"samples": [sample]})
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.85 * losses[0], losses


def test_either_sign_scores_a_rotation_past_a_half_turn_by_the_rotation_not_its_sign():
    """Turns of 170 and 190 degrees about the camera's y axis are 20 degrees apart, but their w >= 0 quaternions are
    nearly opposite: VGGT's fixed-sign L1 calls a prediction of one a large error for the other."""
    from spacemind_ros.geometry.poses import matrix_to_quaternion
    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat

    def turned(deg):
        a = np.radians(deg)
        return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])

    quats = torch.tensor(matrix_to_quaternion(np.stack([turned(0), turned(170), turned(190)])), dtype=torch.float32)
    assert quats[1, 1] > 0.99 and quats[2, 1] < -0.99 and (quats[:, 3] >= 0).all()  # w >= 0 flips y's sign
    target = torch.cat([torch.zeros(3, 3), quats, torch.full((3, 2), 1.2)], -1)[None]  # [1, S=3, 9]
    pred = target.clone()
    pred[0, 2, 3:7] = quats[1]  # says 170 for the view turned 190: 20 degrees off
    fixed, either = (float(GeometryLoss.camera_loss([pred], target, s)) for s in (False, True))
    assert fixed == float((pred[:, 1:] - target[:, 1:]).abs().mean())  # VGGT's loss, unchanged
    assert fixed > 10 * either > 0
    half_turn_apart = (quats[1] + quats[2]).abs().sum() / 18  # [1, 2, 9] entries, one view off by |q + q*|
    assert either == pytest.approx(float(half_turn_apart))
    pred[0, 2, 3:7] = -quats[2]  # the very rotation, the other sign
    assert float(GeometryLoss.camera_loss([pred], target, True)) == 0.0
    assert torch.allclose(quat_to_mat(pred[0, 2, 3:7]), quat_to_mat(quats[2]), atol=1e-6)
    # Its gradient pulls towards the nearer sign: just above -q* in every component, every component is pulled down
    # (fixed pulls w, which -q* has below q*'s, up towards q*).
    grads = []
    for either_sign in (True, False):
        start = (-quats[2] + 0.05).requires_grad_(True)
        quat = torch.cat([target[:, 2, :3], start[None], target[:, 2, 7:]], -1)[:, None]
        GeometryLoss.camera_loss([torch.cat([target[:, :2], quat], 1)], target, either_sign).backward()
        grads.append(start.grad)
    assert torch.allclose(grads[0], torch.full((4,), 1 / 18))
    assert grads[1][3] == pytest.approx(-1 / 18)
    with pytest.raises(ValueError, match="train.quaternion_sign 'both': choose from fixed, either"):
        load_config(None, ["train.quaternion_sign=both"])


def test_geometry_stage_runs_and_saves_the_trained_vggt(scene, tmp_path, monkeypatch):
    """Two epochs of one scene with a span curriculum: the first epoch's views from half the walk, the second's and
    the evaluation's from all of it."""
    import spacemind_ros.train.geometry_objective as objective

    spans = []
    draw = objective.spread_picks
    monkeypatch.setattr(objective, "spread_picks", lambda n, k, rng, span: spans.append(span) or draw(n, k, rng, span))
    data = scene_data(scene, tmp_path)
    config = load_config(None, [
        "model.preset=small", "model.trainable=[vggt]", "model.cgmf_variant=none", "train.objective=geometry",
        "train.geometry_frames=3", f"data.train={data}", f"data.eval={data}", "train.global_batch=1",
        "train.max_steps=2", "train.lr=1e-3", f"output.dir='{tmp_path}'", "output.progress_bar=false",
        "output.save_every=0", "output.tensorboard=false", "train.geometry_span_from=0.5", "train.depth_weight=0.5",
        "train.point_weight=1", "train.quaternion_sign=either"])
    trainer = Trainer(config)
    assert trainer.loss_module.either_sign
    assert trainer.loss_module.depth_weight == 0.5 and trainer.model.vggt.point_head is not None  # built to train
    assert all(p.requires_grad for p in trainer.model.vggt.point_head.parameters())
    before = {n: p.detach().clone() for n, p in trainer.model.vggt.named_parameters()}
    summary = trainer.fit()
    assert summary["steps"] == 2 and summary["skipped"] == 0 and np.isfinite(summary["eval_loss"])
    assert spans == [0.5, 1.0, 1.0]  # epoch 0, epoch 1, the held-out evaluation
    from spacemind_ros.model.vggt import VGGT

    saved = VGGT.from_pretrained(tmp_path / "final" / "vggt", config=trainer.model.config.vggt)
    changed = [n for n, p in saved.named_parameters() if not torch.equal(p, before[n])]
    assert {"aggregator", "depth_head", "point_head"} <= {n.split(".")[0] for n in changed}
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.train.geometry_objective import geometry_scores

    model, processor = load_model(tmp_path / "final")  # strictly, point head and all
    scores = geometry_scores(model, processor, [str(scene / "bag")], frames=3)
    assert model.vggt.point_head is not None and scores["points_m"] > 0
    assert (tmp_path / "final" / "internvl" / "model.safetensors").is_file()  # small: the encoders travel along


def test_a_span_range_gives_each_sample_its_own_spacing_and_the_evaluation_the_span(scene, tmp_path, monkeypatch):
    import random

    import spacemind_ros.train.geometry_objective as objective

    assert draw(0, 1, 7, 8, 1.0)(64) == spread_picks(64, 8, random.Random("0:1:7"))  # a fixed span: as it always was
    spans = []
    picks = objective.spread_picks
    monkeypatch.setattr(objective, "spread_picks", lambda n, k, rng, span: spans.append(span) or picks(n, k, rng, span))
    drawn = [objective.draw(0, 0, i, 8, (0.2, 0.6))(64) for i in range(50)]
    assert drawn == [objective.draw(0, 0, i, 8, (0.2, 0.6))(64) for i in range(50)]  # seeded: the same again
    assert all(0.2 <= x <= 0.6 for x in spans) and min(spans) < 0.3 and max(spans) > 0.5
    assert max(d[-1] - d[0] for d in drawn) > 2 * min(d[-1] - d[0] for d in drawn)  # the views' spacing varies

    spans.clear()
    data = scene_data(scene, tmp_path)
    config = load_config(None, [
        "model.preset=tiny", "model.trainable=[vggt]", "model.cgmf_variant=none", "train.objective=geometry",
        "train.geometry_frames=3", f"data.train={data}", f"data.eval={data}", "train.global_batch=1",
        "train.max_steps=3", "train.geometry_span=0.9", "train.geometry_span_min=0.3", f"output.dir='{tmp_path}'",
        "output.progress_bar=false", "output.save_every=0", "output.tensorboard=false"])
    Trainer(config).fit()
    assert len(spans) == 4 and spans[-1] == 0.9  # three epochs of one scene, then the held-out evaluation
    assert all(0.3 <= x <= 0.9 for x in spans[:3]) and len(set(spans[:3])) == 3
    with pytest.raises(ValueError, match="geometry_span_min 0.3: .* not with geometry_span_from"):
        load_config(None, ["train.geometry_span_min=0.3", "train.geometry_span_from=0.5", "train.objective=geometry"])
    with pytest.raises(ValueError, match="geometry_span_min 0.3: .* for train.objective geometry"):
        load_config(None, ["train.geometry_span_min=0.3", "train.objective=category"])


def test_the_heads_train_exactly_when_their_loss_counts(scene, tmp_path):
    """The tiny preset has no DPT heads: point maps alone build both and train only the point head (DDP refuses
    parameters that never get a gradient); with VGGT frozen neither trains."""
    data = scene_data(scene, tmp_path)
    common = ["model.preset=tiny", "model.cgmf_variant=none", "train.objective=geometry", f"data.train={data}",
              "train.depth_weight=0", "train.point_weight=1", "train.global_batch=1", f"output.dir='{tmp_path}'",
              "output.tensorboard=false"]
    trainer = Trainer(load_config(None, common + ["model.trainable=[vggt]"]))
    vggt = trainer.model.vggt
    assert all(p.requires_grad for p in vggt.point_head.parameters())
    assert not any(p.requires_grad for p in vggt.depth_head.parameters())
    trained = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in vggt.point_head.parameters()} <= trained
    frozen = Trainer(load_config(None, common + ["model.trainable=[cgmf]", "model.cgmf_variant=full"])).model.vggt
    assert not any(p.requires_grad for p in frozen.point_head.parameters())


def test_a_fresh_cgmf_variant_on_a_stage_without_cgmf(tmp_path):
    from spacemind_ros.model.presets import build_tiny

    model, _ = build_tiny()
    model.save_pretrained(tmp_path / "stage2", save_encoders=True)  # CGMF at identity, variant full
    config = load_config(None, [f"model.init_from={tmp_path / 'stage2'}", "model.cgmf_variant=shallow"])
    rung, _ = build_training_model(config.model, torch.device("cpu"), torch.float32)
    assert (rung.config.cgmf.token_weight, rung.config.cgmf.geometric_bias, rung.config.cgmf.camera_gate) == \
        (False, False, False)
    with torch.no_grad():
        next(model.cgmf.output_proj.parameters()).add_(0.1)  # a trained CGMF is never thrown away silently
    model.save_pretrained(tmp_path / "trained", save_encoders=True)
    config = load_config(None, [f"model.init_from={tmp_path / 'trained'}", "model.cgmf_variant=shallow"])
    with pytest.raises(ValueError, match="trained CGMF"):
        build_training_model(config.model, torch.device("cpu"), torch.float32)


def test_frame_cache_returns_the_same_frames_and_stays_bounded(scene):
    sampling = WindowConfig(sample_frames=6, drop_ends=1, min_frames=2)
    cache = FrameCache(max_bytes=10 * 48 * 64 * 3)
    first = sampled_frames("bag", scene / "bag", sampling, "/camera/image_raw", cache=cache)
    again = sampled_frames("bag", scene / "bag", sampling, "/camera/image_raw", cache=cache)
    assert again is first and len(first) == 4
    assert all(np.array_equal(a, b) for a, b in zip(first, sampled_frames("bag", scene / "bag", sampling,
                                                                           "/camera/image_raw")))
    other = WindowConfig(sample_frames=10, drop_ends=1, min_frames=2)  # 8 frames: the first entry goes
    sampled_frames("bag", scene / "bag", other, "/camera/image_raw", cache=cache)
    assert cache.nbytes <= cache.max_bytes and len(cache._items) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CPU build of torch, or no GPU here)")
def test_geometry_and_vision_stages_on_cuda(scene, tmp_path):
    """VGGT under bf16 autocast with float32 master weights, and the vision + LLM stage, on the GPU."""
    data = scene_data(scene, tmp_path)
    common = ["model.preset=small", "model.cgmf_variant=none", f"data.train={data}", "train.global_batch=1",
              "train.max_steps=2", "train.device=cuda", "output.progress_bar=false", "output.save_every=0",
              "output.tensorboard=false", "data.sample_frames=6"]
    for stage in (["model.trainable=[vggt]", "train.objective=geometry", "train.geometry_frames=3"],
                  ["model.trainable=[vision, llm]"]):
        summary = Trainer(load_config(None, common + stage + [f"output.dir='{tmp_path / stage[0][-6:-1]}'"])).fit()
        assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
