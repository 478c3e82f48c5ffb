"""The three exportable parts of SpaceMind as plain modules with fixed tensor I/O (the LLM stays in PyTorch).

Shape legend: N frames (the dynamic axis), V InternViT tile size, M_v visual tokens per frame, d_v LLM width,
S VGGT frames, H x W the VGGT input size (fixed per export), M_s = (H/14)*(W/14) patches, d_s = 2C VGGT width.

- ``vision``: pixel_values ``[N, 3, V, V]`` -> visual_tokens ``[N, M_v, d_v]`` (InternViT + pixel shuffle + projector)
- ``vggt``: images ``[1, S, 3, H, W]`` in [0, 1] -> patch_tokens ``[1, S, M_s, d_s]``, camera_tokens
  ``[1, S, 1, d_s]``, pose_enc ``[1, S, 9]`` (aggregator layer ``spatial_layer`` + camera head, heads in float32)
- ``cgmf``: f_v ``[N, M_v, d_v]``, f_s ``[N, M_s, d_s]``, f_c ``[N, 1, d_s]`` -> fused ``[N, M_v, d_v]``
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

PARTS = ("vision", "vggt", "cgmf")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.int64: "int64"}


def precision_of(dtype: torch.dtype | None) -> str:
    for name, d in PRECISIONS.items():
        if d == (dtype or torch.float32):
            return name
    raise ValueError(f"no engine precision for {dtype}; use float32, float16 or bfloat16")


@dataclass
class IOSpec:
    """One graph input or output: ``shape`` holds ints and the string "frames" on the dynamic axis."""

    name: str
    shape: tuple
    dtype: torch.dtype

    def concrete(self, frames: int) -> tuple[int, ...]:
        return tuple(frames if d == "frames" else d for d in self.shape)


class VisionPart(nn.Module):
    """InternViT + pixel shuffle + projector, calling transformers' own ``get_image_features`` code."""

    def __init__(self, model):
        super().__init__()
        base = model.base
        self.vision_tower = base.model.vision_tower
        self.multi_modal_projector = base.model.multi_modal_projector
        self.config = base.model.config
        self.image_size = model.config.vision_image_size
        self.tokens = model.tokens_per_frame

    @property
    def dtype(self) -> torch.dtype:
        return next(self.multi_modal_projector.parameters()).dtype

    def pixel_shuffle(self, features, scale_factor: float = 0.5):
        from transformers.models.internvl.modeling_internvl import InternVLModel

        return InternVLModel.pixel_shuffle(self, features, scale_factor)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        from transformers.models.internvl.modeling_internvl import InternVLModel

        out = InternVLModel.get_image_features(
            self, pixel_values, vision_feature_layer=self.config.vision_feature_layer,
            vision_feature_select_strategy=self.config.vision_feature_select_strategy, return_dict=True)
        return out.pooler_output

    def io(self, dtype: torch.dtype) -> tuple[list[IOSpec], list[IOSpec]]:
        V, width = self.image_size, self.config.text_config.hidden_size
        return ([IOSpec("pixel_values", ("frames", 3, V, V), dtype)],
                [IOSpec("visual_tokens", ("frames", self.tokens, width), dtype)])

    def example(self, frames: int, dtype: torch.dtype, device=None) -> tuple[torch.Tensor, ...]:
        V = self.image_size
        return (torch.randn(frames, 3, V, V, device=device).to(dtype),)

    def settings(self) -> dict:
        return {"image_size": self.image_size, "tokens_per_frame": self.tokens}


class VGGTPart(nn.Module):
    """VGGT aggregator (up to the needed layer) + camera head for one window at a fixed image size.

    The DINOv2 positional embedding for (H, W) is computed once here (it depends only on weights and the size),
    so the graph holds a constant instead of an antialiased bicubic resize, which TensorRT does not parse.
    """

    def __init__(self, model, image_hw: tuple[int, int]):
        super().__init__()
        vggt = model.vggt
        self.aggregator = vggt.aggregator
        self.camera_head = vggt.camera_head
        self.vggt_config = vggt.config
        self.layer = model.config.spatial_layer % vggt.config.depth
        self.image_hw = tuple(image_hw)
        H, W = self.image_hw
        p = vggt.config.patch_size
        if H % p or W % p:
            raise ValueError(f"VGGT input {H}x{W} is not a multiple of the patch size {p}")
        dino = self.aggregator.patch_embed
        with torch.no_grad():
            table = dino.interpolate_pos_encoding((H // p) * (W // p), H, W, torch.float32)
        self.register_buffer("pos_embed_hw", table.detach().clone(), persistent=False)

    @contextmanager
    def static_pos_embed(self):
        """While exporting: the positional embedding is the stored table (same numbers, no Resize node)."""
        dino = self.aggregator.patch_embed
        dino.interpolate_pos_encoding = lambda n, h, w, dtype: self.pos_embed_hw.to(dtype)
        try:
            yield
        finally:
            del dino.interpolate_pos_encoding  # back to the class method

    def forward(self, images: torch.Tensor):
        last = self.vggt_config.depth - 1
        outputs = self.aggregator(images, layers=[self.layer, last])
        head_dtype = next(self.camera_head.parameters()).dtype  # float32, as upstream
        pose_enc = self.camera_head(outputs[last].to(head_dtype), self.vggt_config.camera_num_iterations)[-1]
        tokens = outputs[self.layer]
        start = self.vggt_config.patch_start_idx
        return tokens[:, :, start:], tokens[:, :, :1], pose_enc

    def io(self, dtype: torch.dtype) -> tuple[list[IOSpec], list[IOSpec]]:
        H, W = self.image_hw
        p, d_s = self.vggt_config.patch_size, self.vggt_config.output_dim
        m_s = (H // p) * (W // p)
        return ([IOSpec("images", (1, "frames", 3, H, W), dtype)],
                [IOSpec("patch_tokens", (1, "frames", m_s, d_s), dtype),
                 IOSpec("camera_tokens", (1, "frames", 1, d_s), dtype),
                 IOSpec("pose_enc", (1, "frames", 9), torch.float32)])

    def example(self, frames: int, dtype: torch.dtype, device=None) -> tuple[torch.Tensor, ...]:
        H, W = self.image_hw
        return (torch.rand(1, frames, 3, H, W, device=device).to(dtype),)

    def settings(self) -> dict:
        H, W = self.image_hw
        p = self.vggt_config.patch_size
        return {"image_hw": list(self.image_hw), "layer": self.layer, "num_heads": self.vggt_config.num_heads,
                "tokens_per_frame": (H // p) * (W // p) + self.vggt_config.patch_start_idx}

    def cast(self, dtype: torch.dtype) -> "VGGTPart":
        """A copy in ``dtype`` with the camera head kept in float32 (as the official code runs it)."""
        part = copy.deepcopy(self).to(dtype)
        part.camera_head.float()
        return part


class CGMFPart(nn.Module):
    def __init__(self, model, spatial_tokens: int):
        super().__init__()
        self.cgmf = model.cgmf
        self.visual_tokens = model.tokens_per_frame
        self.spatial_tokens = spatial_tokens

    def forward(self, f_v: torch.Tensor, f_s: torch.Tensor, f_c: torch.Tensor) -> torch.Tensor:
        return self.cgmf(f_v, f_s, f_c)

    def io(self, dtype: torch.dtype) -> tuple[list[IOSpec], list[IOSpec]]:
        c = self.cgmf.config
        return ([IOSpec("f_v", ("frames", self.visual_tokens, c.visual_dim), dtype),
                 IOSpec("f_s", ("frames", self.spatial_tokens, c.spatial_dim), dtype),
                 IOSpec("f_c", ("frames", 1, c.spatial_dim), dtype)],
                [IOSpec("fused", ("frames", self.visual_tokens, c.visual_dim), dtype)])

    def example(self, frames: int, dtype: torch.dtype, device=None) -> tuple[torch.Tensor, ...]:
        ins, _ = self.io(dtype)
        return tuple(torch.randn(*spec.concrete(frames), device=device).to(dtype) for spec in ins)

    def settings(self) -> dict:
        return {"spatial_tokens": self.spatial_tokens}


def vggt_input_hw(config) -> tuple[int, int]:
    """The VGGT input size a SpaceMind config produces for square-padded frames: (size, size).

    Crop mode makes the height follow each camera's aspect ratio; export with an explicit ``image_hw`` then.
    """
    return config.vggt_image_size, config.vggt_image_size


def build_part(model, name: str, vggt_hw: tuple[int, int] | None = None) -> nn.Module:
    """The part ``name`` of a SpaceMindModel, sharing its weights (``cast_part`` makes a copy in another dtype)."""
    hw = tuple(vggt_hw or vggt_input_hw(model.config))
    if name == "vision":
        return VisionPart(model).eval()
    if name == "vggt":
        return VGGTPart(model, hw).eval()
    if name == "cgmf":
        p = model.config.vggt.patch_size
        return CGMFPart(model, (hw[0] // p) * (hw[1] // p)).eval()
    raise ValueError(f"unknown part {name!r}; choose from {', '.join(PARTS)}")


def cast_part(part: nn.Module, dtype: torch.dtype) -> nn.Module:
    """``part`` itself for its own dtype, else a copy whose weights are ``dtype``: the graph carries the precision."""
    if all(p.dtype == dtype for p in part.parameters() if p.is_floating_point()) and not isinstance(part, VGGTPart):
        return part
    if isinstance(part, VGGTPart):
        if next(part.aggregator.parameters()).dtype == dtype and next(part.camera_head.parameters()).dtype == \
                torch.float32:
            return part
        return part.cast(dtype)
    return copy.deepcopy(part).to(dtype)
