"""Named model configurations: ``tiny`` (random weights, CPU tests and the demo) and ``spacemind-8b``."""
from __future__ import annotations

import torch

from spacemind_ros.model.cgmf import CGMFConfig
from spacemind_ros.model.configuration_spacemind import LoRASettings, SpaceMindConfig
from spacemind_ros.model.vggt.config import VGGTConfig

PRESETS = ("tiny", "spacemind-8b")


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


def spacemind_8b_config() -> SpaceMindConfig:
    return SpaceMindConfig(
        internvl=internvl3_8b_dict(), vggt=VGGTConfig(), cgmf=CGMFConfig(visual_dim=3584, spatial_dim=2048),
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


def build_tiny(seed: int = 0):
    """The tiny preset: (SpaceMindModel, SpaceMindProcessor), random weights from ``seed``, in about a second."""
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel
    from spacemind_ros.model.processing_spacemind import IMG_CONTEXT, SpaceMindProcessor
    from spacemind_ros.model.tiny_tokenizer import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = tiny_config(len(tokenizer), tokenizer.convert_tokens_to_ids(IMG_CONTEXT))
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


def load_model(model_dir=None, preset: str | None = None, runtime=None):
    """(model, processor) from a SpaceMind folder, or from a preset; ``spacemind-8b`` needs ``model_dir``.

    ``runtime``: a spacemind_ros.runtime.RuntimeSettings (device and dtype); default CPU float32.
    """
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor
    from spacemind_ros.runtime import RuntimeSettings

    runtime = runtime or RuntimeSettings.resolve("cpu", "float32")
    if model_dir is None:
        if preset in (None, "tiny"):
            model, processor = build_tiny()
            return model.place(runtime), processor
        raise ValueError(f"preset {preset!r} has no embedded weights: give the SpaceMind folder (--model DIR)")
    model = SpaceMindModel.from_pretrained(model_dir, runtime=runtime).eval()
    return model, SpaceMindProcessor(model.tokenizer, model.config, model.tokens_per_frame)
