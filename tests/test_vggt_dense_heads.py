"""VGGT DPT depth and point heads: parity with the official outputs, strict loading, the 1B key list."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from spacemind_ros.errors import CheckpointError
from spacemind_ros.model.vggt import VGGT, VGGTConfig
from spacemind_ros.model.vggt.layers.uv_embedding import uv_embedding

DATA = Path(__file__).parent / "data" / "vggt"
TOL = dict(rtol=1e-4, atol=1e-4)
CASES = ["case_a", "case_b", "case_c"]


@pytest.fixture(scope="module")
def reference():
    return load_file(str(DATA / "tiny_vggt_io.safetensors"))


@pytest.fixture(scope="module")
def dense():
    return VGGT.from_pretrained(DATA / "tiny_vggt.safetensors",
                                config=VGGTConfig.tiny(enable_depth=True, enable_point=True))


@pytest.mark.parametrize("case", CASES)
def test_heads_reproduce_official_depth_and_points(dense, reference, case):
    images = reference[f"{case}.images"]
    with torch.no_grad():
        out = dense(images, dense=True)
    for name in ("depth", "depth_conf", "world_points", "world_points_conf"):
        assert getattr(out, name).dtype == torch.float32
        torch.testing.assert_close(getattr(out, name), reference[f"{case}.{name}"], **TOL)
    torch.testing.assert_close(out.pose_enc, reference[f"{case}.pose_enc"], **TOL)


def test_frame_chunks_do_not_change_the_result(reference):
    config = VGGTConfig.tiny(enable_depth=True, enable_point=True)
    config.dpt.frames_chunk_size = 1  # case_a has 3 frames: three passes instead of one
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=config)
    with torch.no_grad():
        out = model(reference["case_a.images"], dense=True)
    torch.testing.assert_close(out.depth, reference["case_a.depth"], **TOL)
    torch.testing.assert_close(out.world_points_conf, reference["case_a.world_points_conf"], **TOL)


def test_dense_outputs_only_when_asked_and_built(dense, reference):
    images = reference["case_a.images"]
    plain = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny())
    assert plain.depth_head is None and plain.point_head is None
    with torch.no_grad():
        assert plain(images, dense=True).depth is None  # no heads built: nothing to run
        assert dense(images).depth is None  # built but not asked: a SpaceMind query pays nothing
        only_depth = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny(enable_depth=True))
        out = only_depth(images, dense=True)
    assert out.world_points is None
    torch.testing.assert_close(out.depth, reference["case_a.depth"], **TOL)


def test_heads_load_strictly(tmp_path):
    state = load_file(str(DATA / "tiny_vggt.safetensors"))
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors",
                                 config=VGGTConfig.tiny(enable_depth=True, enable_point=True))
    own = model.state_dict()
    assert set(own) == set(state)  # the tiny reference has no track head: every key is used
    assert all(torch.equal(v, state[k]) for k, v in own.items())
    heads = {h: sum(v.numel() for k, v in own.items() if k.startswith(h + ".")) for h in ("depth_head", "point_head")}
    assert heads == {"depth_head": 21_950, "point_head": 22_016}
    assert model.num_parameters() == 844_240

    missing = dict(state)
    missing.pop("depth_head.scratch.refinenet4.resConfUnit2.conv1.weight")
    save_file(missing, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"missing key 'depth_head\.scratch\.refinenet4\.resConfUnit2"):
        VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny(enable_depth=True))
    VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny(enable_point=True))  # that key's head is not built

    bad = dict(state)
    bad["point_head.scratch.output_conv2.2.weight"] = torch.zeros(3, 32, 1, 1)
    save_file(bad, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"point_head\.scratch\.output_conv2\.2\.weight' has shape \[3, 32, 1, 1\]"):
        VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny(enable_point=True))

    no_heads = {k: v for k, v in state.items() if not k.startswith(("depth_head.", "point_head."))}
    save_file(no_heads, str(tmp_path / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing key 'point_head.norm.weight'"):
        VGGT.from_pretrained(tmp_path, config=VGGTConfig.tiny(enable_point=True))


def test_save_and_reload_keeps_the_heads(tmp_path, dense, reference):
    dense.save_pretrained(tmp_path)
    again = VGGT.from_pretrained(tmp_path)  # config.json records enable_depth/enable_point and the DPT sizes
    assert again.config.enable_depth and again.config.enable_point and again.config.dpt.features == 8
    with torch.no_grad():
        assert torch.equal(again(reference["case_b.images"], dense=True).world_points,
                           dense(reference["case_b.images"], dense=True).world_points)


def test_vggt_1b_heads_on_meta_have_official_keys_and_counts():
    official = json.loads((DATA / "vggt_1b_state_dict.json").read_text())
    prefixes = ("aggregator.", "camera_head.", "point_head.", "depth_head.")
    expected = {k["name"]: k["shape"] for k in official["keys"] if k["name"].startswith(prefixes)}
    with torch.device("meta"):
        model = VGGT(VGGTConfig(enable_depth=True, enable_point=True))
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert list(ours) == list(expected)
    assert ours == expected
    counts = {h: sum(p.numel() for p in getattr(model, h).parameters()) for h in ("depth_head", "point_head")}
    assert counts == {h: official["parameters_by_submodule"][h] for h in ("depth_head", "point_head")}
    assert counts == {"depth_head": 32_654_562, "point_head": 32_654_628}
    assert model.num_parameters() == 1_125_286_930 + 32_654_562 + 32_654_628
    with torch.device("meta"):
        assert VGGT(VGGTConfig()).depth_head is None  # off by default (SpaceMind serving)


def test_uv_embedding_layout():
    emb = uv_embedding(8, 3, 4, aspect_ratio=4 / 3)
    assert emb.shape == (8, 3, 4) and emb.dtype == torch.float32
    # u half first: constant down a column; v half: constant along a row. sin(0) at... cos at k=0 is cos(u).
    assert torch.allclose(emb[:4, 0, :], emb[:4, 2, :]) and torch.allclose(emb[4:, :, 0], emb[4:, :, 3])
    diag = ((4 / 3) ** 2 + 1) ** 0.5
    u0 = -(4 / 3) / diag * 3 / 4
    assert emb[0, 0, 0].item() == pytest.approx(torch.sin(torch.tensor(u0, dtype=torch.float64)).item(), abs=1e-6)
    assert emb[2, 0, 0].item() == pytest.approx(torch.cos(torch.tensor(u0, dtype=torch.float64)).item(), abs=1e-6)


def test_add_dense_heads_to_a_loaded_model(tmp_path, reference):
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny())
    model.add_dense_heads(DATA / "tiny_vggt.safetensors")
    with torch.no_grad():
        out = model(reference["case_c.images"], dense=True)
    torch.testing.assert_close(out.depth, reference["case_c.depth"], **TOL)
    torch.testing.assert_close(out.world_points, reference["case_c.world_points"], **TOL)
    state = load_file(str(DATA / "tiny_vggt.safetensors"))
    state.pop("point_head.projects.2.bias")
    save_file(state, str(tmp_path / "model.safetensors"))
    fresh = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors", config=VGGTConfig.tiny())
    with pytest.raises(CheckpointError, match=r"\(point_head\): missing key 'projects.2.bias'"):
        fresh.add_dense_heads(tmp_path)


# Measured on the three reference cases with CPU bf16 autocast: relative (norm) error of depth 0.19-0.22%,
# world points 0.58-0.67%, confidences <= 0.17%; 2% leaves room for other kernels (CUDA).
@pytest.mark.parametrize("case", CASES)
def test_dense_heads_stay_float32_after_a_bf16_aggregator(dense, reference, case):
    with torch.no_grad():
        mixed = dense(reference[f"{case}.images"], dense=True, autocast_dtype=torch.bfloat16)
    for name in ("depth", "depth_conf", "world_points", "world_points_conf"):
        got, want = getattr(mixed, name), reference[f"{case}.{name}"]
        assert got.dtype == torch.float32  # heads outside autocast
        rel = float((got - want).norm() / want.norm())
        assert 0 < rel < 0.02, (name, rel)  # > 0: autocast really ran in bf16


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available on this machine")
def test_dense_heads_on_cuda(reference):
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors",
                                 config=VGGTConfig.tiny(enable_depth=True, enable_point=True), device="cuda")
    with torch.no_grad():
        exact = model(reference["case_b.images"].cuda(), dense=True)
        mixed = model(reference["case_b.images"].cuda(), dense=True, autocast_dtype=torch.bfloat16)
    torch.testing.assert_close(exact.depth.cpu(), reference["case_b.depth"], **TOL)
    want = reference["case_b.world_points"]
    assert mixed.world_points.dtype == torch.float32
    assert float((mixed.world_points.cpu() - want).norm() / want.norm()) < 0.02
