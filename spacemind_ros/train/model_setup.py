"""Build the model to train: frozen InternViT + projector + VGGT (+ frozen LLM), trainable CGMF and LoRA."""
from __future__ import annotations

import logging
from pathlib import Path

import torch

from spacemind_ros.model.cgmf import CGMFConfig
from spacemind_ros.model.configuration_spacemind import LoRASettings
from spacemind_ros.train.config import ModelSection

log = logging.getLogger(__name__)


def _lora(section: ModelSection, preset: LoRASettings) -> LoRASettings:
    r = section.lora_r or preset.r
    return LoRASettings(r=r, alpha=section.lora_alpha or (2 * r if section.lora_r else preset.alpha),
                        dropout=preset.dropout if section.lora_dropout is None else section.lora_dropout,
                        target_modules=preset.target_modules)


def _cgmf(section: ModelSection, dims: CGMFConfig) -> CGMFConfig:
    variant = "full" if section.cgmf_variant == "none" else section.cgmf_variant
    return CGMFConfig.ablation(variant, visual_dim=dims.visual_dim, spatial_dim=dims.spatial_dim,
                               attn_dim=dims.attn_dim, num_heads=dims.num_heads)


def build_training_model(section: ModelSection, device: torch.device, weights_dtype: torch.dtype):
    """(model, processor) on ``device``: frozen InternVL weights in ``weights_dtype`` and VGGT in float32 (placed
    like the node places them, ``SpaceMindModel.place``); trainable weights (CGMF, LoRA) in float32.

    ``cgmf_variant: none`` keeps CGMF frozen at its identity initialisation (the base InternVL3 + LoRA rung)."""
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel, load_internvl
    from spacemind_ros.model.presets import build_tiny, spacemind_8b_config, tiny_config
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor
    from spacemind_ros.model.vggt import VGGT
    from spacemind_ros.runtime import RuntimeSettings

    runtime = RuntimeSettings(device, weights_dtype)
    if section.init_from:
        model = SpaceMindModel.from_pretrained(section.init_from, internvl_path=section.internvl_path,
                                               vggt_path=section.vggt_path, runtime=runtime)
        if section.cgmf_variant not in ("none", _variant_name(model.config.cgmf)):
            log.warning("init_from %s has CGMF variant %s; model.cgmf_variant %s is ignored", section.init_from,
                        _variant_name(model.config.cgmf), section.cgmf_variant)
        if model.config.lora is None:
            raise ValueError(f"{section.init_from} has no LoRA adapter; training needs one")
        processor = SpaceMindProcessor(model.tokenizer, model.config, model.tokens_per_frame)
    elif section.preset == "tiny":
        preset = tiny_config(512, 0)  # only for its CGMF dimensions and LoRA settings
        model, processor = build_tiny(section.seed, cgmf=_cgmf(section, preset.cgmf), lora=_lora(section, preset.lora))
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
        raise ValueError(f"model.preset {section.preset!r}: choose tiny or spacemind-8b")
    model.unmerge_lora()
    model.requires_grad_(False)
    for name, p in model.named_parameters():  # exactly CGMF (unless 'none') and the LoRA matrices train
        p.requires_grad_(("lora_" in name) or (name.startswith("cgmf.") and section.cgmf_variant != "none"))
    model.place(runtime)  # the serving placement: InternVL in weights_dtype, VGGT float32 (+ autocast on CUDA)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()  # master weights of what trains stay float32 (autocast computes in bf16)
    return model, processor


def _variant_name(cfg: CGMFConfig) -> str:
    for name in ("shallow", "token_weight", "geometric_bias", "full"):
        ref = CGMFConfig.ablation(name)
        if (ref.token_weight, ref.geometric_bias, ref.camera_gate) == (cfg.token_weight, cfg.geometric_bias,
                                                                       cfg.camera_gate):
            return name
    return "custom"
