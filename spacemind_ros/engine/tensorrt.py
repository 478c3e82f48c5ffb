"""TensorRT engines from the ONNX exports: build (strongly typed, optimisation profile, timing cache), cache, run.

Written against the tensor-name API that TensorRT 10 and 11 share: ``num_io_tensors``/``get_tensor_name``,
``set_input_shape``, ``set_tensor_address``, ``execute_async_v3``. Precision comes from the graph (fp16/bf16 exports
are cast models): networks are created strongly typed (TensorRT 11 ignores the flag, since it is always on there;
10.x needs it), and no FP16/BF16 builder flags are used (11 removed them). ``tensorrt`` is imported lazily.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import torch

from spacemind_ros.engine.attention import unfused_attention_note
from spacemind_ros.engine.cache import EngineCache, EngineKey
from spacemind_ros.engine.manifest import Manifest

log = logging.getLogger(__name__)
# Largest |TensorRT - ONNX Runtime| on random inputs, relative to max(1, max |ONNX Runtime|), a build may show.
# fp32 leaves room for TF32 matmuls (on by default on Ampere and later).
TOLERANCE = {"fp32": 1e-2, "fp16": 5e-2, "bf16": 1e-1}
WORKSPACE_BYTES = 8 << 30


def import_tensorrt():
    """The ``tensorrt`` module, or a RuntimeError that says how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeError(f"TensorRT is not importable ({exc}); on a CUDA workstation install the `tensorrt` "
                           f"wheel matching the CUDA build of torch (10.x or 11.x), or use --backend onnxruntime") \
            from exc
    return tensorrt


def tensorrt_available() -> tuple[bool, str]:
    try:
        trt = import_tensorrt()
    except RuntimeError as exc:
        return False, str(exc)
    if not torch.cuda.is_available():
        return False, f"TensorRT {trt.__version__} is installed but torch sees no CUDA device"
    return True, f"TensorRT {trt.__version__}"


def gpu_identity(device: torch.device) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of ``device``."""
    major, minor = torch.cuda.get_device_capability(device)
    return torch.cuda.get_device_name(device), f"{major}.{minor}"


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16, trt.DataType.INT32: torch.int32,
             trt.DataType.INT64: torch.int64, trt.DataType.BOOL: torch.bool, trt.DataType.INT8: torch.int8,
             trt.DataType.UINT8: torch.uint8}
    if hasattr(trt.DataType, "BF16"):
        table[trt.DataType.BF16] = torch.bfloat16
    return table[dtype]


class _Logger:
    """One TensorRT logger per process (TensorRT wants a single one)."""

    instance = None

    @classmethod
    def get(cls, trt):
        if cls.instance is None:
            cls.instance = trt.Logger(trt.Logger.WARNING)
        return cls.instance


def build_serialized(onnx_path: Path, manifest: Manifest, profile: tuple[int, int, int], timing_cache: Path,
                     workspace_bytes: int = WORKSPACE_BYTES) -> bytes:
    """Parse the ONNX file and build a strongly typed engine for frames ``profile`` (min, opt, max)."""
    trt = import_tensorrt()
    logger = _Logger.get(trt)
    builder = trt.Builder(logger)
    flags = 0
    strongly_typed = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if strongly_typed is not None:  # 10.x: opt in; 11.x: always on, the flag is kept and ignored
        flags |= 1 << int(strongly_typed)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # reads external data beside the file
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    cache_bytes = timing_cache.read_bytes() if timing_cache.is_file() else b""
    cache = config.create_timing_cache(cache_bytes)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log.warning("timing cache %s does not fit this GPU/TensorRT: starting a new one", timing_cache)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=True)
    opt_profile = builder.create_optimization_profile()
    for spec in manifest.inputs:
        shapes = [tuple(f if d == "frames" else d for d in spec.shape) for f in profile]
        opt_profile.set_shape(spec.name, *shapes)
    config.add_optimization_profile(opt_profile)
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build {manifest.part} ({manifest.precision}); see its log above")
    timing_cache.parent.mkdir(parents=True, exist_ok=True)
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    log.info("built %s (%s) in %.1f s", manifest.part, manifest.precision, time.perf_counter() - t0)
    return bytes(serialized)


class TensorRTRunner:
    """One engine with one execution context; calls are serialised (a context is not re-entrant)."""

    def __init__(self, engine, device: torch.device):
        trt = import_tensorrt()
        self.trt, self.engine, self.device = trt, engine, device
        self.context = engine.create_execution_context()
        self.lock = threading.Lock()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self.outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        self.dtypes = {n: _torch_dtype(trt, engine.get_tensor_dtype(n)) for n in names}

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with self.lock, torch.cuda.device(self.device):
            stream = torch.cuda.current_stream(self.device)
            feeds = {}
            for name in self.inputs:
                t = inputs[name].to(self.device, self.dtypes[name]).contiguous()
                feeds[name] = t
                if not self.context.set_input_shape(name, tuple(t.shape)):
                    raise ValueError(f"TensorRT engine refuses {name} of shape {tuple(t.shape)} (outside its profile)")
                self.context.set_tensor_address(name, t.data_ptr())
            outputs = {}
            for name in self.outputs:
                shape = tuple(self.context.get_tensor_shape(name))
                out = torch.empty(shape, dtype=self.dtypes[name], device=self.device)
                self.context.set_tensor_address(name, out.data_ptr())
                outputs[name] = out
            if not self.context.execute_async_v3(stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 failed")
            stream.synchronize()
            return outputs


def compare_with_onnxruntime(runner: TensorRTRunner, reference: Path, manifest: Manifest, frames: int,
                             tolerance: float, seed: int = 0) -> dict:
    """Run the engine and ONNX Runtime (CPU) on the fp32 export ``reference`` of the same part, on the same random
    inputs; raise above ``tolerance`` (relative to max(1, max |reference|))."""
    import onnxruntime as ort

    gen = torch.Generator().manual_seed(seed)
    inputs = {}
    for spec in manifest.inputs:
        shape = [frames if d == "frames" else d for d in spec.shape]
        # VGGT takes images in [0, 1]; the other parts take normalised pixels or features.
        inputs[spec.name] = torch.rand(shape, generator=gen) if spec.name == "images" else \
            torch.randn(shape, generator=gen)
    session = ort.InferenceSession(str(reference), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in manifest.outputs],
                        session.run(None, {k: v.numpy() for k, v in inputs.items()})))
    got = runner({k: v.to(runner.device) for k, v in inputs.items()})
    report = {}
    for name, want in expected.items():
        want = torch.from_numpy(np.asarray(want)).float()
        have = got[name].float().cpu()
        err = float((have - want).abs().max() / max(1.0, float(want.abs().max())))
        report[name] = err
        if not err <= tolerance:
            raise RuntimeError(f"TensorRT {manifest.part} ({manifest.precision}) differs from ONNX Runtime on "
                               f"{name}: relative error {err:.2e} > tolerance {tolerance:.0e}; engine not cached")
    return {"parity_frames": frames, "parity_relative_error": report, "tolerance": tolerance}


PARITY_FRAMES = 2  # frames of the parity check against ONNX Runtime on the CPU


def parity_frames(profile: tuple[int, int, int]) -> int:
    """The frame count a new engine is checked at: small, inside the profile. ONNX Runtime on the CPU runs the
    unfused global attention of VGGT; at the profile's ``opt`` of 32 frames (43,968 tokens) one score tensor is
    16 x 43,968^2 x 4 B = 124 GB, so the check would exhaust host memory and no engine would ever be cached."""
    lo, _, hi = profile
    return min(max(lo, PARITY_FRAMES), hi)


def load_or_build_engine(folder: Path, manifest: Manifest, engine_dir: Path, profile: tuple[int, int, int],
                         device: torch.device, reference: Path, tolerance: float | None = None):
    """(TensorRTRunner, built, engine path): the cached engine for this GPU/TensorRT/profile/ONNX, or a new build
    that first matches ONNX Runtime on the fp32 export ``reference`` (random inputs) within ``tolerance`` at
    ``parity_frames(profile)`` frames (recorded as ``parity_frames`` in the engine's JSON)."""
    trt = import_tensorrt()
    lo, opt, hi = profile
    if not manifest.frames["min"] <= lo <= opt <= hi <= manifest.frames["max"]:
        raise ValueError(f"profile {lo}:{opt}:{hi} lies outside the export's frames "
                         f"{manifest.frames['min']}..{manifest.frames['max']}")
    gpu, cc = gpu_identity(device)
    key = EngineKey(manifest.part, manifest.precision, gpu, cc, trt.__version__, (lo, opt, hi), manifest.onnx_sha256)
    cache = EngineCache(engine_dir)
    runtime = trt.Runtime(_Logger.get(trt))
    onnx_path = folder / manifest.onnx_file
    tol = TOLERANCE[manifest.precision] if tolerance is None else tolerance

    def build() -> bytes:
        if not manifest.operator_check.get("ok", False):
            raise RuntimeError(f"{onnx_path} failed the TensorRT operator check: {manifest.operator_check}")
        note = unfused_attention_note(manifest, hi)
        if note:
            log.warning("%s", note)
        return build_serialized(onnx_path, manifest, (lo, opt, hi), cache.timing_cache_path(gpu, cc, trt.__version__))

    def verify(engine) -> dict:
        with torch.cuda.device(device):
            return compare_with_onnxruntime(TensorRTRunner(engine, device), reference, manifest,
                                            parity_frames((lo, opt, hi)), tol)

    with torch.cuda.device(device):
        engine, built = cache.load_or_build(key, build, runtime.deserialize_cuda_engine, verify)
    return TensorRTRunner(engine, device), built, cache.engine_path(key)
