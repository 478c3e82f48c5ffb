"""Encoder backends with one interface: InternViT, VGGT and CGMF through torch, ONNX Runtime or TensorRT.

A backend is what the SpatialReasoner calls for the three encoder stages (the LLM stays in PyTorch):

- ``visual_tokens(pixel_values [N, 3, V, V]) -> [N, M_v, d_v]``
- ``spatial_tokens(images [B, S, 3, H, W] or [S, 3, H, W]) -> SpatialFeatures`` (patch/camera tokens, cameras)
- ``fuse(visual [N, M_v, d_v], spatial) -> [N, M_v, d_v]``

Tensors come in and go out on the model's device in the model's dtype, whatever runs in between.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import torch

from spacemind_ros.engine.manifest import Manifest

log = logging.getLogger(__name__)
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64}
TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16, "int64": torch.int64}


class EncoderBackend:
    """Base class: the three encoder stages, plus a name and a short description for logs and diagnostics."""

    name = "base"

    def __init__(self, model):
        self.model = model  # for device, dtype and the camera decoding; its LLM serves the decode
        self.description = self.name

    @property
    def device(self) -> torch.device:
        return next(self.model.internvl.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.base.get_input_embeddings().weight.dtype

    def visual_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def spatial_tokens(self, vggt_pixels: torch.Tensor):
        raise NotImplementedError

    def fuse(self, visual: torch.Tensor, spatial) -> torch.Tensor:
        raise NotImplementedError

    def close(self) -> None:
        """Free sessions/engines (the node calls this in cleanup)."""

    def _spatial_features(self, patch_tokens, camera_tokens, pose_enc, hw):
        from spacemind_ros.model.vggt import SpatialFeatures
        from spacemind_ros.model.vggt.pose_encoding import pose_encoding_to_extri_intri

        extrinsic, intrinsic = pose_encoding_to_extri_intri(pose_enc.float(), hw)
        return SpatialFeatures(patch_tokens=patch_tokens, camera_tokens=camera_tokens, pose_enc=pose_enc,
                               extrinsic=extrinsic, intrinsic=intrinsic)


class TorchBackend(EncoderBackend):
    """The model's own modules (eager PyTorch)."""

    name = "torch"

    def visual_tokens(self, pixel_values):
        return self.model.visual_tokens(pixel_values)

    def spatial_tokens(self, vggt_pixels):
        return self.model.spatial_tokens(vggt_pixels)

    def fuse(self, visual, spatial):
        with torch.no_grad():
            return self.model.fuse(visual, spatial)


# -- ONNX Runtime --------------------------------------------------------------------------------------------------
def onnxruntime_providers(device: torch.device) -> list[str]:
    """CUDA provider where the model is on CUDA and onnxruntime-gpu is installed; else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise RuntimeError("the model is on CUDA but ONNX Runtime has no CUDAExecutionProvider "
                               "(install onnxruntime-gpu of the same version instead of onnxruntime)")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxRuntimeSession:
    """One part in an ``onnxruntime.InferenceSession``: torch tensors in, torch tensors out.

    CPU: through numpy without copies where dtypes allow. CUDA: I/O bound to torch's device buffers (IOBinding),
    outputs allocated by torch at the sizes the manifest gives.
    """

    def __init__(self, path, manifest: Manifest, device: torch.device, threads: int | None = None):
        import onnxruntime as ort

        for spec in [*manifest.inputs, *manifest.outputs]:
            if spec.dtype not in NUMPY_DTYPES:
                raise RuntimeError(f"ONNX Runtime cannot feed {spec.dtype} tensors from Python ({manifest.part} "
                                   f"{spec.name}); use an fp32/fp16 export, or the tensorrt backend for bf16")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        # Idle pool threads spin by default; on a small CPU that spinning competes with image intake.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.device = device
        self.providers = onnxruntime_providers(device)
        self.session = ort.InferenceSession(str(path), options, providers=self.providers)
        self.manifest = manifest

    def __call__(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.device.type != "cuda":
            feeds = {k: v.detach().cpu().numpy() for k, v in inputs.items()}
            names = [o.name for o in self.manifest.outputs]
            return {k: torch.from_numpy(v) for k, v in zip(names, self.session.run(names, feeds))}
        frames = next(iter(inputs.values())).shape[self.manifest.inputs[0].shape.index("frames")]
        binding = self.session.io_binding()
        index = self.device.index or 0
        for spec in self.manifest.inputs:
            t = inputs[spec.name]
            binding.bind_input(spec.name, "cuda", index, NUMPY_DTYPES[spec.dtype], list(t.shape), t.data_ptr())
        outputs = {}
        for spec in self.manifest.outputs:
            shape = [frames if d == "frames" else d for d in spec.shape]
            out = torch.empty(shape, dtype=TORCH_DTYPES[spec.dtype], device=self.device)
            binding.bind_output(spec.name, "cuda", index, NUMPY_DTYPES[spec.dtype], shape, out.data_ptr())
            outputs[spec.name] = out
        torch.cuda.current_stream(self.device).synchronize()  # inputs written by torch before ORT reads them
        self.session.run_with_iobinding(binding)
        return outputs


class GraphBackend(EncoderBackend):
    """Opens each part on first use, per VGGT input size (the size the frames' preprocessing gives): exports come
    from the engine cache, or are made and cached there (logged); ``prepare(vggt_hw)`` does it ahead of time."""

    def __init__(self, model, kind: str, engine_dir: Path, precision: str, frames: tuple[int, int],
                 profile: tuple[int, int, int], threads: int | None = None):
        super().__init__(model)
        self.manifests: dict[str, Manifest] = {}
        self.runners: dict = {}  # "vision", "vggt@HxW", "cgmf@HxW" -> callable(dict of tensors) -> dict of tensors
        self.kind, self.engine_dir, self.precision = kind, Path(engine_dir), precision
        self.frames, self.profile, self.threads = frames, profile, threads
        self._open_lock = threading.Lock()
        self._hw_by_tokens: dict[int, tuple[int, int]] = {}
        self._vggt_min = 2
        self.description = f"{kind} ({precision})"

    def prepare(self, vggt_hw: tuple[int, int] | None) -> "GraphBackend":
        """Open InternViT, and VGGT + CGMF for ``vggt_hw`` (H, W) when given."""
        self._ensure("vision", None)
        if vggt_hw is not None:
            self._ensure("vggt", tuple(vggt_hw))
            self._ensure("cgmf", tuple(vggt_hw))
        return self

    def _ensure(self, part: str, hw: tuple[int, int] | None) -> str:
        key = part if part == "vision" else f"{part}@{hw[0]}x{hw[1]}"
        if key in self.runners:
            return key
        with self._open_lock:
            if key in self.runners:
                return key
            from spacemind_ros.engine.cache import ensure_exports

            exports = ensure_exports(self.model, self.engine_dir, self.precision, self.frames, (part,), hw)
            folder, manifest = exports[part]
            if self.kind == "onnxruntime":
                runner = OnnxRuntimeSession(folder / manifest.onnx_file, manifest, self.device, self.threads)
                self.description = f"onnxruntime ({runner.providers[0]}, {self.precision})"
            else:
                from spacemind_ros.engine.tensorrt import import_tensorrt, load_or_build_engine

                reference = exports if self.precision == "fp32" else ensure_exports(
                    self.model, self.engine_dir, "fp32", self.frames, (part,), hw)
                ref_folder, ref_manifest = reference[part]
                lo = max(self.profile[0], manifest.frames["min"])
                runner, built, path = load_or_build_engine(
                    folder, manifest, self.engine_dir, (lo, max(lo, self.profile[1]), self.profile[2]),
                    self.device, ref_folder / ref_manifest.onnx_file)
                log.info("%s engine %s (%s)", part, path, "built" if built else "cached")
                self.description = f"tensorrt {import_tensorrt().__version__} ({self.precision})"
            self.manifests[key] = manifest
            self.runners[key] = runner
            if part == "vggt":
                self._vggt_min = manifest.frames["min"]
                p = self.model.config.vggt.patch_size
                self._hw_by_tokens[(hw[0] // p) * (hw[1] // p)] = hw
        return key

    def _run(self, key: str, frames: int, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        m = self.manifests[key]
        if not m.frames["min"] <= frames <= m.frames["max"]:
            raise ValueError(f"{m.part} engine takes {m.frames['min']}..{m.frames['max']} frames, got {frames}; "
                             f"re-export with --frames covering {frames}")
        for spec in m.inputs:
            want = tuple(frames if d == "frames" else d for d in spec.shape)
            if tuple(inputs[spec.name].shape) != want:
                raise ValueError(f"{m.part} engine input {spec.name} must be {list(want)}, got "
                                 f"{list(inputs[spec.name].shape)}")
        return {k: v.to(self.device) for k, v in self.runners[key](inputs).items()}

    def _cast_in(self, key: str, name: str, tensor: torch.Tensor) -> torch.Tensor:
        spec = next(s for s in self.manifests[key].inputs if s.name == name)
        return tensor.to(TORCH_DTYPES[spec.dtype]).contiguous()

    def close(self) -> None:
        self.runners.clear()

    def visual_tokens(self, pixel_values):
        key = self._ensure("vision", None)
        out = self._run(key, pixel_values.shape[0], {"pixel_values": self._cast_in(key, "pixel_values", pixel_values)})
        return out["visual_tokens"].to(self.dtype)

    def spatial_tokens(self, vggt_pixels):
        if vggt_pixels.dim() == 4:
            vggt_pixels = vggt_pixels.unsqueeze(0)
        S, hw = vggt_pixels.shape[1], tuple(vggt_pixels.shape[-2:])
        if S < self._vggt_min:  # one frame: below the exported range (S >= 2), and cheap in torch
            return self.model.spatial_tokens(vggt_pixels)
        key = self._ensure("vggt", hw)
        parts = [self._run(key, S, {"images": self._cast_in(key, "images", window[None])}) for window in vggt_pixels]
        cat = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return self._spatial_features(cat["patch_tokens"].to(self.dtype), cat["camera_tokens"].to(self.dtype),
                                      cat["pose_enc"], hw)

    def fuse(self, visual, spatial):
        f_s = spatial.patch_tokens.flatten(0, 1)
        f_c = spatial.camera_tokens.flatten(0, 1)
        if f_s.shape[0] != visual.shape[0]:
            raise ValueError(f"{visual.shape[0]} InternViT frames but {f_s.shape[0]} VGGT frames")
        hw = self._hw_by_tokens.get(f_s.shape[1])
        if hw is None:
            raise ValueError(f"no VGGT input size gives {f_s.shape[1]} patch tokens in this backend; run "
                             f"spatial_tokens through it first")
        key = self._ensure("cgmf", hw)
        out = self._run(key, visual.shape[0], {"f_v": self._cast_in(key, "f_v", visual),
                                               "f_s": self._cast_in(key, "f_s", f_s),
                                               "f_c": self._cast_in(key, "f_c", f_c)})
        return out["fused"].to(visual.dtype)
