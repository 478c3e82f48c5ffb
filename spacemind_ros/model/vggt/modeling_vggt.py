"""VGGT: aggregator + camera head, with the spatial features SpaceMind consumes, and the optional DPT depth and
point heads (window geometry)."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from spacemind_ros.errors import CheckpointError
from spacemind_ros.model.vggt.aggregator import Aggregator
from spacemind_ros.model.vggt.camera_head import CameraHead
from spacemind_ros.model.vggt.checkpoint import UNBUILT_HEADS, load_strict_subset, read_state_dict
from spacemind_ros.model.vggt.config import VGGTConfig
from spacemind_ros.model.vggt.dpt_head import DPTHead
from spacemind_ros.model.vggt.pose_encoding import pose_encoding_to_extri_intri

log = logging.getLogger(__name__)
CONFIG_NAME = "config.json"


@dataclass
class VGGTOutput:
    layers: dict[int, torch.Tensor]  # aggregator outputs kept, {i: [B, S, P, 2C]}
    pose_enc_list: list[torch.Tensor]  # camera-head iterations, each [B, S, 9]
    patch_start_idx: int
    depth: torch.Tensor | None = None  # [B, S, H, W, 1] up to scale (depth head; None when not asked or built)
    depth_conf: torch.Tensor | None = None  # [B, S, H, W] >= 1
    world_points: torch.Tensor | None = None  # [B, S, H, W, 3] in the first camera's frame (point head)
    world_points_conf: torch.Tensor | None = None  # [B, S, H, W] >= 1

    @property
    def pose_enc(self) -> torch.Tensor:
        """Final pose encoding ``[B, S, 9]``."""
        return self.pose_enc_list[-1]


@dataclass
class SpatialFeatures:
    """What SpaceMind takes from VGGT for one aggregator layer (register tokens dropped)."""

    patch_tokens: torch.Tensor  # [B, S, h*w, 2C]
    camera_tokens: torch.Tensor  # [B, S, 1, 2C]
    pose_enc: torch.Tensor  # [B, S, 9]
    extrinsic: torch.Tensor  # [B, S, 3, 4] camera-from-world, OpenCV axes
    intrinsic: torch.Tensor  # [B, S, 3, 3] pixels of the VGGT input image


class VGGT(nn.Module):
    """Images ``[B, S, 3, H, W]`` (or ``[S, 3, H, W]``) in [0, 1], H and W multiples of 14."""

    def __init__(self, config: VGGTConfig | None = None):
        super().__init__()
        self.config = config or VGGTConfig()
        self.aggregator = Aggregator(self.config)
        self.camera_head = CameraHead(
            dim_in=self.config.output_dim, trunk_depth=self.config.camera_trunk_depth,
            num_heads=self.config.camera_num_heads, mlp_ratio=self.config.mlp_ratio,
        )
        # Registration order follows the official model (point_head before depth_head) so state dicts match.
        self.point_head = self._dpt_head(3, "inv_log") if self.config.enable_point else None
        self.depth_head = self._dpt_head(1, "exp") if self.config.enable_depth else None

    def _dpt_head(self, output_dim: int, activation: str) -> DPTHead:
        return DPTHead(self.config.output_dim, self.config.dpt, output_dim, activation, self.config.patch_size)

    def add_dense_heads(self, checkpoint: str | Path | None = None) -> None:
        """Build the depth and point heads on a model loaded without them (device and dtype of the camera head) and
        load their official keys strictly from ``checkpoint``; without one they keep their random initialisation."""
        device, dtype = next(self.parameters()).device, self.head_dtype
        state = read_state_dict(checkpoint) if checkpoint is not None else None
        for name, output_dim, activation in (("point_head", 3, "inv_log"), ("depth_head", 1, "exp")):
            if getattr(self, name) is not None:
                continue
            head = self._dpt_head(output_dim, activation).to(device=device, dtype=dtype)
            if state is not None:
                prefix = name + "."
                load_strict_subset(head, {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)},
                                   source=f"{checkpoint} ({name})", ignore_prefixes=())
            setattr(self, name, head.eval())
        self.config.enable_depth = self.config.enable_point = True

    @property
    def has_dense_heads(self) -> bool:
        return self.depth_head is not None or self.point_head is not None

    @staticmethod
    def _autocast(images: torch.Tensor, dtype: torch.dtype | None):
        """Autocast for the aggregator in ``dtype`` (the official code uses bf16 on CUDA); None = off.

        The caller decides the device policy (spacemind_ros.runtime: on CUDA only); CPU autocast works too and is
        what the CPU tests compare against float32.
        """
        if dtype is None:
            return nullcontext()
        return torch.autocast(images.device.type, dtype=dtype)

    @property
    def head_dtype(self) -> torch.dtype:
        return self.camera_head.pose_branch.fc1.weight.dtype

    def forward(self, images: torch.Tensor, layers: Iterable[int] = (-1,),
                autocast_dtype: torch.dtype | None = None, dense: bool = False) -> VGGTOutput:
        """``dense=True`` also runs the built DPT heads (depth, world points); SpaceMind queries leave it off."""
        if images.dim() == 4:
            images = images.unsqueeze(0)
        layers = list(layers)
        last = self.config.depth - 1
        dense = dense and self.has_dense_heads
        dpt_layers = list(self.config.dpt.layers) if dense else []
        with self._autocast(images, autocast_dtype):
            outputs = self.aggregator(images, layers=[*layers, last, *dpt_layers])
        start = self.aggregator.patch_start_idx
        with torch.autocast(images.device.type, enabled=False):  # heads in float32, as upstream
            pose_enc_list = self.camera_head(outputs[last].to(self.head_dtype), self.config.camera_num_iterations)
            if dense:
                tokens = {i: outputs[i].to(self.head_dtype) for i in dpt_layers}
                size = tuple(images.shape[-2:])
                depth = self.depth_head(tokens, size, start) if self.depth_head is not None else (None, None)
                points = self.point_head(tokens, size, start) if self.point_head is not None else (None, None)
        wanted = set(self.aggregator.resolve_layers(layers))
        out = VGGTOutput({i: t for i, t in outputs.items() if i in wanted}, pose_enc_list, start)
        if dense:
            out.depth, out.depth_conf = depth
            out.world_points, out.world_points_conf = points
        return out

    def encode_spatial(self, images: torch.Tensor, layer: int = -1,
                       autocast_dtype: torch.dtype | None = None) -> SpatialFeatures:
        """Patch and camera tokens of one aggregator layer plus decoded cameras, for CGMF."""
        if images.dim() == 4:
            images = images.unsqueeze(0)
        out = self.forward(images, layers=(layer,), autocast_dtype=autocast_dtype)
        tokens = out.layers[layer % self.config.depth]
        extrinsic, intrinsic = pose_encoding_to_extri_intri(out.pose_enc, images.shape[-2:])
        return SpatialFeatures(
            patch_tokens=tokens[:, :, out.patch_start_idx:],
            camera_tokens=tokens[:, :, :1],
            pose_enc=out.pose_enc,
            extrinsic=extrinsic,
            intrinsic=intrinsic,
        )

    # -- checkpoints -------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, config: VGGTConfig | None = None,
                        device: str | torch.device = "cpu", dtype: torch.dtype | None = None) -> "VGGT":
        """Load an official ``model.pt`` / safetensors file, or a folder with one (and optionally config.json).

        Every module built loads strictly (the DPT heads too when ``config.enable_depth/enable_point``); keys of
        official heads not built are ignored and reported. Without config.json (the official repo has none) the
        VGGT-1B defaults are used.
        """
        path = Path(path)
        if config is None:
            cfg_file = (path if path.is_dir() else path.parent) / CONFIG_NAME
            config = VGGTConfig.from_dict(json.loads(cfg_file.read_text())) if cfg_file.is_file() else VGGTConfig()
        state = read_state_dict(path)
        with torch.device("meta"):
            model = cls(config)
        built = tuple(name + "." for name, child in model.named_children())
        load_strict_subset(model, state, source=str(path),
                           ignore_prefixes=tuple(p for p in UNBUILT_HEADS if p not in built))
        model = model.to(device=device, dtype=dtype) if dtype is not None else model.to(device)
        return model.eval()

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``model.safetensors`` (official key names) and ``config.json``."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))
        (folder / CONFIG_NAME).write_text(json.dumps(self.config.to_dict(), indent=1))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = ["VGGT", "VGGTOutput", "SpatialFeatures", "CheckpointError"]
