"""DINOv2 ViT with register tokens, as the VGGT aggregator's patch embedder (keys ``aggregator.patch_embed.*``)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from spacemind_ros.model.vggt.config import DinoConfig
from spacemind_ros.model.vggt.layers import Block


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` convolution: ``[N, 3, H, W]`` -> ``[N, h*w, C]``."""

    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoVisionTransformer(nn.Module):
    """Normalised images ``[N, 3, H, W]`` -> final-LayerNorm patch tokens ``[N, h*w, C]`` (cls/registers dropped)."""

    def __init__(self, config: DinoConfig, img_size: int, patch_size: int):
        super().__init__()
        self.config = config
        self.patch_size = patch_size
        C = config.embed_dim
        num_patches = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, C))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, C))
        self.register_tokens = nn.Parameter(torch.zeros(1, config.num_register_tokens, C))
        self.mask_token = nn.Parameter(torch.zeros(1, C), requires_grad=False)  # in the checkpoint; unused here
        self.patch_embed = PatchEmbed(patch_size, 3, C)
        self.blocks = nn.ModuleList(
            Block(C, config.num_heads, config.mlp_ratio, init_values=config.init_values, norm_eps=1e-6)
            for _ in range(config.depth)
        )
        self.norm = nn.LayerNorm(C, eps=1e-6)

    def interpolate_pos_encoding(self, num_patches: int, height: int, width: int, dtype: torch.dtype) -> torch.Tensor:
        """Positional embedding for [cls, h*w patches] at image size (height, width): ``[1, 1 + h*w, C]``.

        Used as stored when the grid is square and unchanged; otherwise its grid is resized with antialiased bicubic
        interpolation in float32 to exactly (h, w).
        """
        n_stored = self.pos_embed.shape[1] - 1
        if num_patches == n_stored and height == width:
            return self.pos_embed
        pos_embed = self.pos_embed.float()
        cls_pos, patch_pos = pos_embed[:, :1], pos_embed[:, 1:]
        dim = pos_embed.shape[-1]
        side = int(math.sqrt(n_stored))
        h, w = height // self.patch_size, width // self.patch_size
        if self.config.interpolate_offset:
            sy, sx = (h + self.config.interpolate_offset) / side, (w + self.config.interpolate_offset) / side
            resize = dict(scale_factor=(sy, sx))
        else:
            resize = dict(size=(h, w))
        patch_pos = F.interpolate(
            patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2),
            mode="bicubic", antialias=self.config.interpolate_antialias, **resize,
        )
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat([cls_pos, patch_pos], dim=1).to(dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        N, _, H, W = images.shape
        x = self.patch_embed(images)
        x = torch.cat([self.cls_token.expand(N, -1, -1), x], dim=1)
        x = x + self.interpolate_pos_encoding(x.shape[1] - 1, H, W, x.dtype)
        # Registers go after cls and carry no positional embedding.
        x = torch.cat([x[:, :1], self.register_tokens.expand(N, -1, -1), x[:, 1:]], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 1 + self.config.num_register_tokens:]
