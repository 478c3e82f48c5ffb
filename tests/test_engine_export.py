"""ONNX exports of the tiny preset's parts: parity with PyTorch in ONNX Runtime, manifests, the TensorRT operator
check, engine cache keys and rebuilds, and TensorRT itself where it imports."""
import json
import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from spacemind_ros.engine import BackendError, open_backend
from spacemind_ros.engine.cache import EngineCache, EngineKey, ensure_exports, manifest_matches
from spacemind_ros.engine.export import export_part, part_source_hash
from spacemind_ros.engine.manifest import ManifestError, read_manifest
from spacemind_ros.engine.operators import check_model
from spacemind_ros.engine.parts import build_part
from spacemind_ros.engine.tensorrt import tensorrt_available
from spacemind_ros.model.vggt.preprocessing import _pad_to, preprocess_image, stack_images
from spacemind_ros.scenes import walkthrough_frames
from tests.conftest import NON_SQUARE_HW

# The session fixture exports VGGT once (about 1.5 min of CPU on the tiny preset; more on a loaded machine).
pytestmark = pytest.mark.timeout(1200)
TOL = 1e-4
TRT_OK, TRT_WHY = tensorrt_available()


def session(exports, part):
    folder, manifest = exports[part]
    return ort.InferenceSession(str(folder / manifest.onnx_file), providers=["CPUExecutionProvider"])


def max_err(a, b) -> float:
    return float((torch.as_tensor(np.asarray(a)) - b).abs().max())


def scene_frames(n, height=240, width=320):
    return [img for _, img in walkthrough_frames(num_frames=n, height=height, width=width)]


@pytest.mark.parametrize("n", [1, 7, 32])
def test_vision_matches_torch(tiny_engines, n):
    model, processor, _, exports = tiny_engines
    sess = session(exports, "vision")
    # Non-square camera frames (4:3 and 3:4) through the real tile preprocessing, and random pixels.
    frames = scene_frames(n) if n % 2 else scene_frames(n, height=320, width=240)
    for pixels in (torch.stack([processor.internvl_pixels(f) for f in frames]), torch.randn(n, 3, 112, 112)):
        want = model.visual_tokens(pixels)
        (got,) = sess.run(None, {"pixel_values": pixels.numpy()})
        assert got.shape == tuple(want.shape) == (n, 16, 64)
        assert max_err(got, want) < TOL


@pytest.mark.parametrize("n", [2, 7, 32])
def test_vggt_matches_torch_non_square_and_padded(tiny_engines, n):
    model, _, _, exports = tiny_engines
    sess = session(exports, "vggt")
    H, W = NON_SQUARE_HW
    crop = stack_images([preprocess_image(f, "crop", 56) for f in scene_frames(n)])  # 4:3 -> 42x56
    assert tuple(crop.shape[-2:]) == (H, W)
    # White bands: frames resized to 28x56 and padded to 42x56 (as pad mode letterboxes a wide frame).
    padded = torch.stack([_pad_to(preprocess_image(f, "crop", 56)[:, 7:35], H, W, 255) for f in scene_frames(n)])
    padded = padded.float() / 255
    assert bool((padded[:, :, :7] == 1).all())
    for images in (crop, padded, torch.rand(n, 3, H, W)):
        want = model.spatial_tokens(images[None])
        patch, camera, pose = sess.run(None, {"images": images[None].numpy()})
        assert patch.shape == (1, n, (H // 14) * (W // 14), 128) and camera.shape == (1, n, 1, 128)
        assert max_err(patch, want.patch_tokens) < TOL
        assert max_err(camera, want.camera_tokens) < TOL
        assert max_err(pose, want.pose_enc) < TOL


@pytest.mark.parametrize("n", [1, 7, 32])
def test_cgmf_matches_torch(tiny_engines, n):
    model, _, _, exports = tiny_engines
    sess = session(exports, "cgmf")
    part = build_part(model, "cgmf", NON_SQUARE_HW)
    torch.manual_seed(n)
    f_v, f_s, f_c = part.example(n, torch.float32)
    with torch.no_grad():  # (a fresh CGMF is the identity; the next test gives it weights everywhere)
        want = part(f_v, f_s, f_c)
    (got,) = sess.run(None, {"f_v": f_v.numpy(), "f_s": f_s.numpy(), "f_c": f_c.numpy()})
    assert max_err(got, want) < TOL


def test_cgmf_with_nonzero_output_projection(tmp_path, tiny_engines):
    """The tiny CGMF starts as the identity; export one with weights everywhere and compare at 1, 7 and 32."""
    from spacemind_ros.model.presets import build_tiny

    model, _ = build_tiny(seed=1)
    with torch.no_grad():
        for p in model.cgmf.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    manifest = export_part(model, "cgmf", tmp_path / "cgmf", "fp32", (1, 64), vggt_hw=NON_SQUARE_HW)
    sess = ort.InferenceSession(str(tmp_path / "cgmf" / manifest.onnx_file), providers=["CPUExecutionProvider"])
    part = build_part(model, "cgmf", NON_SQUARE_HW)
    for n in (1, 7, 32):
        f_v, f_s, f_c = part.example(n, torch.float32)
        with torch.no_grad():
            want = part(f_v, f_s, f_c)
        assert float((want - f_v).abs().max()) > 1e-3  # not the identity
        (got,) = sess.run(None, {"f_v": f_v.numpy(), "f_s": f_s.numpy(), "f_c": f_c.numpy()})
        assert max_err(got, want) < TOL


def test_manifests_describe_the_exports(tiny_engines):
    model, _, _, exports = tiny_engines
    for part, (folder, manifest) in exports.items():
        again = read_manifest(folder)  # verifies the file hashes
        assert again == manifest
        assert manifest.opset == 18 and 17 <= manifest.opset <= 20 and manifest.precision == "fp32"
        assert manifest.frames == {"min": 2 if part == "vggt" else 1, "max": 64}
        assert manifest.source_hash == part_source_hash(build_part(model, part, NON_SQUARE_HW), part)
        assert set(manifest.exporter) >= {"torch", "onnx", "onnxscript"}
        assert all(list(axes.values()) == ["frames"] for axes in manifest.dynamic_axes.values())
        graph = onnx.load(str(folder / manifest.onnx_file))
        names = [i.name for i in graph.graph.input]
        assert names == [s.name for s in manifest.inputs]
        dims = graph.graph.input[0].type.tensor_type.shape.dim
        frames_axis = manifest.inputs[0].shape.index("frames")
        assert dims[frames_axis].dim_param and not dims[frames_axis].dim_value  # symbolic, not fixed
        # Every exported graph passes the TensorRT operator check.
        assert manifest.operator_check["ok"], manifest.operator_check
        assert check_model(folder / manifest.onnx_file).ok


def _graph_with(*nodes, opset=18, functions=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(list(nodes), "g", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], functions=list(functions))


def test_operator_check_names_what_tensorrt_refuses():
    ok = check_model(_graph_with(helper.make_node("Relu", ["x"], ["y"])))
    assert ok.ok and ok.operators == {"Relu": 1} and "passed" in ok.summary()
    unique = check_model(_graph_with(helper.make_node("Unique", ["x"], ["y"], name="dedupe")))
    assert not unique.ok and "Unique" in unique.summary() and "dedupe" in unique.summary()
    custom = check_model(_graph_with(helper.make_node("FancyAttention", ["x"], ["y"], domain="com.example")))
    assert not custom.ok and "FancyAttention" in custom.problems[0] and "com.example" in custom.problems[0]
    resize = check_model(_graph_with(helper.make_node("Resize", ["x", "", "s"], ["y"], mode="cubic", antialias=1)))
    assert any("cubic" in p for p in resize.problems) and any("antialias" in p for p in resize.problems)
    new_opset = check_model(_graph_with(helper.make_node("Relu", ["x"], ["y"]), opset=23))
    assert not new_opset.ok and "opset 23" in new_opset.summary()
    axes = check_model(_graph_with(helper.make_node("Shape", ["x"], ["a"]),
                                   helper.make_node("ReduceSum", ["x", "a"], ["y"])))
    assert not axes.ok and "ReduceSum" in axes.problems[0]
    # Inside a subgraph and inside a local function too.
    then = helper.make_graph([helper.make_node("Unique", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, None)])
    nested = check_model(_graph_with(helper.make_node("If", ["x"], ["y"], then_branch=then, else_branch=then)))
    assert not nested.ok and all("Unique" in p for p in nested.problems)
    fn = helper.make_function("local", "Wrapped", ["i"], ["o"], [helper.make_node("STFT", ["i"], ["o"])],
                              [helper.make_opsetid("", 18)])
    in_function = check_model(_graph_with(helper.make_node("Wrapped", ["x"], ["y"], domain="local"),
                                          functions=[fn]))
    assert not in_function.ok and "STFT" in in_function.summary()


def _attention(scale_before: bool = True, dtype=TensorProto.BFLOAT16, consumer: str = "MatMul"):
    """q, k^T, v -> softmax(q k^T s) v as a graph: scaled on q and k^T before the first MatMul (the form TensorRT
    fuses) or on the scores after it."""
    info = [helper.make_tensor_value_info(n, dtype, shape) for n, shape in (("q", [2, 8, 4]), ("kt", [2, 4, 8]),
                                                                             ("v", [2, 8, 4]))]
    sqrt_s = helper.make_tensor("sqrt_s", dtype, [], [0.5])
    if scale_before:
        nodes = [helper.make_node("Mul", ["q", "sqrt_s"], ["qs"]), helper.make_node("Mul", ["kt", "sqrt_s"], ["ks"]),
                 helper.make_node("MatMul", ["qs", "ks"], ["scores"])]
    else:
        nodes = [helper.make_node("MatMul", ["q", "kt"], ["raw"]), helper.make_node("Mul", ["raw", "sqrt_s"], ["scores"])]
    nodes += [helper.make_node("Softmax", ["scores"], ["p"], axis=-1)]
    nodes += [helper.make_node("MatMul", ["p", "v"], ["y"])] if consumer == "MatMul" else \
        [helper.make_node(consumer, ["p"], ["y"])]
    graph = helper.make_graph(nodes, "attn", info, [helper.make_tensor_value_info("y", dtype, None)], [sqrt_s])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_attention_check_names_what_tensorrt_cannot_fuse():
    from spacemind_ros.engine.attention import check_attention

    assert check_attention(_attention()).scopes == {"graph": {"fusable": 1}}
    assert check_attention(_attention(dtype=TensorProto.FLOAT16)).problems() == {}
    assert list(check_attention(_attention(scale_before=False)).problems()) == [
        "scale applied after the first MatMul (TensorRT needs it on Q/K before)"]
    assert list(check_attention(_attention(dtype=TensorProto.FLOAT)).problems()) == [
        "float32 (TensorRT fuses 16-bit attention: export fp16 or bf16)"]
    assert list(check_attention(_attention(consumer="Relu")).problems()) == [
        "softmax output not consumed by exactly one MatMul"]


def test_vggt_attention_exports_in_the_form_tensorrt_fuses(tiny_engines, tmp_path):
    """torch.onnx's decomposition of scaled_dot_product_attention scales Q and K^T by sqrt(s) before the first
    MatMul: TensorRT's fusable form. In bf16 every aggregator chain fuses (the camera head's trunk stays float32 by
    design: it attends over one token per frame); in fp32 none does, and the build log says what that costs."""
    from spacemind_ros.engine.attention import unfused_attention_note, unfused_score_bytes

    model, _, _, exports = tiny_engines
    fp32 = exports["vggt"][1]
    bf16 = export_part(model, "vggt", tmp_path / "bf16", "bf16", (1, 8), vggt_hw=NON_SQUARE_HW)
    depth = model.vggt.config.depth
    want = {"aggregator.patch_embed.blocks": model.vggt.config.patch_embed.depth,
            "aggregator.frame_blocks": depth, "aggregator.global_blocks": depth,
            "camera_head.trunk": model.vggt.config.camera_trunk_depth * model.vggt.config.camera_num_iterations}
    assert {k: sum(v.values()) for k, v in bf16.attention["scopes"].items()} == want
    assert all(bf16.attention["scopes"][k] == {"fusable": n} for k, n in want.items() if k.startswith("aggregator"))
    assert unfused_attention_note(bf16, 32) is None
    from types import SimpleNamespace  # an export whose aggregator chains went unrecognised is no pass

    camera_only = SimpleNamespace(part="vggt", precision="bf16", extra={},
                                  attention={"scopes": {"camera_head.trunk": {"fusable": 4}}})
    assert "no attention chain of the aggregator" in unfused_attention_note(camera_only, 32)
    assert all(list(v) == ["float32 (TensorRT fuses 16-bit attention: export fp16 or bf16)"]
               for v in fp32.attention["scopes"].values())
    per_frame = (NON_SQUARE_HW[0] // 14) * (NON_SQUARE_HW[1] // 14) + 5
    assert fp32.extra["tokens_per_frame"] == per_frame and fp32.extra["num_heads"] == model.vggt.config.num_heads
    gb = unfused_score_bytes(fp32.extra["num_heads"], 32 * per_frame, 4) / 1e9
    assert f"{gb:.1f} GB" in unfused_attention_note(fp32, 32)
    # The real VGGT at 32 frames: the 124 GB (float32) and 62 GB (bf16) the issue measured.
    assert round(unfused_score_bytes(16, 32 * 1374, 4) / 1e9) == 124 and round(unfused_score_bytes(16, 32 * 1374, 2) / 1e9) == 62


def test_manifest_that_does_not_match_its_onnx_is_refused_and_re_exported(tiny_engines, tmp_path):
    model, _, engine_dir, exports = tiny_engines
    shutil.copytree(engine_dir / "onnx", tmp_path / "onnx")
    folder = tmp_path / "onnx" / exports["cgmf"][0].name
    onnx_file = folder / "model.onnx"
    onnx_file.write_bytes(onnx_file.read_bytes() + b"\0")
    with pytest.raises(ManifestError, match="does not match its manifest"):
        read_manifest(folder)
    # A manifest naming other weights is refused too (by the cache lookup).
    manifest = read_manifest(folder, verify=False)
    why = manifest_matches(manifest, "cgmf", "fp32", "0" * 64, (1, 64), 18)
    assert "other weights" in why
    assert "do not cover" in manifest_matches(manifest, "cgmf", "fp32", manifest.source_hash, (1, 128), 18)
    # The cache exports again instead of using the tampered file.
    fresh = ensure_exports(model, tmp_path, "fp32", (1, 64), parts=("cgmf",), vggt_hw=NON_SQUARE_HW)
    assert read_manifest(fresh["cgmf"][0]).onnx_sha256 == fresh["cgmf"][1].onnx_sha256
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not a valid export manifest"):
        read_manifest(folder)


def test_precision_lives_in_the_graph(tiny_engines, tmp_path):
    model, _, _, _ = tiny_engines
    f_v, f_s, f_c = build_part(model, "cgmf", NON_SQUARE_HW).example(3, torch.float32)
    for precision, elem in (("fp16", TensorProto.FLOAT16), ("bf16", TensorProto.BFLOAT16)):
        manifest = export_part(model, "cgmf", tmp_path / precision, precision, (1, 8), vggt_hw=NON_SQUARE_HW)
        graph = onnx.load(str(tmp_path / precision / "model.onnx"))
        assert [i.type.tensor_type.elem_type for i in graph.graph.input] == [elem] * 3
        assert any(t.data_type == elem for t in graph.graph.initializer)  # the weights themselves are cast
        assert manifest.precision == precision and manifest.inputs[0].dtype in ("float16", "bfloat16")
        assert manifest.operator_check["ok"], manifest.operator_check
    # fp16 runs in ONNX Runtime's CPU provider and stays near the float32 result.
    sess = ort.InferenceSession(str(tmp_path / "fp16" / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"f_v": f_v.half().numpy(), "f_s": f_s.half().numpy(), "f_c": f_c.half().numpy()})
    with torch.no_grad():
        want = build_part(model, "cgmf", NON_SQUARE_HW)(f_v, f_s, f_c)
    assert max_err(got.astype(np.float32), want) < 2e-2


def test_vggt_export_records_its_input_size_and_keeps_the_camera_head_fp32(tiny_engines):
    model, _, _, exports = tiny_engines
    manifest = exports["vggt"][1]
    assert manifest.extra["image_hw"] == list(NON_SQUARE_HW)
    assert manifest.inputs[0].shape == [1, "frames", 3, *NON_SQUARE_HW]
    part = build_part(model, "vggt", NON_SQUARE_HW).cast(torch.float16)
    assert next(part.aggregator.parameters()).dtype == torch.float16
    assert next(part.camera_head.parameters()).dtype == torch.float32
    assert next(model.vggt.parameters()).dtype == torch.float32  # the served model is untouched


# -- engine cache ---------------------------------------------------------------------------------------------------
KEY = EngineKey("vggt", "fp16", "NVIDIA H100 80GB HBM3", "9.0", "10.13.0", (1, 32, 64), "ab" * 32)


def test_engine_key_changes_with_every_input():
    import dataclasses

    changes = dict(part="cgmf", precision="bf16", gpu="NVIDIA L40S", compute_capability="8.9", tensorrt="11.0.0",
                   profile=(1, 16, 64), onnx_sha256="cd" * 32)
    digests = {KEY.digest()}
    for field, value in changes.items():
        other = dataclasses.replace(KEY, **{field: value})
        assert other.digest() not in digests, field
        digests.add(other.digest())
    assert dataclasses.replace(KEY).digest() == KEY.digest()  # stable
    cache = EngineCache("/tmp/x")
    assert cache.timing_cache_path("NVIDIA H100", "9.0", "10.13.0") != cache.timing_cache_path("NVIDIA H100", "8.9",
                                                                                                "10.13.0")
    assert "sm90" in cache.timing_cache_path("NVIDIA H100", "9.0", "10.13.0").name


class FakeEngineFormat:
    """Stands in for TensorRT's (de)serializer: bytes with a magic header; anything else 'fails' like TensorRT."""

    def __init__(self):
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return b"ENGINE" + bytes(range(200))

    @staticmethod
    def deserialize(data: bytes):
        return {"size": len(data)} if data.startswith(b"ENGINE") and len(data) == 206 else None


def test_corrupt_or_truncated_engine_is_rebuilt(tmp_path):
    cache, fmt = EngineCache(tmp_path), FakeEngineFormat()
    engine, built = cache.load_or_build(KEY, fmt.build, fmt.deserialize, verify=lambda e: {"parity": "ok"})
    assert built and fmt.builds == 1 and engine == {"size": 206}
    engine, built = cache.load_or_build(KEY, fmt.build, fmt.deserialize)
    assert not built and fmt.builds == 1
    path = cache.engine_path(KEY)
    assert json.loads(path.with_suffix(".json").read_text())["parity"] == "ok"
    damage = [lambda b: b[:50],  # truncated
              lambda b: b[:10] + b"\xff" * 10 + b[20:],  # same size, corrupt
              lambda b: b""]  # empty
    for i, mangle in enumerate(damage, start=2):
        path.write_bytes(mangle(path.read_bytes()))
        engine, built = cache.load_or_build(KEY, fmt.build, fmt.deserialize)
        assert built and fmt.builds == i and engine == {"size": 206}
    path.with_suffix(".json").write_text("garbage")
    assert cache.load_or_build(KEY, fmt.build, fmt.deserialize)[1] and fmt.builds == 5
    # A deserializer that raises (TensorRT version skew) also means rebuild, not crash.
    calls = []

    def flaky(data):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("serialization version mismatch")
        return fmt.deserialize(data)

    assert cache.load_or_build(KEY, fmt.build, flaky)[1] and fmt.builds == 6
    # An engine that fails its parity check is not cached.
    path.unlink()

    def bad_parity(engine):
        raise RuntimeError("differs from ONNX Runtime")

    with pytest.raises(RuntimeError, match="differs"):
        cache.load_or_build(KEY, fmt.build, fmt.deserialize, verify=bad_parity)
    assert not path.exists()
    assert [e["intact"] for e in cache.entries()] == [False]  # the stale sidecar, engine gone


# -- TensorRT -------------------------------------------------------------------------------------------------------
def test_explicit_tensorrt_without_it_fails_with_the_reason(tiny_engines):
    if TRT_OK:
        pytest.skip("TensorRT is importable here: the refusal path does not apply")
    model, _, engine_dir, _ = tiny_engines
    with pytest.raises(BackendError, match="tensorrt backend unavailable"):
        open_backend("tensorrt", model, engine_dir=engine_dir)
    with pytest.raises(BackendError, match="unknown backend"):
        open_backend("tensorflow", model, engine_dir=engine_dir)


@pytest.mark.skipif(not TRT_OK, reason=TRT_WHY)
def test_tensorrt_builds_caches_and_matches_torch(tiny_engines, tmp_path):
    model, _, engine_dir, _ = tiny_engines
    model = model.to("cuda")
    try:
        backend, _ = open_backend("tensorrt", model, engine_dir=tmp_path, vggt_hw=NON_SQUARE_HW,
                                  profile=(1, 4, 8))
        pixels = torch.randn(4, 3, 112, 112, device="cuda")
        assert float((backend.visual_tokens(pixels) - model.visual_tokens(pixels)).abs().max()) < 1e-2
        images = torch.rand(1, 4, 3, *NON_SQUARE_HW, device="cuda")
        got, want = backend.spatial_tokens(images), model.spatial_tokens(images)
        assert float((got.patch_tokens - want.patch_tokens).abs().max()) < 1e-2
        assert list((tmp_path / "trt").glob("*.engine")) and list((tmp_path / "trt").glob("timing-*.cache"))
        again, _ = open_backend("tensorrt", model, engine_dir=tmp_path, vggt_hw=NON_SQUARE_HW, profile=(1, 4, 8))
        assert float((again.visual_tokens(pixels) - backend.visual_tokens(pixels)).abs().max()) == 0
    finally:
        model.to("cpu")


def test_engine_command_check_and_info(tiny_engines, tmp_path):
    import subprocess
    import sys

    _, _, engine_dir, exports = tiny_engines
    bad = tmp_path / "bad.onnx"
    onnx.save(_graph_with(helper.make_node("Unique", ["x"], ["y"], name="dedupe")), str(bad))
    good = exports["vggt"][0] / "model.onnx"
    run = [sys.executable, "-m", "spacemind_ros.engine.cli"]
    ok = subprocess.run([*run, "check", str(good)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "passed" in ok.stdout
    fail = subprocess.run([*run, "check", str(good), str(bad)], capture_output=True, text=True, timeout=120)
    assert fail.returncode == 1 and "Unique" in fail.stdout and "dedupe" in fail.stdout
    info = subprocess.run([*run, "info", "--engine-dir", str(engine_dir)], capture_output=True, text=True,
                          timeout=120)
    listing = json.loads(info.stdout)
    assert {e["part"] for e in listing["exports"]} == {"vision", "vggt", "cgmf"}
    assert all(e["intact"] and e["tensorrt_ops"] for e in listing["exports"])


def test_new_engine_is_checked_at_a_small_frame_count_and_the_count_is_recorded(tmp_path, monkeypatch):
    """A VGGT engine for 1:32:64 frames is compared with ONNX Runtime at 2 frames, not at opt (32 frames of unfused
    global attention need 124 GB of scores on the host); the engine's JSON says at which count. TensorRT itself is
    faked: only what load_or_build_engine hands to the parity check is under test."""
    import contextlib
    from types import SimpleNamespace

    import spacemind_ros.engine.tensorrt as trt_module

    assert [trt_module.parity_frames(p) for p in ((1, 32, 64), (2, 2, 2), (4, 8, 16), (1, 1, 1))] == [2, 2, 4, 1]
    seen = {}
    monkeypatch.setattr(trt_module, "import_tensorrt",
                        lambda: SimpleNamespace(__version__="10.13.0", Runtime=lambda logger: SimpleNamespace(
                            deserialize_cuda_engine=FakeEngineFormat.deserialize)))
    monkeypatch.setattr(trt_module._Logger, "get", staticmethod(lambda trt: None))
    monkeypatch.setattr(trt_module, "gpu_identity", lambda device: ("NVIDIA H100 80GB HBM3", "9.0"))
    monkeypatch.setattr(trt_module, "build_serialized", lambda *a, **k: FakeEngineFormat().build())
    monkeypatch.setattr(trt_module, "TensorRTRunner", lambda engine, device: engine)
    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())

    def compare(runner, reference, manifest, frames, tolerance):
        seen["frames"] = frames
        return {"parity_frames": frames, "parity_relative_error": {"out": 0.0}, "tolerance": tolerance}

    monkeypatch.setattr(trt_module, "compare_with_onnxruntime", compare)
    manifest = SimpleNamespace(part="vggt", precision="fp16", frames={"min": 1, "max": 64}, onnx_sha256="ab" * 32,
                               onnx_file="vggt.onnx", operator_check={"ok": True})
    _, built, path = trt_module.load_or_build_engine(tmp_path, manifest, tmp_path / "engines", (1, 32, 64),
                                                      torch.device("cpu"), tmp_path / "ref")
    assert built and seen["frames"] == 2
    assert json.loads(path.with_suffix(".json").read_text())["parity_frames"] == 2
