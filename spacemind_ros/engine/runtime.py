"""Pick and open an encoder backend by name: ``torch``, ``onnxruntime``, ``tensorrt`` or ``auto``.

An explicit backend that cannot start raises ``BackendError`` with the reason (the node's configure fails and the
node stays up); ``auto`` tries the best available in turn and says why it chose what it chose.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from spacemind_ros.engine.backends import EncoderBackend, GraphBackend, TorchBackend

log = logging.getLogger(__name__)
BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")
ALIASES = {"pytorch": "torch", "ort": "onnxruntime", "trt": "tensorrt"}
DEFAULT_PROFILE = (1, 32, 64)  # TensorRT optimisation profile over frames: min, opt, max


class BackendError(RuntimeError):
    """An explicitly requested backend could not start; the message says why."""


def normalize(name: str) -> str:
    key = (name or "auto").strip().lower()
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)} (pytorch = torch)")
    return key


def _model_device(model) -> torch.device:
    return next(model.internvl.parameters()).device


def _model_precision(model) -> str:
    from spacemind_ros.engine.parts import precision_of

    return precision_of(model.base.get_input_embeddings().weight.dtype)


def open_backend(name: str, model, engine_dir: str | Path | None = None, vggt_hw: tuple[int, int] | None = None,
                 frames: tuple[int, int] = (1, 64), profile: tuple[int, int, int] = DEFAULT_PROFILE,
                 precision: str | None = None, threads: int | None = None,
                 prepare: bool = True) -> tuple[EncoderBackend, str]:
    """(backend, why) for ``name``. ``prepare`` exports/builds now what it can: every part when ``vggt_hw`` (the
    VGGT input size) is known, else InternViT (VGGT and CGMF then follow on first use, per input size).

    ``precision`` defaults to the model's dtype (fp32/fp16/bf16 graphs); the device is the model's.
    """
    from spacemind_ros.engine.cache import default_engine_dir

    key = normalize(name)
    engine_dir = Path(engine_dir) if engine_dir else default_engine_dir()
    device = _model_device(model)
    precision = precision or _model_precision(model)

    def start(kind: str) -> EncoderBackend:
        if kind == "torch":
            return TorchBackend(model)
        if kind == "onnxruntime":
            if precision == "bf16":
                raise BackendError("ONNX Runtime cannot take bfloat16 tensors from Python: load the model in "
                                   "float32/float16, or use the tensorrt backend")
            try:
                from spacemind_ros.engine.backends import onnxruntime_providers

                onnxruntime_providers(device)
            except (ImportError, RuntimeError) as exc:
                raise BackendError(f"onnxruntime backend unavailable: {exc}") from exc
        if kind == "tensorrt":
            from spacemind_ros.engine.tensorrt import tensorrt_available

            ok, why = tensorrt_available()
            if not ok:
                raise BackendError(f"tensorrt backend unavailable: {why}")
            if device.type != "cuda":
                raise BackendError(f"the tensorrt backend needs the model on CUDA (device is {device}); "
                                   f"set device: cuda")
        backend = GraphBackend(model, kind, engine_dir, precision, frames, profile, threads)
        if prepare:
            try:
                backend.prepare(vggt_hw)
            except Exception as exc:  # noqa: BLE001 - export/build failures become the configure reason
                raise BackendError(f"{kind} backend could not prepare its engines: {type(exc).__name__}: {exc}") \
                    from exc
        return backend

    if key != "auto":
        backend = start(key)
        return backend, f"{key} requested"
    if device.type != "cuda":
        # ONNX Runtime runs the encoders faster on CPU (bench/engine_bench.py), but a model it has not seen costs a
        # multi-minute export at configure; auto keeps torch on CPU, and onnxruntime is one explicit word away.
        return start("torch"), "auto: torch (the model is on the CPU: choose onnxruntime explicitly to export " \
                               "and use ONNX Runtime engines)"
    reasons = []
    for kind in ("tensorrt", "onnxruntime"):
        try:
            backend = start(kind)
            return backend, f"auto: {kind}" + (f" ({'; '.join(reasons)})" if reasons else "")
        except BackendError as exc:
            reasons.append(str(exc))
    return start("torch"), "auto: torch (" + "; ".join(reasons) + ")"
