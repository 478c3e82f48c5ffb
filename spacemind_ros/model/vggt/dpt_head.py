"""VGGT's DPT head: four aggregator layers -> a dense map and its confidence at full image resolution.

The official model builds two of these: ``depth_head`` (1 channel, exp) and ``point_head`` (3 channels, world
points in the first camera's frame, sign(y)*expm1(|y|)); both have a confidence channel activated as 1 + exp(y).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from spacemind_ros.model.vggt.config import DPTConfig
from spacemind_ros.model.vggt.layers.dpt_fusion import FeatureFusionBlock
from spacemind_ros.model.vggt.layers.uv_embedding import uv_embedding

POS_EMBED_RATIO = 0.1
HEAD_HIDDEN = 32  # width of output_conv2's hidden layer in the official head


def activate(values: torch.Tensor, activation: str) -> torch.Tensor:
    if activation == "exp":
        return torch.exp(values)
    if activation == "inv_log":
        return torch.sign(values) * torch.expm1(values.abs())
    if activation == "expp1":
        return 1 + torch.exp(values)
    if activation == "linear":
        return values
    raise ValueError(f"unknown DPT activation {activation!r}")


class DPTHead(nn.Module):
    """Aggregator outputs ``{i: [B, S, P, 2C]}`` -> (prediction ``[B, S, H, W, D]``, confidence ``[B, S, H, W]``)."""

    def __init__(self, dim_in: int, config: DPTConfig, output_dim: int, activation: str, patch_size: int = 14,
                 conf_activation: str = "expp1"):
        super().__init__()
        oc, features = list(config.out_channels), config.features
        self.config, self.patch_size = config, patch_size
        self.activation, self.conf_activation = activation, conf_activation
        self.norm = nn.LayerNorm(dim_in)
        self.projects = nn.ModuleList(nn.Conv2d(dim_in, c, kernel_size=1) for c in oc)
        # Patch grid -> 4x, 2x, 1x, 1/2x: the four levels of the DPT pyramid.
        self.resize_layers = nn.ModuleList([
            nn.ConvTranspose2d(oc[0], oc[0], kernel_size=4, stride=4),
            nn.ConvTranspose2d(oc[1], oc[1], kernel_size=2, stride=2),
            nn.Identity(),
            nn.Conv2d(oc[3], oc[3], kernel_size=3, stride=2, padding=1),
        ])
        self.scratch = nn.Module()
        for level, c in enumerate(oc, start=1):
            setattr(self.scratch, f"layer{level}_rn", nn.Conv2d(c, features, kernel_size=3, padding=1, bias=False))
        self.scratch.refinenet1 = FeatureFusionBlock(features)
        self.scratch.refinenet2 = FeatureFusionBlock(features)
        self.scratch.refinenet3 = FeatureFusionBlock(features)
        self.scratch.refinenet4 = FeatureFusionBlock(features, has_residual=False)
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, HEAD_HIDDEN, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(HEAD_HIDDEN, output_dim + 1, kernel_size=1),
        )

    @property
    def layer_indices(self) -> tuple[int, ...]:
        return tuple(self.config.layers)

    def forward(self, layers: Mapping[int, torch.Tensor] | Sequence[torch.Tensor], image_size_hw: tuple[int, int],
                patch_start_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``layers[i]`` ``[B, S, P, 2C]`` for every i in ``config.layers``; frames go through in chunks of
        ``config.frames_chunk_size`` so activation memory does not grow with S."""
        tokens = [layers[i][:, :, patch_start_idx:] for i in self.layer_indices]
        S = tokens[0].shape[1]
        step = self.config.frames_chunk_size or S
        preds, confs = [], []
        for start in range(0, S, step):
            pred, conf = self._forward_frames([t[:, start:start + step] for t in tokens], image_size_hw)
            preds.append(pred)
            confs.append(conf)
        return torch.cat(preds, dim=1), torch.cat(confs, dim=1)

    def _forward_frames(self, tokens: list[torch.Tensor], image_size_hw: tuple[int, int]):
        B, S = tokens[0].shape[:2]
        H, W = image_size_hw
        h, w = H // self.patch_size, W // self.patch_size
        levels = []
        for project, resize, x in zip(self.projects, self.resize_layers, tokens):
            x = self.norm(x.reshape(B * S, h * w, x.shape[-1]))
            x = x.transpose(1, 2).reshape(B * S, -1, h, w)
            x = resize(self._add_pos_embed(project(x), W / H))
            levels.append(x)
        fused = self._fuse(levels)
        fused = F.interpolate(fused, size=(h * self.patch_size, w * self.patch_size), mode="bilinear",
                              align_corners=True)
        out = self.scratch.output_conv2(self._add_pos_embed(fused, W / H)).permute(0, 2, 3, 1)
        pred = activate(out[..., :-1], self.activation)
        conf = activate(out[..., -1], self.conf_activation)
        return pred.reshape(B, S, *pred.shape[1:]), conf.reshape(B, S, *conf.shape[1:])

    def _fuse(self, levels: list[torch.Tensor]) -> torch.Tensor:
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i}_rn")(x) for i, x in enumerate(levels, start=1))
        out = s.refinenet4(l4, size=l3.shape[2:])
        out = s.refinenet3(out, l3, size=l2.shape[2:])
        out = s.refinenet2(out, l2, size=l1.shape[2:])
        out = s.refinenet1(out, l1)
        return s.output_conv1(out)

    @staticmethod
    def _add_pos_embed(x: torch.Tensor, aspect_ratio: float) -> torch.Tensor:
        emb = uv_embedding(x.shape[1], x.shape[2], x.shape[3], aspect_ratio, device=x.device)
        return x + POS_EMBED_RATIO * emb.to(x.dtype)
