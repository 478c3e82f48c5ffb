from __future__ import annotations

import torch
from torch import nn

from spacemind_ros.model.vggt.layers.attention import Attention
from spacemind_ros.model.vggt.layers.layer_scale import LayerScale
from spacemind_ros.model.vggt.layers.mlp import Mlp
from spacemind_ros.model.vggt.layers.rope import RotaryPositionEmbedding2D


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``.

    ``norm_eps`` is 1e-6 in DINOv2 and 1e-5 (PyTorch default) in the aggregator and camera head.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, init_values: float | None = None,
                 qk_norm: bool = False, rope: RotaryPositionEmbedding2D | None = None, norm_eps: float = 1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qk_norm=qk_norm, rope=rope)
        self.ls1 = LayerScale(dim, init_values) if init_values else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.ls2 = LayerScale(dim, init_values) if init_values else nn.Identity()

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), pos=pos))
        return x + self.ls2(self.mlp(self.norm2(x)))
