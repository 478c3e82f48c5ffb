"""Camera-Guided Modality Fusion (CGMF): visual tokens query VGGT spatial tokens, guided by the camera token.

Shape legend: N frames, M_v visual tokens per frame (256 for InternVL3), d_v LLM width, M_s spatial tokens per frame
(h*w VGGT patches), d_s VGGT output width (2C = 2048 for VGGT-1B), d_a attention width. See docs in
../shared/spec/cgmf.md: (1) projections, (2) camera-conditioned geometric bias on K and V, (3) query-independent
reliability weight on V, (4) per-frame cross-attention, (5) camera-guided SwiGLU gate, residual onto f_v.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class CGMFConfig:
    visual_dim: int = 3584  # d_v
    spatial_dim: int = 2048  # d_s
    attn_dim: int = 1024  # d_a
    num_heads: int = 16
    token_weight: bool = True  # step 3
    geometric_bias: bool = True  # step 2
    camera_gate: bool = True  # step 5
    weight_hidden_ratio: float = 0.25  # hidden width of the token-weight MLP, as a fraction of d_a

    def __post_init__(self):
        if self.attn_dim % self.num_heads:
            raise ValueError(f"attn_dim {self.attn_dim} is not divisible by num_heads {self.num_heads}")

    @classmethod
    def ablation(cls, variant: str, **dims) -> "CGMFConfig":
        """The paper's ladder: 'shallow', 'token_weight', 'geometric_bias', 'full'."""
        steps = {
            "shallow": (False, False, False),
            "token_weight": (True, False, False),
            "geometric_bias": (True, True, False),
            "full": (True, True, True),
        }
        if variant not in steps:
            raise ValueError(f"unknown CGMF variant {variant!r}; choose from {', '.join(steps)}")
        tw, gb, gate = steps[variant]
        return cls(token_weight=tw, geometric_bias=gb, camera_gate=gate, **dims)

    def to_dict(self) -> dict:
        return asdict(self)


class CGMF(nn.Module):
    """Fuse ``f_v [N, M_v, d_v]`` with ``f_s [N, M_s, d_s]`` and ``f_c [N, 1, d_s]`` -> ``[N, M_v, d_v]``.

    ``output_proj`` (P_L) is zero-initialised, so a fresh module returns f_v exactly.
    """

    def __init__(self, config: CGMFConfig):
        super().__init__()
        self.config = config
        d_v, d_s, d_a = config.visual_dim, config.spatial_dim, config.attn_dim
        self.norm_visual = nn.LayerNorm(d_v)
        self.norm_spatial = nn.LayerNorm(d_s)
        self.q_proj = nn.Linear(d_v, d_a)
        self.k_proj = nn.Linear(d_s, d_a)
        self.v_proj = nn.Linear(d_s, d_a)
        self.out_proj = nn.Linear(d_a, d_a)  # W_O
        self.output_proj = nn.Linear(d_a, d_v)  # P_L
        if config.geometric_bias:  # MLP_g([LN(f_s); f_c]) -> [B_K; B_V]
            self.geometric_mlp = nn.Sequential(nn.Linear(2 * d_s, d_a), nn.GELU(), nn.Linear(d_a, 2 * d_a))
        if config.token_weight:  # MLP_w(LN(f_s)) -> logit of the reliability weight
            hidden = max(1, int(d_a * config.weight_hidden_ratio))
            self.token_weight_mlp = nn.Sequential(nn.Linear(d_s, hidden), nn.GELU(), nn.Linear(hidden, 1))
        if config.camera_gate:  # c = W_C f_c; g = Swish(W_u c) * (W_g c)
            self.camera_proj = nn.Linear(d_s, d_a)
            self.gate_up = nn.Linear(d_a, d_v)
            self.gate_proj = nn.Linear(d_a, d_v)
        nn.init.zeros_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(self, f_v: torch.Tensor, f_s: torch.Tensor, f_c: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        N, M_v, _ = f_v.shape
        M_s = f_s.shape[1]
        heads, d_head = cfg.num_heads, cfg.attn_dim // cfg.num_heads
        dtype = self.q_proj.weight.dtype  # inputs come from encoders that may run in other precisions
        f_v, f_s, f_c = f_v.to(dtype), f_s.to(dtype), f_c.to(dtype)
        s = self.norm_spatial(f_s)
        q = self.q_proj(self.norm_visual(f_v))
        k, v = self.k_proj(s), self.v_proj(s)
        if cfg.geometric_bias:
            bias_k, bias_v = self.geometric_mlp(torch.cat([s, f_c.expand(N, M_s, -1)], dim=-1)).chunk(2, dim=-1)
            k, v = k + bias_k, v + bias_v
        if cfg.token_weight:
            v = v * torch.sigmoid(self.token_weight_mlp(s))  # [N, M_s, 1], independent of the query

        def split(t):
            return t.reshape(N, t.shape[1], heads, d_head).transpose(1, 2)

        attn = F.scaled_dot_product_attention(split(q), split(k), split(v))  # frame i attends to frame i only
        f_proj = self.out_proj(attn.transpose(1, 2).reshape(N, M_v, cfg.attn_dim))
        update = self.output_proj(f_proj)
        if cfg.camera_gate:
            c = self.camera_proj(f_c)
            update = update * (F.silu(self.gate_up(c)) * self.gate_proj(c))  # [N, 1, d_v] broadcast over tokens
        return f_v + update
