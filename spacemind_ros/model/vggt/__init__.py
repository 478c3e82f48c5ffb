"""VGGT (Visual Geometry Grounded Transformer), parameter-compatible with the official facebook/VGGT-1B checkpoint.

Shape legend used throughout: B batch, S frames per sequence, P tokens per frame (1 camera + 4 register + h*w
patches), C aggregator width (1024 for VGGT-1B), h, w patch grid (H/14, W/14), H, W image size in pixels.
"""
from spacemind_ros.model.vggt.config import DinoConfig, VGGTConfig
from spacemind_ros.model.vggt.modeling_vggt import VGGT, SpatialFeatures, VGGTOutput
from spacemind_ros.model.vggt.pose_encoding import pose_encoding_to_extri_intri
from spacemind_ros.model.vggt.preprocessing import preprocess_images

__all__ = [
    "DinoConfig",
    "VGGTConfig",
    "VGGT",
    "VGGTOutput",
    "SpatialFeatures",
    "pose_encoding_to_extri_intri",
    "preprocess_images",
]
