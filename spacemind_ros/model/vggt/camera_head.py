"""VGGT camera head: iterative refinement of a 9-d pose encoding from each frame's camera token."""
from __future__ import annotations

import torch
from torch import nn

from spacemind_ros.model.vggt.layers import Block, Mlp

POSE_ENCODING_DIM = 9  # absT_quaR_FoV: translation (3), quaternion xyzw (4), fov_h, fov_w (2, radians)


def activate_pose(raw: torch.Tensor) -> torch.Tensor:
    """Linear translation, linear (unnormalised) quaternion, ReLU field of view."""
    return torch.cat([raw[..., :7], torch.relu(raw[..., 7:])], dim=-1)


class CameraHead(nn.Module):
    """Camera tokens of the last aggregator layer ``[B, S, P, 2C]`` -> pose encodings, one per iteration."""

    def __init__(self, dim_in: int = 2048, trunk_depth: int = 4, num_heads: int = 16, mlp_ratio: float = 4.0,
                 init_values: float = 0.01):
        super().__init__()
        self.trunk = nn.Sequential(
            *[Block(dim_in, num_heads, mlp_ratio, init_values=init_values) for _ in range(trunk_depth)]
        )
        self.token_norm = nn.LayerNorm(dim_in)
        self.trunk_norm = nn.LayerNorm(dim_in)
        self.empty_pose_tokens = nn.Parameter(torch.zeros(1, 1, POSE_ENCODING_DIM))
        self.embed_pose = nn.Linear(POSE_ENCODING_DIM, dim_in)
        self.poseLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim_in, 3 * dim_in))
        self.adaln_norm = nn.LayerNorm(dim_in, elementwise_affine=False, eps=1e-6)
        self.pose_branch = Mlp(dim_in, dim_in // 2, POSE_ENCODING_DIM)

    def forward(self, tokens: torch.Tensor, num_iterations: int = 4) -> list[torch.Tensor]:
        """tokens ``[B, S, P, 2C]`` (token 0 is the camera token) -> list of ``[B, S, 9]`` activated encodings."""
        pose_tokens = self.token_norm(tokens[:, :, 0])
        B, S, _ = pose_tokens.shape
        raw = None
        encodings = []
        for _ in range(num_iterations):
            pose_in = self.empty_pose_tokens.expand(B, S, -1) if raw is None else raw.detach()
            shift, scale, gate = self.poseLN_modulation(self.embed_pose(pose_in)).chunk(3, dim=-1)
            modulated = gate * (self.adaln_norm(pose_tokens) * (1 + scale) + shift) + pose_tokens
            delta = self.pose_branch(self.trunk_norm(self.trunk(modulated)))
            raw = delta if raw is None else raw + delta  # refined from the raw, not the activated, encoding
            encodings.append(activate_pose(raw))
        return encodings
