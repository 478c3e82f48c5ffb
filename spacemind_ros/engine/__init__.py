"""Inference engines: ONNX export of InternViT, VGGT and CGMF, the TensorRT operator check, TensorRT build and cache,
and the encoder backends (torch, onnxruntime, tensorrt) the SpatialReasoner takes. See engine/README.md."""
from spacemind_ros.engine.backends import EncoderBackend, GraphBackend, TorchBackend
from spacemind_ros.engine.runtime import BACKENDS, BackendError, normalize, open_backend

__all__ = ["BACKENDS", "BackendError", "EncoderBackend", "GraphBackend", "TorchBackend", "normalize", "open_backend",
           "default_vggt_hw"]


def default_vggt_hw(config) -> tuple[int, int] | None:
    """The VGGT input size of every frame when it is fixed (pad mode: size x size); None in crop mode, where the
    height follows the camera's aspect ratio (the engines for it are made on first use)."""
    if config.vggt_preprocess_mode == "pad":
        return config.vggt_image_size, config.vggt_image_size
    return None
