"""Named model configurations: ``small`` (trained here on the synthetic scenes, shipped in the package: the demo's
and the node's default), ``tiny`` (random weights, for tests) and ``spacemind-8b`` (the paper's model)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from spacemind_ros.model.cgmf import CGMFConfig
from spacemind_ros.model.configuration_spacemind import LoRASettings, SpaceMindConfig
from spacemind_ros.model.vggt.config import VGGTConfig

PRESETS = ("small", "tiny", "spacemind-8b")
# The shipped small checkpoint (a SpaceMind folder with its encoders): written by `python -m
# spacemind_ros.train.small_recipe --install`, loaded by load_model(preset="small").
SMALL_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "small"
SMALL_QUERY_FRAMES = 8  # frames per question the small model's QA stage trains with (sampled 10, ends dropped)


def internvl3_8b_dict() -> dict:
    """InternVL3-8B-hf dimensions: InternViT-300M (448 px, patch 14) + Qwen2.5-7B."""
    from transformers import InternVLConfig

    return InternVLConfig(
        vision_config=dict(
            hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
            attention_bias=True, image_size=448, patch_size=14, layer_scale_init_value=0.1, norm_type="layer_norm",
            use_mean_pooling=True, use_qk_norm=False,
        ),
        text_config=dict(
            model_type="qwen2", hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
            num_attention_heads=28, num_key_value_heads=4, vocab_size=151674, max_position_embeddings=32768,
            rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
        ),
        image_token_id=151667, image_seq_length=256, downsample_ratio=0.5, tie_word_embeddings=False,
    ).to_dict()


def spacemind_8b_config(layers: int | None = None) -> SpaceMindConfig:
    """SpaceMind at InternVL3-8B + VGGT-1B dimensions. ``layers``: keep only that many Qwen2 decoder layers and VGGT
    frame/global block pairs (1-24); every width, head count, vocabulary, tile and token count stays real, so the
    whole pipeline runs at real widths in a few GB (the DPT heads, if built, fuse four evenly spread layers)."""
    internvl, vggt = internvl3_8b_dict(), VGGTConfig()
    if layers is not None:
        if not 1 <= layers <= vggt.depth:
            raise ValueError(f"layers must be 1-{vggt.depth} (the LLM has 28, VGGT {vggt.depth} block pairs)")
        text = internvl["text_config"]
        text["num_hidden_layers"] = layers
        if text.get("layer_types"):
            text["layer_types"] = text["layer_types"][:layers]
        spread = tuple(round(i * (layers - 1) / 3) for i in range(4))
        vggt = VGGTConfig(depth=layers, dpt=dataclasses.replace(vggt.dpt, layers=spread))
    return SpaceMindConfig(
        internvl=internvl, vggt=vggt, cgmf=CGMFConfig(visual_dim=3584, spatial_dim=2048),
        lora=LoRASettings(r=256, alpha=512, dropout=0.05), preset="spacemind-8b",
    )


def tiny_config(vocab_size: int, image_token_id: int) -> SpaceMindConfig:
    """A few hundred thousand random parameters: 112-px tiles (16 tokens per frame), VGGT 56 px, 64-wide LLM."""
    from transformers import InternVLConfig

    internvl = InternVLConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           attention_bias=True, image_size=112, patch_size=14, norm_type="layer_norm"),
        text_config=dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, vocab_size=vocab_size,
                         max_position_embeddings=4096, tie_word_embeddings=False),
        image_token_id=image_token_id, image_seq_length=16, downsample_ratio=0.5, tie_word_embeddings=False,
    ).to_dict()
    return SpaceMindConfig(
        internvl=internvl, vggt=VGGTConfig.tiny(),
        cgmf=CGMFConfig(visual_dim=64, spatial_dim=128, attn_dim=32, num_heads=4),
        lora=LoRASettings(r=8, alpha=16, dropout=0.0), vision_image_size=112, vggt_image_size=56,
        max_new_tokens=16, preset="tiny", system_prompt=None,  # no system turn: short prompts for a random model
    )


def small_config(vocab_size: int, image_token_id: int) -> SpaceMindConfig:
    """About 5 M parameters: 112-px InternViT tiles (16 tokens per frame) into a 4-layer, 192-wide Qwen2; a
    4-pair, 128-wide VGGT at 112 px (crop mode: 160x120 frames become 112x84) with a depth head for its geometry
    stage; CGMF at full strength."""
    from transformers import InternVLConfig

    internvl = InternVLConfig(
        vision_config=dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512,
                           attention_bias=True, image_size=112, patch_size=14, norm_type="layer_norm"),
        text_config=dict(model_type="qwen2", hidden_size=192, intermediate_size=512, num_hidden_layers=4,
                         num_attention_heads=6, num_key_value_heads=2, vocab_size=vocab_size,
                         max_position_embeddings=2048, tie_word_embeddings=False),
        image_token_id=image_token_id, image_seq_length=16, downsample_ratio=0.5, tie_word_embeddings=False,
    ).to_dict()
    vggt = VGGTConfig(
        img_size=112, embed_dim=128, depth=4, num_heads=4, camera_trunk_depth=1, camera_num_heads=8,
        patch_embed=dict(embed_dim=128, depth=2, num_heads=4), enable_depth=True,
        dpt=dict(features=32, out_channels=(16, 32, 64, 64), layers=(0, 1, 2, 3)),
    )
    return SpaceMindConfig(
        internvl=internvl, vggt=vggt, cgmf=CGMFConfig(visual_dim=192, spatial_dim=256, attn_dim=96, num_heads=4),
        lora=LoRASettings(r=16, alpha=32, dropout=0.0), vision_image_size=112, vggt_image_size=112,
        vggt_preprocess_mode="crop", max_new_tokens=16, preset="small", system_prompt=None,
        query_frames=SMALL_QUERY_FRAMES,
    )


def build_small(seed: int = 0, **overrides):
    """The small preset before training: (SpaceMindModel, SpaceMindProcessor) with random weights from ``seed`` and
    the scenes' tokenizer. ``overrides`` replace SpaceMindConfig fields (as in :func:`build_tiny`)."""
    from spacemind_ros.model.tiny_tokenizer import build_tiny_tokenizer, scene_corpus

    tokenizer = build_tiny_tokenizer(vocab_size=768, corpus=scene_corpus(), split_digits=True)
    return _build(small_config, tokenizer, seed, overrides)


def build_tiny(seed: int = 0, **overrides):
    """The tiny preset: (SpaceMindModel, SpaceMindProcessor), random weights from ``seed``, in about a second.

    ``overrides`` replace SpaceMindConfig fields (e.g. ``cgmf=CGMFConfig.ablation(...)``, ``lora=...``); the base
    weights drawn from ``seed`` stay the same, since CGMF and LoRA are built after them."""
    from spacemind_ros.model.tiny_tokenizer import build_tiny_tokenizer

    return _build(tiny_config, build_tiny_tokenizer(), seed, overrides)


def _build(make_config, tokenizer, seed: int, overrides: dict):
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel
    from spacemind_ros.model.processing_spacemind import IMG_CONTEXT, SpaceMindProcessor

    config = make_config(len(tokenizer), tokenizer.convert_tokens_to_ids(IMG_CONTEXT))
    if overrides:
        config = dataclasses.replace(config, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SpaceMindModel(config, tokenizer=tokenizer)
    model.base.generation_config.eos_token_id = tokenizer.eos_token_id
    model.base.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), SpaceMindProcessor(tokenizer, config, model.tokens_per_frame)


def build_on_meta(config: SpaceMindConfig):
    """Build without allocating weights (parameter counts, key lists)."""
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel

    with torch.device("meta"):
        return SpaceMindModel(config)


def small_checkpoint() -> Path:
    """The shipped small checkpoint's folder; a clear error where it is missing (a trimmed install)."""
    from spacemind_ros.errors import CheckpointError

    if not (SMALL_CHECKPOINT / "spacemind_config.json").is_file():
        raise CheckpointError(f"the small preset's checkpoint is missing from {SMALL_CHECKPOINT}; rebuild it with "
                              "`python -m spacemind_ros.train.small_recipe --install` (docs/small-model.md)")
    return SMALL_CHECKPOINT


def load_model(model_dir=None, preset: str | None = None, runtime=None):
    """(model, processor) from a SpaceMind folder, or from a preset; ``spacemind-8b`` needs ``model_dir``.

    ``runtime``: a spacemind_ros.runtime.RuntimeSettings (device and dtype); default CPU float32.
    """
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor
    from spacemind_ros.runtime import RuntimeSettings

    runtime = runtime or RuntimeSettings.resolve("cpu", "float32")
    if model_dir is None:
        if preset == "tiny":
            model, processor = build_tiny()
            return model.place(runtime), processor
        if preset in (None, "small"):
            return load_model(small_checkpoint(), runtime=runtime)
        raise ValueError(f"preset {preset!r} has no embedded weights: give the SpaceMind folder (--model DIR)")
    model = SpaceMindModel.from_pretrained(model_dir, runtime=runtime).eval()
    return model, SpaceMindProcessor(model.tokenizer, model.config, model.tokens_per_frame)
