"""The VGGT aggregator: DINOv2 patch tokens + camera/register tokens through alternating frame/global attention."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from spacemind_ros.model.vggt.config import VGGTConfig
from spacemind_ros.model.vggt.dinov2 import DinoVisionTransformer
from spacemind_ros.model.vggt.layers import Block, RotaryPositionEmbedding2D, grid_positions

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def first_frame_split(token: torch.Tensor, B: int, S: int) -> torch.Tensor:
    """Special tokens ``[1, 2, X, C]`` -> ``[B*S, X, C]``: slot 0 for frame 0, slot 1 for frames 1..S-1.

    A gather by slot index rather than expanding slot 1 to S - 1 frames: the same copy, and no guard on S for an
    export with a dynamic frame axis.
    """
    slot = (torch.arange(S, device=token.device) > 0).long()  # [S]: 0, 1, 1, ...
    return token.index_select(1, slot).expand(B, S, *token.shape[2:]).reshape(B * S, *token.shape[2:])


class Aggregator(nn.Module):
    """Images ``[B, S, 3, H, W]`` in [0, 1] -> selected layer outputs ``{i: [B, S, P, 2C]}``.

    Output i is ``cat(frame block i output, global block i output)``; P = 1 camera + registers + h*w patches.
    """

    def __init__(self, config: VGGTConfig):
        super().__init__()
        self.config = config
        C = config.embed_dim
        self.patch_embed = DinoVisionTransformer(config.patch_embed, config.img_size, config.patch_size)
        self.rope = RotaryPositionEmbedding2D(config.rope_freq) if config.rope_freq > 0 else None

        def blocks():
            return nn.ModuleList(
                Block(C, config.num_heads, config.mlp_ratio, init_values=config.init_values,
                      qk_norm=config.qk_norm, rope=self.rope)
                for _ in range(config.depth)
            )

        self.frame_blocks = blocks()
        self.global_blocks = blocks()
        self.camera_token = nn.Parameter(torch.randn(1, 2, 1, C))
        self.register_token = nn.Parameter(torch.randn(1, 2, config.num_register_tokens, C))

    @property
    def patch_start_idx(self) -> int:
        return self.config.patch_start_idx

    def resolve_layers(self, layers: Iterable[int]) -> list[int]:
        depth = self.config.depth
        out = []
        for layer in layers:
            if not -depth <= layer < depth:
                raise ValueError(f"aggregator layer {layer} is out of range for depth {depth}")
            out.append(layer % depth)
        return sorted(set(out))

    def forward(self, images: torch.Tensor, layers: Iterable[int] = (-1,)) -> dict[int, torch.Tensor]:
        """images ``[B, S, 3, H, W]`` in [0, 1]; only the requested layers' outputs are kept (not all 24)."""
        B, S, _, H, W = images.shape
        p = self.config.patch_size
        if H % p or W % p:
            raise ValueError(f"image size {H}x{W} must be a multiple of the patch size {p}")
        keep = self.resolve_layers(layers)
        # Normalised in float32 from constants (not buffers a .to(dtype) would round), then in the model's dtype.
        mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 1, 3, 1, 1)
        images = (images.float() - mean) / std
        images = images.to(self.camera_token.dtype)  # a cast model runs in its own dtype; autocast overrides
        patch_tokens = self.patch_embed(images.reshape(B * S, 3, H, W))  # [B*S, h*w, C]
        tokens = torch.cat(
            [first_frame_split(self.camera_token, B, S), first_frame_split(self.register_token, B, S), patch_tokens],
            dim=1,
        )
        P, C = tokens.shape[1], tokens.shape[2]
        pos = grid_positions(H // p, W // p, self.patch_start_idx, device=images.device)  # [P, 2]
        frame_pos = pos.expand(B * S, P, 2)
        global_pos = pos.repeat(S, 1).expand(B, S * P, 2)  # frame-major, no frame index
        outputs: dict[int, torch.Tensor] = {}
        for i in range(keep[-1] + 1):
            tokens = self.frame_blocks[i](tokens.reshape(B * S, P, C), pos=frame_pos)
            frame_out = tokens.reshape(B, S, P, C)
            tokens = self.global_blocks[i](tokens.reshape(B, S * P, C), pos=global_pos)
            if i in keep:
                outputs[i] = torch.cat([frame_out, tokens.reshape(B, S, P, C)], dim=-1)
        return outputs
