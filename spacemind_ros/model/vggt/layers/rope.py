"""2D rotary position embedding of the VGGT aggregator.

Unlike the official code, the angle of each token is computed from its position directly instead of gathering rows
of a table sized by ``positions.max()``: the numbers are the same (one float32 multiply either way), and nothing
depends on tensor values, so the graph exports to ONNX/TensorRT with a dynamic frame axis.
"""
from __future__ import annotations

import torch
from torch import nn


def grid_positions(h: int, w: int, num_special: int, device=None) -> torch.Tensor:
    """RoPE positions (y, x) of one frame: ``[num_special + h*w, 2]`` int64.

    Special tokens (camera, registers) sit at (0, 0); patch (row, col) in row-major order at (row + 1, col + 1).
    """
    ys = torch.arange(1, h + 1, device=device)
    xs = torch.arange(1, w + 1, device=device)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(h * w, 2)
    special = torch.zeros(num_special, 2, dtype=grid.dtype, device=device)
    return torch.cat([special, grid], dim=0)


class RotaryPositionEmbedding2D(nn.Module):
    """Rotate the first half of the head channels by y and the second half by x (rotate-half form)."""

    def __init__(self, frequency: float = 100.0):
        super().__init__()
        self.base_frequency = frequency

    def _rotate_1d(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens ``[B, heads, N, d]``, positions ``[B, N]`` -> same shape as tokens."""
        d = tokens.shape[-1]
        exponents = torch.arange(0, d, 2, device=tokens.device).float() / d
        inv_freq = 1.0 / (self.base_frequency ** exponents)
        angles = (positions.float()[..., None] * inv_freq).to(tokens.dtype)  # [B, N, d/2]
        angles = torch.cat([angles, angles], dim=-1)[:, None]  # [B, 1, N, d]
        cos, sin = angles.cos().to(tokens.dtype), angles.sin().to(tokens.dtype)
        t1, t2 = tokens[..., : d // 2], tokens[..., d // 2:]
        return tokens * cos + torch.cat([-t2, t1], dim=-1) * sin

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens ``[B, heads, N, D]``, positions ``[B, N, 2]`` (y, x) -> ``[B, heads, N, D]``."""
        vertical, horizontal = tokens.chunk(2, dim=-1)
        return torch.cat(
            [self._rotate_1d(vertical, positions[..., 0]), self._rotate_1d(horizontal, positions[..., 1])], dim=-1
        )
