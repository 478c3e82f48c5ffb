"""VGGT configuration: defaults are VGGT-1B; ``tiny()`` is the official reference test configuration."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class DinoConfig:
    """The DINOv2 patch embedder inside the aggregator (VGGT-1B: ViT-L/14 with 4 registers)."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    init_values: float = 1.0
    # VGGT builds DINOv2 with antialiased bicubic resizing to an explicit size (no +0.1 offset).
    interpolate_antialias: bool = True
    interpolate_offset: float = 0.0


@dataclass
class DPTConfig:
    """The DPT depth/point heads (VGGT-1B: 256 features, aggregator layers 4, 11, 17, 23)."""

    features: int = 256
    out_channels: tuple[int, ...] = (256, 512, 1024, 1024)
    layers: tuple[int, ...] = (4, 11, 17, 23)  # aggregator outputs fused, shallow to deep
    frames_chunk_size: int = 8  # frames per pass; bounds activation memory (0 = all at once)

    def __post_init__(self):
        self.out_channels, self.layers = tuple(self.out_channels), tuple(self.layers)
        if len(self.out_channels) != 4 or len(self.layers) != 4:
            raise ValueError("a DPT head fuses exactly four layers (out_channels and layers of length 4)")
        if self.features % 2:
            raise ValueError(f"DPT features must be even, got {self.features}")


@dataclass
class VGGTConfig:
    """Aggregator + camera head hyper-parameters (defaults: VGGT-1B), and the optional DPT heads.

    ``enable_depth`` / ``enable_point`` build ``depth_head`` / ``point_head``; they are off by default because
    SpaceMind itself uses only the aggregator tokens and the cameras.
    """

    img_size: int = 518  # size the DINOv2 positional embedding was trained at (37x37 patches)
    patch_size: int = 14
    embed_dim: int = 1024  # C; aggregator outputs are 2C wide
    depth: int = 24  # frame/global block pairs
    num_heads: int = 16
    mlp_ratio: float = 4.0
    num_register_tokens: int = 4
    qk_norm: bool = True
    rope_freq: float = 100.0
    init_values: float = 0.01
    camera_trunk_depth: int = 4
    camera_num_heads: int = 16
    camera_num_iterations: int = 4
    patch_embed: DinoConfig = field(default_factory=DinoConfig)
    enable_depth: bool = False
    enable_point: bool = False
    dpt: DPTConfig = field(default_factory=DPTConfig)

    def __post_init__(self):
        if isinstance(self.patch_embed, dict):
            self.patch_embed = DinoConfig(**self.patch_embed)
        if isinstance(self.dpt, dict):
            self.dpt = DPTConfig(**self.dpt)
        if any(not 0 <= i < self.depth for i in self.dpt.layers):
            raise ValueError(f"DPT layers {list(self.dpt.layers)} must lie in [0, {self.depth})")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if (self.embed_dim // self.num_heads) % 4:
            raise ValueError("2D RoPE needs a head dim divisible by 4")
        if self.patch_embed.embed_dim != self.embed_dim:
            raise ValueError("patch_embed.embed_dim must equal embed_dim")
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")

    @property
    def patch_start_idx(self) -> int:
        """Index of the first patch token in a frame: 1 camera + registers."""
        return 1 + self.num_register_tokens

    @property
    def output_dim(self) -> int:
        """Width of the aggregator outputs (frame and global tokens concatenated): 2C."""
        return 2 * self.embed_dim

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "VGGTConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown VGGT config keys: {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def tiny(cls, enable_depth: bool = False, enable_point: bool = False) -> "VGGTConfig":
        """The configuration of the official-code reference data in tests/data/vggt (844,240 parameters with
        both DPT heads)."""
        return cls(
            img_size=56, embed_dim=64, depth=4, num_heads=4, camera_trunk_depth=1, camera_num_heads=16,
            patch_embed=DinoConfig(embed_dim=64, depth=2, num_heads=4),
            enable_depth=enable_depth, enable_point=enable_point,
            dpt=DPTConfig(features=8, out_channels=(4, 8, 16, 16), layers=(0, 1, 2, 3)),
        )
