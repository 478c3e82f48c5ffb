"""The language model, LoRA merged, as a standard Qwen2 checkpoint folder (``spacemind-engine export-llm``).

The folder is what ``vllm serve FOLDER --enable-prompt-embeds`` (or transformers' ``Qwen2ForCausalLM``) loads:
``config.json`` (``Qwen2ForCausalLM``), ``model.safetensors`` (``model.*`` and ``lm_head.weight``),
``generation_config.json`` and the tokenizer. The vision side (InternViT, VGGT, CGMF) stays in the node, which
sends the whole templated prompt as embeddings ``[L, d]``; ``spacemind_llm.json`` records what the node must
check against it (width, image token id, the SpaceMind folder it came from).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

MANIFEST = "spacemind_llm.json"


def language_model_state(model) -> dict[str, torch.Tensor]:
    """The LLM's weights under Qwen2ForCausalLM's names, LoRA folded in: ``model.layers.0.self_attn.q_proj.weight``,
    ..., ``lm_head.weight`` (omitted when tied to the input embeddings)."""
    model.merge_lora()
    base = model.base
    state = {}
    for name, tensor in base.model.language_model.state_dict().items():
        if ".lora_" in name:
            continue
        state["model." + name.replace(".base_layer.", ".")] = tensor
    if not base.config.text_config.tie_word_embeddings:
        state["lm_head.weight"] = base.lm_head.weight
    return state


def export_llm(model, out: str | Path, source: str = "") -> Path:
    """Write ``out`` (created; an existing folder must be empty) and reload it with transformers to check every
    weight arrived. ``model``: a SpaceMindModel (any dtype; the folder keeps it). Returns ``out``."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; export-llm writes a fresh folder")
    text = model.base.config.text_config
    if text.model_type != "qwen2":
        raise ValueError(f"the language model is {text.model_type!r}; export-llm writes Qwen2 folders only")
    config = Qwen2Config(**{k: v for k, v in text.to_dict().items() if k not in ("architectures", "model_type")})
    config.architectures = ["Qwen2ForCausalLM"]
    state = language_model_state(model)
    dtype = next(iter(state.values())).dtype
    with torch.device("meta"):
        qwen = Qwen2ForCausalLM(config)
    qwen.load_state_dict(state, strict=True, assign=True)  # every name matches, no tensor copied
    qwen.config.dtype = dtype
    eos = model.eos_token_ids()
    qwen.config.eos_token_id = eos[0] if len(eos) == 1 else eos
    qwen.config.pad_token_id = getattr(model.tokenizer, "pad_token_id", None)
    qwen.generation_config = GenerationConfig(eos_token_id=qwen.config.eos_token_id, do_sample=False,
                                              pad_token_id=qwen.config.pad_token_id)
    out.mkdir(parents=True, exist_ok=True)
    qwen.save_pretrained(out, safe_serialization=True)
    if model.tokenizer is not None:
        model.tokenizer.save_pretrained(out)
    (out / MANIFEST).write_text(json.dumps({
        "format": "spacemind-llm/1", "source": source, "hidden_size": config.hidden_size,
        "image_token_id": model.image_token_id, "eos_token_ids": eos, "dtype": str(dtype).removeprefix("torch."),
        "note": "serve with: vllm serve <this folder> --enable-prompt-embeds; the node sends full-prompt embeddings",
    }, indent=1) + "\n")
    reloaded = Qwen2ForCausalLM.from_pretrained(out, dtype=dtype)  # the check: a standard loader takes it whole
    missing = set(state) - set(reloaded.state_dict())
    if missing:
        raise RuntimeError(f"the exported folder lacks {sorted(missing)[:3]}")
    return out


def read_manifest(folder: str | Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: not a folder written by spacemind-engine export-llm")
    return json.loads(path.read_text())
