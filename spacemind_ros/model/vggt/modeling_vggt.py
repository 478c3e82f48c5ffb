"""VGGT: aggregator + camera head, with the spatial features SpaceMind consumes."""
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
from spacemind_ros.model.vggt.checkpoint import load_strict_subset, read_state_dict
from spacemind_ros.model.vggt.config import VGGTConfig
from spacemind_ros.model.vggt.pose_encoding import pose_encoding_to_extri_intri

log = logging.getLogger(__name__)
CONFIG_NAME = "config.json"


@dataclass
class VGGTOutput:
    layers: dict[int, torch.Tensor]  # aggregator outputs kept, {i: [B, S, P, 2C]}
    pose_enc_list: list[torch.Tensor]  # camera-head iterations, each [B, S, 9]
    patch_start_idx: int

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
                autocast_dtype: torch.dtype | None = None) -> VGGTOutput:
        if images.dim() == 4:
            images = images.unsqueeze(0)
        layers = list(layers)
        last = self.config.depth - 1
        with self._autocast(images, autocast_dtype):
            outputs = self.aggregator(images, layers=[*layers, last])
        with torch.autocast(images.device.type, enabled=False):  # heads in float32, as upstream
            pose_enc_list = self.camera_head(outputs[last].to(self.head_dtype), self.config.camera_num_iterations)
        wanted = set(self.aggregator.resolve_layers(layers))
        return VGGTOutput({i: t for i, t in outputs.items() if i in wanted}, pose_enc_list,
                          self.aggregator.patch_start_idx)

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

        The aggregator and camera head load strictly; keys of the official depth/point/track heads are ignored
        and reported. Without config.json (the official repo has none) the VGGT-1B defaults are used.
        """
        path = Path(path)
        if config is None:
            cfg_file = (path if path.is_dir() else path.parent) / CONFIG_NAME
            config = VGGTConfig.from_dict(json.loads(cfg_file.read_text())) if cfg_file.is_file() else VGGTConfig()
        state = read_state_dict(path)
        with torch.device("meta"):
            model = cls(config)
        load_strict_subset(model, state, source=str(path))
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
