"""SpaceMind configuration: InternVL3 (transformers config dict) + VGGT + CGMF + LoRA, validated on construction."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spacemind_ros.model.cgmf import CGMFConfig
from spacemind_ros.model.vggt.config import VGGTConfig

CONFIG_NAME = "spacemind_config.json"
# LoRA on the language model only (a plain name list would also wrap InternViT's q/k/v and MLP): its attention
# projections, or every linear layer of its blocks (also the MLP's gate/up/down, as InternVL's own LoRA fine-tuning
# of Qwen2 does).
LLM_ATTENTION_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)"
LLM_ALL_LINEAR_TARGETS = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"
LORA_TARGETS = {"attention": LLM_ATTENTION_TARGETS, "all_linear": LLM_ALL_LINEAR_TARGETS}
# InternVL2.5/3's own system message (its chat() and the `internvl2_5` fine-tuning template put it first).
INTERNVL_SYSTEM_PROMPT = ("你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的"
                          "多模态大语言模型。")


@dataclass
class LoRASettings:
    r: int = 256
    alpha: int = 512
    dropout: float = 0.05
    target_modules: str | list[str] = LLM_ATTENTION_TARGETS


@dataclass
class SpaceMindConfig:
    internvl: dict | None = None  # InternVLConfig.to_dict(); None = read from the InternVL checkpoint folder
    vggt: VGGTConfig = field(default_factory=VGGTConfig)
    cgmf: CGMFConfig = field(default_factory=CGMFConfig)
    lora: LoRASettings | None = field(default_factory=LoRASettings)
    spatial_layer: int = -1  # VGGT aggregator layer fed to CGMF
    vision_image_size: int = 448  # InternViT tile size (px)
    # The fidelity decisions below are stored with every checkpoint so that serving matches training.
    vggt_image_size: int = 518  # VGGT input size (px): the square side in pad mode, the width in crop mode
    vggt_preprocess_mode: str = "pad"  # the paper feeds VGGT "518 px padded" (white); "crop" is the official default
    max_new_tokens: int = 16
    system_prompt: str | None = INTERNVL_SYSTEM_PROMPT  # None or "" = no system turn (the -hf chat template's way)
    frame_label: str = "Frame{i}: "  # InternVL's README chat; its fine-tuning loader writes "Frame-{i}: "
    query_frames: int = 32  # frames per question it was trained with: what the node and tools sample by default
    preset: str = "custom"
    internvl_path: str | None = None  # where the base checkpoints live (relative to the SpaceMind folder, or absolute)
    vggt_path: str | None = None

    def __post_init__(self):
        if isinstance(self.vggt, dict):
            self.vggt = VGGTConfig.from_dict(self.vggt)
        if isinstance(self.cgmf, dict):
            self.cgmf = CGMFConfig(**self.cgmf)
        if isinstance(self.lora, dict):
            self.lora = LoRASettings(**self.lora)
        if self.cgmf.spatial_dim != self.vggt.output_dim:
            raise ValueError(f"cgmf.spatial_dim {self.cgmf.spatial_dim} != VGGT output width {self.vggt.output_dim}")
        if self.internvl is not None:
            width = self.internvl["text_config"]["hidden_size"]
            if self.cgmf.visual_dim != width:
                raise ValueError(f"cgmf.visual_dim {self.cgmf.visual_dim} != language model width {width}")
        if not -self.vggt.depth <= self.spatial_layer < self.vggt.depth:
            raise ValueError(f"spatial_layer {self.spatial_layer} outside the {self.vggt.depth} aggregator layers")
        if self.vggt_preprocess_mode not in ("crop", "pad"):
            raise ValueError("vggt_preprocess_mode must be 'crop' or 'pad'")
        if "{i}" not in self.frame_label:
            raise ValueError(f"frame_label {self.frame_label!r} must contain {{i}} (the 1-based frame number)")
        if self.vggt_image_size % self.vggt.patch_size:
            raise ValueError(f"vggt_image_size {self.vggt_image_size} is not a multiple of {self.vggt.patch_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, folder: str | Path) -> None:
        Path(folder, CONFIG_NAME).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, folder: str | Path) -> "SpaceMindConfig":
        from spacemind_ros.errors import CheckpointError

        path = Path(folder, CONFIG_NAME)
        if not path.is_file():
            raise CheckpointError(f"{path} is missing: a SpaceMind folder holds {CONFIG_NAME}, cgmf.safetensors "
                                  f"and lora/ (see docs/workstation.md, 'Models and checkpoint folders')")
        try:
            return cls(**json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"{path} is not a valid SpaceMind config: {exc}") from exc
