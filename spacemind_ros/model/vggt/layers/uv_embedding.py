"""The DPT heads' 2D sine-cosine embedding of a normalised image-plane grid."""
from __future__ import annotations

import torch


def uv_grid(width: int, height: int, aspect_ratio: float, dtype: torch.dtype = torch.float32,
            device: torch.device | str | None = None) -> torch.Tensor:
    """``[height, width, 2]`` (u, v) spanning +-(aspect/diag)(w-1)/w and +-(1/diag)(h-1)/h, diag = |(aspect, 1)|."""
    diag = (aspect_ratio ** 2 + 1.0) ** 0.5
    span_u, span_v = aspect_ratio / diag, 1.0 / diag
    u = torch.linspace(-span_u * (width - 1) / width, span_u * (width - 1) / width, width, dtype=dtype, device=device)
    v = torch.linspace(-span_v * (height - 1) / height, span_v * (height - 1) / height, height, dtype=dtype,
                       device=device)
    vv, uu = torch.meshgrid(v, u, indexing="ij")
    return torch.stack((uu, vv), dim=-1)


def sincos_1d(dim: int, pos: torch.Tensor, omega_0: float = 100.0) -> torch.Tensor:
    """Positions ``[M]`` -> ``[M, dim]`` = [sin(p*om_k), cos(p*om_k)], om_k = omega_0^(-k/(dim/2)), in float64."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even width, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64, device=pos.device) / (dim / 2.0)
    omega = 1.0 / omega_0 ** omega
    angles = pos.reshape(-1).to(torch.float64)[:, None] * omega[None]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)


def uv_embedding(channels: int, height: int, width: int, aspect_ratio: float,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """``[channels, height, width]`` float32: the u half of the channels first, then the v half."""
    grid = uv_grid(width, height, aspect_ratio, device=device).reshape(-1, 2)
    emb = torch.cat([sincos_1d(channels // 2, grid[:, 0]), sincos_1d(channels // 2, grid[:, 1])], dim=-1)
    return emb.float().reshape(height, width, channels).permute(2, 0, 1)
