"""Checkpoint folders in the exact real layouts, at tiny widths: what a workstation user points the node at.

- ``InternVL3-8B-hf``: the hub's config.json structure (nested vision/text configs, ``rope_scaling``,
  ``image_token_id``, ``downsample_ratio``, no top-level tie flag), bfloat16 weights as sharded safetensors with an
  index file, in either key layout transformers accepts, and a Qwen2 byte-level BPE tokenizer with the real
  special-token ids (151643..151673, 151674 embedding rows) and the -hf chat template.
- ``VGGT-1B``: an official-key ``model.pt`` (the tiny reference weights, heads included).
- a SpaceMind folder written by ``save_pretrained`` that records both paths.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

VGGT_DATA = Path(__file__).parent / "data" / "vggt"
QWEN2_VOCAB = 151643  # ordinary BPE entries of Qwen2's vocabulary; the special tokens follow
SPECIAL_TOKENS = [  # Qwen2 + InternVL, in id order from 151643
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<img>", "</img>", "<IMG_CONTEXT>", "<quad>",
    "</quad>", "<ref>", "</ref>", "<box>", "</box>",
]
VOCAB_ROWS = QWEN2_VOCAB + len(SPECIAL_TOKENS)  # 151674
IM_END, IMG_CONTEXT_ID = 151645, 151667
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
               r"|\s+(?!\S)|\s+")
# The -hf repos' template: ChatML; an image item becomes <IMG_CONTEXT> (the processor expands it), a video <video>.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}{% elif content['type'] == 'text' %}"
    "{{ content['text'] }}{% endif %}{% endfor %}{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)


def internvl3_hf_config() -> dict:
    """config.json of InternVL3-8B-hf as on the hub, with tiny widths (112-px tiles, 64-wide Qwen2)."""
    return {
        "architectures": ["InternVLForConditionalGeneration"],
        "downsample_ratio": 0.5,
        "image_seq_length": 16,
        "image_token_id": IMG_CONTEXT_ID,
        "model_type": "internvl",
        "projector_hidden_act": "gelu",
        "text_config": {
            "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
            "eos_token_id": IM_END, "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
            "intermediate_size": 128, "max_position_embeddings": 32768, "max_window_layers": 2, "model_type": "qwen2",
            "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
            "rope_scaling": {"factor": 2.0, "rope_type": "dynamic", "type": "dynamic"}, "rope_theta": 1000000.0,
            "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
            "use_sliding_window": False, "vocab_size": VOCAB_ROWS,
        },
        "torch_dtype": "bfloat16",
        "transformers_version": "4.52.0.dev0",
        "vision_config": {
            "architectures": ["InternVisionModel"], "attention_bias": True, "attention_dropout": 0.0, "dropout": 0.0,
            "hidden_act": "gelu", "hidden_dropout_prob": 0.0, "hidden_size": 32, "image_size": [112, 112],
            "initializer_factor": 0.1, "initializer_range": 1e-10, "intermediate_size": 64, "layer_norm_eps": 1e-06,
            "layer_scale_init_value": 0.1, "model_type": "internvl_vision", "norm_type": "layer_norm",
            "num_attention_heads": 2, "num_channels": 3, "num_hidden_layers": 2, "patch_size": [14, 14],
            "projection_dropout": 0.0, "torch_dtype": "bfloat16", "use_absolute_position_embeddings": True,
            "use_mask_token": False, "use_mean_pooling": True, "use_qk_norm": False,
        },
        "vision_feature_layer": -1,
        "vision_feature_select_strategy": "default",
    }


def write_qwen2_tokenizer(folder: Path) -> None:
    """Byte-level BPE with Qwen2's pre-tokenizer; ordinary ids padded to 151643 so the specials get the real ids."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from spacemind_ros.model.tiny_tokenizer import _CORPUS

    pre = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre
    trained.train_from_iterator([_CORPUS] * 4, trainers.BpeTrainer(
        vocab_size=600, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    spec = json.loads(trained.to_str())["model"]
    vocab = dict(spec["vocab"])
    for i in range(len(vocab), QWEN2_VOCAB):  # unreachable fillers: no merge produces them
        vocab[f"\u0100filler{i}"] = i
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   model_max_length=8192, chat_template=CHAT_TEMPLATE)
    fast.save_pretrained(str(folder))
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "Qwen2Tokenizer"
    cfg_path.write_text(json.dumps(cfg, indent=1))


def _legacy_key(name: str) -> str:
    """transformers' own layout -> the older LLaVA-style layout it also accepts."""
    if name == "lm_head.weight":
        return "language_model.lm_head.weight"
    if name.startswith("model.language_model."):
        return "language_model.model." + name[len("model.language_model."):]
    return name.removeprefix("model.")


def write_internvl3_hf(folder: Path, layout: str = "transformers", seed: int = 0) -> Path:
    """The InternVL3-8B-hf folder: config.json, 2 bf16 safetensors shards + index, tokenizer, generation config."""
    from safetensors.torch import save_file
    from transformers import InternVLConfig, InternVLForConditionalGeneration

    folder.mkdir(parents=True, exist_ok=True)
    config = internvl3_hf_config()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # Qwen2.5-7B's head is its own matrix: build untied (InternVLConfig's own default would tie it).
        model = InternVLForConditionalGeneration(InternVLConfig(**config, tie_word_embeddings=False))
    state = {k: v.to(torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    if layout == "legacy":
        state = {_legacy_key(k): v for k, v in state.items()}
    elif layout != "transformers":
        raise ValueError(layout)
    names = sorted(state)
    shards = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k] for k in shard}, str(folder / file), metadata={"format": "pt"})
        weight_map.update({k: file for k in shard})
    total = sum(v.numel() * v.element_size() for v in state.values())
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}, indent=1))
    (folder / "config.json").write_text(json.dumps(config, indent=1))
    (folder / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": 151643, "eos_token_id": [IM_END, 151643], "pad_token_id": 151643}))
    write_qwen2_tokenizer(folder)
    return folder


def write_vggt_model_pt(folder: Path) -> Path:
    """The official VGGT layout: one ``model.pt`` state dict (all heads' keys), no config.json."""
    from safetensors.torch import load_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.save(load_file(str(VGGT_DATA / "tiny_vggt.safetensors")), folder / "model.pt")
    return folder


def write_spacemind_folder(folder: Path, internvl_dir: Path, vggt_dir: Path, seed: int = 1) -> Path:
    """A SpaceMind folder (config, trained-looking CGMF and LoRA) whose config records the two base checkpoints."""
    from spacemind_ros.model.cgmf import CGMFConfig
    from spacemind_ros.model.configuration_spacemind import LoRASettings, SpaceMindConfig
    from spacemind_ros.model.modeling_spacemind import SpaceMindModel, load_internvl
    from spacemind_ros.model.vggt import VGGT, VGGTConfig

    internvl, tokenizer = load_internvl(internvl_dir)
    vggt = VGGT.from_pretrained(vggt_dir, config=VGGTConfig.tiny())
    config = SpaceMindConfig(vggt=VGGTConfig.tiny(), cgmf=CGMFConfig(visual_dim=64, spatial_dim=128, attn_dim=32,
                                                                     num_heads=4),
                             lora=LoRASettings(r=8, alpha=16, dropout=0.0), vision_image_size=112, vggt_image_size=56,
                             preset="custom")
    model = SpaceMindModel(config, internvl=internvl, vggt=vggt, tokenizer=tokenizer)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # as if trained: CGMF's zero-initialised output and LoRA's B are no longer zero
        for p in model.trainable_parameters().values():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    model.config.internvl_path, model.config.vggt_path = str(internvl_dir), str(vggt_dir)
    model.save_pretrained(folder)
    return folder


def write_workstation_checkpoints(root: Path, layout: str = "transformers") -> Path:
    """``root/InternVL3-8B-hf``, ``root/VGGT-1B``, ``root/spacemind``; returns the SpaceMind folder."""
    internvl = write_internvl3_hf(root / "InternVL3-8B-hf", layout=layout)
    vggt = write_vggt_model_pt(root / "VGGT-1B")
    return write_spacemind_folder(root / "spacemind", internvl, vggt)
