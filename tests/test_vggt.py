"""VGGT parity with the official code (tests/data/vggt, produced by facebookresearch/vggt) and checkpoint loading."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from spacemind_ros.errors import CheckpointError
from spacemind_ros.model.vggt import VGGT, VGGTConfig, pose_encoding_to_extri_intri
from spacemind_ros.model.vggt.aggregator import IMAGENET_MEAN, IMAGENET_STD
from spacemind_ros.model.vggt.layers import RotaryPositionEmbedding2D, grid_positions

DATA = Path(__file__).parent / "data" / "vggt"
TOL = dict(rtol=1e-4, atol=1e-4)
CASES = ["case_a", "case_b", "case_c"]


@pytest.fixture(scope="module")
def reference():
    return load_file(str(DATA / "tiny_vggt_io.safetensors"))


@pytest.fixture(scope="module")
def tiny():
    return VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny())


def test_tiny_weights_load_strictly_and_report_unbuilt_heads(caplog):
    state = load_file(str(DATA / "tiny_vggt.safetensors"))
    with caplog.at_level("INFO"):
        model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny())
    own = model.state_dict()
    assert set(own) == {k for k in state if k.startswith(("aggregator.", "camera_head."))}
    for k, v in own.items():
        assert torch.equal(v, state[k]), k
    assert "ignored" in caplog.text and "depth_head" in caplog.text and "point_head" in caplog.text
    assert model.num_parameters() == 541_568 + 258_706  # aggregator + camera head of the tiny config


@pytest.mark.parametrize("case", CASES)
def test_reproduces_official_outputs(tiny, reference, case):
    images = reference[f"{case}.images"]
    B, S, _, H, W = images.shape
    with torch.no_grad():
        out = tiny(images, layers=range(4))
        mean, std = (torch.tensor(c).view(1, 1, 3, 1, 1) for c in (IMAGENET_MEAN, IMAGENET_STD))
        normalized = (images - mean) / std
        patch_tokens = tiny.aggregator.patch_embed(normalized.reshape(B * S, 3, H, W))
        pos_embed = tiny.aggregator.patch_embed.interpolate_pos_encoding((H // 14) * (W // 14), H, W, torch.float32)
    torch.testing.assert_close(patch_tokens, reference[f"{case}.aggregator.patch_tokens"], **TOL)
    torch.testing.assert_close(pos_embed, reference[f"{case}.aggregator.dino_pos_embed_used"], **TOL)
    pos = grid_positions(H // 14, W // 14, 5).expand(B * S, -1, -1)
    assert torch.equal(pos, reference[f"{case}.aggregator.pos"])
    assert out.patch_start_idx == int(reference[f"{case}.aggregator.patch_start_idx"])
    for i in range(4):
        torch.testing.assert_close(out.layers[i], reference[f"{case}.aggregator.output.{i}"], **TOL)
    torch.testing.assert_close(torch.stack(out.pose_enc_list), reference[f"{case}.camera_head.pose_enc_list"], **TOL)
    torch.testing.assert_close(out.pose_enc, reference[f"{case}.pose_enc"], **TOL)
    extrinsic, intrinsic = pose_encoding_to_extri_intri(out.pose_enc, (H, W))
    torch.testing.assert_close(extrinsic, reference[f"{case}.extrinsic"], **TOL)
    torch.testing.assert_close(intrinsic, reference[f"{case}.intrinsic"], **TOL)


def test_rope_unit(reference):
    rope = RotaryPositionEmbedding2D(100.0)
    out = rope(reference["unit.rope.input"], reference["unit.rope.pos"])
    torch.testing.assert_close(out, reference["unit.rope.output"], **TOL)


def test_camera_head_unit(tiny, reference):
    with torch.no_grad():
        encodings = tiny.camera_head(reference["unit.camera_head.input_tokens"], num_iterations=4)
    torch.testing.assert_close(torch.stack(encodings), reference["unit.camera_head.pose_enc_list"], **TOL)


def test_only_requested_layers_are_kept(tiny, reference):
    images = reference["case_a.images"]
    with torch.no_grad():
        out = tiny(images, layers=(1,))
        feats = tiny.encode_spatial(images, layer=1)
    assert list(out.layers) == [1]
    torch.testing.assert_close(out.layers[1], reference["case_a.aggregator.output.1"], **TOL)
    torch.testing.assert_close(out.pose_enc, reference["case_a.pose_enc"], **TOL)  # head still sees the last layer
    assert feats.patch_tokens.shape == (1, 3, 16, 128) and feats.camera_tokens.shape == (1, 3, 1, 128)
    torch.testing.assert_close(feats.camera_tokens[:, :, 0], reference["case_a.aggregator.output.1"][:, :, 0])
    torch.testing.assert_close(feats.patch_tokens, reference["case_a.aggregator.output.1"][:, :, 5:])
    assert feats.extrinsic.shape == (1, 3, 3, 4) and feats.intrinsic.shape == (1, 3, 3, 3)
    with pytest.raises(ValueError, match="out of range"):
        tiny(images, layers=(4,))


def test_four_dim_input_gets_a_batch_axis(tiny, reference):
    images = reference["case_b.images"]
    with torch.no_grad():
        out = tiny(images[0])
    torch.testing.assert_close(out.pose_enc, reference["case_b.pose_enc"], **TOL)


def test_vggt_1b_keys_and_shapes_on_meta():
    official = json.loads((DATA / "vggt_1b_state_dict.json").read_text())
    expected = {k["name"]: k["shape"] for k in official["keys"] if k["name"].startswith(("aggregator.", "camera_head."))}
    with torch.device("meta"):
        model = VGGT(VGGTConfig())
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == [k for k in expected]  # same names, same order
    assert ours == expected
    assert model.num_parameters() == 1_125_286_930 == official["aggregator_plus_camera_head_parameters"]


def test_model_pt_and_folder_loading(tmp_path, reference):
    state = load_file(str(DATA / "tiny_vggt.safetensors"))
    torch.save(state, tmp_path / "model.pt")
    (tmp_path / "config.json").write_text(json.dumps(VGGTConfig.tiny().to_dict()))
    model = VGGT.from_pretrained(tmp_path)  # folder: model.pt + config.json
    with torch.no_grad():
        out = model(reference["case_c.images"])
    torch.testing.assert_close(out.pose_enc, reference["case_c.pose_enc"], **TOL)


def test_save_pretrained_round_trip(tmp_path, tiny, reference):
    tiny.save_pretrained(tmp_path)
    again = VGGT.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(reference["case_a.images"]).pose_enc, tiny(reference["case_a.images"]).pose_enc)


def _tiny_state():
    return load_file(str(DATA / "tiny_vggt.safetensors"))


@pytest.mark.parametrize(
    "edit,match",
    [
        (lambda s: s.pop("aggregator.frame_blocks.2.attn.q_norm.weight"),
         r"missing key 'aggregator.frame_blocks.2.attn.q_norm.weight' \(expected shape \[16\]\)"),
        (lambda s: s.__setitem__("camera_head.embed_pose.weight", torch.zeros(128, 7)),
         r"key 'camera_head.embed_pose.weight' has shape \[128, 7\], expected \[128, 9\]"),
        (lambda s: s.__setitem__("aggregator.extra_thing", torch.zeros(1)),
         r"unexpected key 'aggregator.extra_thing'"),
    ],
)
def test_mismatched_checkpoint_names_first_bad_key(tmp_path, edit, match):
    state = _tiny_state()
    edit(state)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=match):
        VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny())


def test_truncated_and_missing_files(tmp_path):
    blob = (DATA / "tiny_vggt.safetensors").read_bytes()
    (tmp_path / "model.safetensors").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="cannot read VGGT checkpoint .*model.safetensors"):
        VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny())
    torch.save(_tiny_state(), tmp_path / "full.pt")
    pt = (tmp_path / "full.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(pt[: len(pt) // 3])
    with pytest.raises(CheckpointError, match="cannot read VGGT checkpoint .*cut.pt"):
        VGGT.from_pretrained(tmp_path / "cut.pt", config=VGGTConfig.tiny())
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no VGGT checkpoint in .*empty: expected one of model.safetensors"):
        VGGT.from_pretrained(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="does not exist"):
        VGGT.from_pretrained(tmp_path / "missing.pt")


# bf16 keeps 8 mantissa bits. Measured on the three reference cases (CPU autocast): last aggregator layer within
# 0.62-0.69% of float32's norm, pose encoding within 0.43-0.78%; 2% leaves room for other kernels (CUDA).
AUTOCAST_TOL = {"layer": 0.02, "pose": 0.02}


@pytest.mark.parametrize("case", CASES)
def test_bf16_autocast_stays_close_to_float32(tiny, reference, case):
    images = reference[f"{case}.images"]
    with torch.no_grad():
        ref = tiny(images, layers=(-1,))
        half = tiny(images, layers=(-1,), autocast_dtype=torch.bfloat16)  # the CUDA recipe, run on CPU autocast
    last = tiny.config.depth - 1
    assert half.pose_enc.dtype == torch.float32  # heads in float32 (the residual stream also stays float32)
    assert {p.dtype for p in tiny.parameters()} == {torch.float32}  # autocast never casts the weights
    for key, a, b in (("layer", ref.layers[last], half.layers[last].float()), ("pose", ref.pose_enc, half.pose_enc)):
        rel = float((a - b).norm() / a.norm())
        assert rel < AUTOCAST_TOL[key], (key, rel)
    assert not torch.equal(ref.pose_enc, half.pose_enc)  # autocast really ran in bf16


def test_a_bf16_cast_model_runs_on_float32_pixels(reference):
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny()).to(torch.bfloat16)
    with torch.no_grad():
        out = model(reference["case_a.images"])  # float32 pixels into a bf16 patch conv and camera head
    assert out.pose_enc.dtype == torch.bfloat16 and torch.isfinite(out.pose_enc.float()).all()
