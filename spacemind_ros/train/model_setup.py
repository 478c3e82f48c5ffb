"""Build the model to train: by default frozen InternViT + projector + VGGT (+ frozen LLM), trainable CGMF and LoRA;
``model.trainable`` opens other parts for the small recipe's stages."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from spacemind_ros.model.cgmf import CGMFConfig
from spacemind_ros.model.configuration_spacemind import LORA_TARGETS, LoRASettings
from spacemind_ros.train.config import ModelSection

log = logging.getLogger(__name__)


def _lora(section: ModelSection, preset: LoRASettings) -> LoRASettings:
    r = section.lora_r or preset.r
    return LoRASettings(r=r, alpha=section.lora_alpha or (2 * r if section.lora_r else preset.alpha),
                        dropout=preset.dropout if section.lora_dropout is None else section.lora_dropout,
                        target_modules=LORA_TARGETS[section.lora_targets] if section.lora_targets
                        else preset.target_modules)


def _cgmf(section: ModelSection, dims: CGMFConfig) -> CGMFConfig:
    variant = "full" if section.cgmf_variant == "none" else section.cgmf_variant
    return CGMFConfig.ablation(variant, visual_dim=dims.visual_dim, spatial_dim=dims.spatial_dim,
                               attn_dim=dims.attn_dim, num_heads=dims.num_heads)


def part_of(name: str) -> str | None:
    """Which ``model.trainable`` part a SpaceMindModel parameter belongs to (None: none of them)."""
    if "lora_" in name:
        return "lora"
    if name.startswith("cgmf."):
        return "cgmf"
    if name.startswith("vggt."):
        return "vggt"
    if "vision_tower" in name or "multi_modal_projector" in name:
        return "vision"
    if "language_model" in name or "lm_head" in name:
        return "llm"
    return None


def build_training_model(section: ModelSection, device: torch.device, weights_dtype: torch.dtype):
    """(model, processor) on ``device``: frozen InternVL weights in ``weights_dtype`` and VGGT in float32 (placed
    like the node places them, ``SpaceMindModel.place``); trainable weights (CGMF, LoRA) in float32.

    ``cgmf_variant: none`` keeps CGMF frozen at its identity initialisation (the base InternVL3 + LoRA rung)."""
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel, load_internvl
    from spacemind_ros.model.cgmf import CGMF
    from spacemind_ros.model.presets import build_small, build_tiny, small_config, spacemind_8b_config, tiny_config
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor
    from spacemind_ros.model.vggt import VGGT
    from spacemind_ros.runtime import RuntimeSettings

    runtime = RuntimeSettings(device, weights_dtype)
    if section.init_from:
        model = SpaceMindModel.from_pretrained(section.init_from, internvl_path=section.internvl_path,
                                               vggt_path=section.vggt_path, runtime=runtime)
        trained = not _is_identity(model.cgmf)
        other = section.cgmf_variant not in ("none", _variant_name(model.config.cgmf))
        if other and trained:
            raise ValueError(f"init_from {section.init_from} has a trained CGMF of variant "
                             f"{_variant_name(model.config.cgmf)}; model.cgmf_variant {section.cgmf_variant} "
                             "would throw it away (start from a folder whose CGMF is untrained)")
        if other or (section.cgmf_variant == "none" and trained):
            # A fresh CGMF at identity: of the asked variant where the folder's never trained (a stage without
            # CGMF); for 'none', in place of a trained one (a position stage's), which the saved folder would serve.
            model.config.cgmf = _cgmf(section, model.config.cgmf)
            with torch.device(next(model.cgmf.parameters()).device):
                model.cgmf = CGMF(model.config.cgmf)
        if model.config.lora is None:
            raise ValueError(f"{section.init_from} has no LoRA adapter; training needs one")
        processor = SpaceMindProcessor(model.tokenizer, model.config, model.tokens_per_frame)
    elif section.preset in ("tiny", "small"):
        preset = (tiny_config if section.preset == "tiny" else small_config)(512, 0)  # CGMF dims, LoRA settings
        build = build_tiny if section.preset == "tiny" else build_small
        model, processor = build(section.seed, cgmf=_cgmf(section, preset.cgmf), lora=_lora(section, preset.lora))
    elif section.preset == "spacemind-8b":
        if not (section.internvl_path and section.vggt_path):
            raise ValueError("spacemind-8b needs model.internvl_path and model.vggt_path (or model.init_from)")
        config = spacemind_8b_config()
        internvl, tokenizer = load_internvl(section.internvl_path, dtype=weights_dtype, device=device)
        vggt = VGGT.from_pretrained(section.vggt_path, config=config.vggt, device=device, dtype=torch.float32)
        config.internvl, config.cgmf, config.lora = None, _cgmf(section, config.cgmf), _lora(section, config.lora)
        model = SpaceMindModel(config, internvl=internvl, vggt=vggt, tokenizer=tokenizer)
        model.config.internvl_path = str(Path(section.internvl_path).resolve())
        model.config.vggt_path = str(Path(section.vggt_path).resolve())
        processor = SpaceMindProcessor(tokenizer, model.config, model.tokens_per_frame)
    else:
        raise ValueError(f"model.preset {section.preset!r}: choose tiny, small or spacemind-8b")
    model.unmerge_lora()
    model.requires_grad_(False)
    parts = set(section.trainable) - ({"cgmf"} if section.cgmf_variant == "none" else set())
    for name, p in model.named_parameters():  # exactly the parts asked for (CGMF never under 'none')
        p.requires_grad_(part_of(name) in parts)
    model.place(runtime)  # the serving placement: InternVL in weights_dtype, VGGT float32 (+ autocast on CUDA)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # master weights of what trains stay float32 (autocast computes in bf16)
    return model, processor


def _is_identity(cgmf) -> bool:
    """True for a CGMF that adds nothing (its zero-initialised output projection never trained)."""
    return all(not p.any() for n, p in cgmf.named_parameters() if n.startswith("output_proj"))


def _variant_name(cfg: CGMFConfig) -> str:
    for name in ("shallow", "token_weight", "geometric_bias", "full"):
        ref = CGMFConfig.ablation(name)
        if (ref.token_weight, ref.geometric_bias, ref.camera_gate) == (cfg.token_weight, cfg.geometric_bias,
                                                                       cfg.camera_gate):
            return name
    return "custom"
