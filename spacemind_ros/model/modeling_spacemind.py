"""SpaceMind: InternVL3 (transformers) + VGGT + CGMF, with LoRA (peft) on the language model.

Shape legend: B sequences (windows), N frames per window, M_v visual tokens per frame, d_v LLM width, L prompt length.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from transformers import InternVLConfig, InternVLForConditionalGeneration

from spacemind_ros.errors import CheckpointError
from spacemind_ros.model.cgmf import CGMF
from spacemind_ros.model.configuration_spacemind import SpaceMindConfig
from spacemind_ros.model.vggt import VGGT, SpatialFeatures
from spacemind_ros.model.vggt.checkpoint import load_strict_subset

log = logging.getLogger(__name__)
CGMF_WEIGHTS = "cgmf.safetensors"
LORA_FOLDER = "lora"


class SpaceMindModel(nn.Module):
    """Frozen InternViT + projector + VGGT; trainable CGMF and LoRA adapters on the LLM's attention projections."""

    def __init__(self, config: SpaceMindConfig, internvl: InternVLForConditionalGeneration | None = None,
                 vggt: VGGT | None = None, tokenizer=None, lora: bool = True):
        super().__init__()
        if internvl is None:
            if config.internvl is None:
                raise ValueError("config.internvl is None: pass a loaded InternVL model or use from_pretrained")
            internvl = InternVLForConditionalGeneration(InternVLConfig(**config.internvl))
        if config.internvl is None:
            config.internvl = internvl.config.to_dict()
            config.__post_init__()  # validate CGMF widths against the loaded model
        self.config = config
        self.tokenizer = tokenizer
        self.vggt = vggt if vggt is not None else VGGT(config.vggt)
        self.cgmf = CGMF(config.cgmf)
        internvl.requires_grad_(False)
        self.vggt.requires_grad_(False)
        if lora and config.lora is not None:
            from peft import LoraConfig, get_peft_model

            internvl = get_peft_model(internvl, LoraConfig(
                r=config.lora.r, lora_alpha=config.lora.alpha, lora_dropout=config.lora.dropout,
                target_modules=config.lora.target_modules, bias="none",
            ))
        self.internvl = internvl
        self.vggt_autocast: torch.dtype | None = None  # set by place(): VGGT's aggregator autocast dtype
        self.language_layers_dropped = False  # drop_language_layers(): the LLM runs elsewhere

    # -- placement -------------------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where the model computes (CGMF's device; place() keeps every part there)."""
        return self.cgmf.q_proj.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The serving dtype of InternViT + projector, CGMF and the LLM (VGGT keeps float32)."""
        return self.cgmf.q_proj.weight.dtype

    def place(self, runtime) -> "SpaceMindModel":
        """Move to ``runtime.device``: InternVL and CGMF in ``runtime.dtype``; VGGT in float32 with its aggregator
        under autocast on CUDA (the official recipe). ``runtime``: a spacemind_ros.runtime.RuntimeSettings."""
        self.internvl.to(device=runtime.device, dtype=runtime.dtype)
        self.cgmf.to(device=runtime.device, dtype=runtime.dtype)
        self.vggt.to(device=runtime.device, dtype=torch.float32)
        self.vggt_autocast = runtime.vggt_autocast
        return self

    # -- parts -----------------------------------------------------------------------------------------------------
    @property
    def base(self) -> InternVLForConditionalGeneration:
        """The InternVL model under the LoRA wrapper (if any)."""
        from peft import PeftModel

        return self.internvl.get_base_model() if isinstance(self.internvl, PeftModel) else self.internvl

    @property
    def image_token_id(self) -> int:
        return self.base.config.image_token_id

    @property
    def tokens_per_frame(self) -> int:
        """Visual tokens per 448-px tile after pixel shuffle (256 for InternVL3)."""
        vc = self.base.config.vision_config
        patches = (vc.image_size[0] // vc.patch_size[0]) * (vc.image_size[1] // vc.patch_size[1])
        return int(patches * self.base.config.downsample_ratio ** 2)

    @property
    def max_positions(self) -> int:
        """Positions the language model allows (prompt + answer)."""
        return int(self.base.config.text_config.max_position_embeddings)

    def trainable_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if p.requires_grad}

    # -- encoders and fusion ---------------------------------------------------------------------------------------
    def visual_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """InternViT + pixel shuffle + projector: ``[N, 3, V, V]`` -> ``[N, M_v, d_v]`` (a graph only where the vision
        weights train: the small recipe's vision stage).

        Pixels made on the CPU are moved to the model's device and dtype here.
        """
        vision = self.base.model.vision_tower
        pixel_values = pixel_values.to(device=vision.device, dtype=vision.dtype)
        return self.base.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output

    @torch.no_grad()
    def spatial_tokens(self, vggt_pixels: torch.Tensor, autocast_dtype: torch.dtype | None = None) -> SpatialFeatures:
        """VGGT over each window: ``[B, N, 3, H, W]`` (or ``[N, 3, H, W]``) in [0, 1] (frozen, no grad).

        Moved to VGGT's device; ``autocast_dtype`` defaults to the placement's (bf16 on CUDA, none on the CPU).
        """
        vggt_pixels = vggt_pixels.to(self.vggt.aggregator.camera_token.device)
        if autocast_dtype is None:
            autocast_dtype = self.vggt_autocast
        return self.vggt.encode_spatial(vggt_pixels, layer=self.config.spatial_layer, autocast_dtype=autocast_dtype)

    def fuse(self, visual: torch.Tensor, spatial: SpatialFeatures) -> torch.Tensor:
        """CGMF per frame: visual ``[B*N, M_v, d_v]`` -> fused ``[B*N, M_v, d_v]``."""
        f_s = spatial.patch_tokens.flatten(0, 1)  # [B*N, M_s, d_s]
        f_c = spatial.camera_tokens.flatten(0, 1)  # [B*N, 1, d_s]
        if f_s.shape[0] != visual.shape[0]:
            raise ValueError(f"{visual.shape[0]} InternViT frames but {f_s.shape[0]} VGGT frames")
        return self.cgmf(visual, f_s, f_c)

    def embed(self, input_ids: torch.Tensor, fused: torch.Tensor | None) -> torch.Tensor:
        """Token embeddings ``[B, L, d_v]`` with the fused tokens scattered at the image-token positions."""
        embedding = self.base.get_input_embeddings()
        input_ids = input_ids.to(embedding.weight.device)
        embeds = embedding(input_ids)
        mask = input_ids == self.image_token_id
        n_tokens = int(mask.sum())
        n_fused = 0 if fused is None else fused.shape[0] * fused.shape[1]
        if n_tokens != n_fused:
            raise ValueError(f"prompt has {n_tokens} image tokens but {n_fused} fused visual tokens were given")
        if fused is None:
            return embeds
        return embeds.masked_scatter(mask.unsqueeze(-1), fused.to(device=embeds.device, dtype=embeds.dtype))

    def encode_window(self, pixel_values: torch.Tensor, vggt_pixels: torch.Tensor) -> torch.Tensor:
        """Frames of B windows -> fused visual tokens ``[B*N, M_v, d_v]``.

        pixel_values ``[B*N, 3, V, V]`` (InternVL-normalised), vggt_pixels ``[B, N, 3, H, W]`` or ``[N, 3, H, W]``.
        """
        return self.fuse(self.visual_tokens(pixel_values), self.spatial_tokens(vggt_pixels))

    # -- language model --------------------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, pixel_values: torch.Tensor, vggt_pixel_values: torch.Tensor,
                attention_mask: torch.Tensor | None = None, labels: torch.Tensor | None = None, **kwargs):
        """Logits ``[B, L, vocab]`` (and the loss when ``labels`` are given, -100 = ignored)."""
        inputs_embeds = self.embed(input_ids, self.encode_window(pixel_values, vggt_pixel_values))
        return self.internvl(inputs_embeds=inputs_embeds, attention_mask=attention_mask, labels=labels, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, pixel_values: torch.Tensor, vggt_pixel_values: torch.Tensor,
                 attention_mask: torch.Tensor | None = None, max_new_tokens: int | None = None, **kwargs):
        """Greedy by default; returns only the new token ids ``[B, T]``."""
        inputs_embeds = self.embed(input_ids, self.encode_window(pixel_values, vggt_pixel_values))
        return self.generate_from_embeds(inputs_embeds, attention_mask, max_new_tokens, **kwargs)

    @torch.no_grad()
    def generate_from_embeds(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor | None = None,
                             max_new_tokens: int | None = None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        kwargs.setdefault("do_sample", False)
        eos = self.base.generation_config.eos_token_id
        if self.tokenizer is not None:
            kwargs.setdefault("eos_token_id", self.tokenizer.eos_token_id)
            kwargs.setdefault("pad_token_id", self.tokenizer.pad_token_id)
        elif eos is not None:
            kwargs.setdefault("pad_token_id", eos if isinstance(eos, int) else eos[0])
        return self.internvl.generate(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                      max_new_tokens=max_new_tokens or self.config.max_new_tokens, **kwargs)

    def eos_token_ids(self) -> list[int]:
        """Token ids that end an answer: the tokenizer's EOS, else the generation config's."""
        if self.tokenizer is not None and self.tokenizer.eos_token_id is not None:
            return [self.tokenizer.eos_token_id]
        eos = self.base.generation_config.eos_token_id
        return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)

    @torch.inference_mode()
    def prefill(self, inputs_embeds: torch.Tensor):
        """KV cache of a prompt prefix ``[1, L, d_v]`` (no LM head: a follow-up only needs the keys and values)."""
        self._check_language_layers()
        return self.base.model.language_model(inputs_embeds=inputs_embeds, use_cache=True).cache

    @torch.inference_mode()
    def greedy_decode(self, inputs_embeds: torch.Tensor, cache=None, max_new_tokens: int | None = None,
                      min_new_tokens: int = 0, should_stop: Callable[[torch.Tensor], bool] | None = None
                      ) -> torch.Tensor:
        """Greedy decoding of one sequence ``[1, L, d_v]`` that follows ``cache`` (a prefix KV cache, or None).

        The same tokens as ``generate_from_embeds`` (tested) without ``generate()``'s per-step machinery: the
        language model and LM head are called directly. ``cache`` is extended in place (crop it back to reuse it).
        ``should_stop(ids [1, T])`` is asked after every token. Returns the new ids ``[1, T]``, EOS included.
        """
        self._check_language_layers()
        language_model, lm_head = self.base.model.language_model, self.base.lm_head
        embed_tokens = self.base.get_input_embeddings()
        eos = torch.tensor(self.eos_token_ids(), dtype=torch.long, device=inputs_embeds.device)
        new = torch.empty((1, 0), dtype=torch.long, device=inputs_embeds.device)
        x = inputs_embeds
        for step in range(max_new_tokens or self.config.max_new_tokens):
            out = language_model(inputs_embeds=x, cache=cache, use_cache=True)
            cache = out.cache
            logits = lm_head(out.last_hidden_state[:, -1])  # [1, vocab]
            if step < min_new_tokens and eos.numel():
                logits[:, eos] = float("-inf")
            token = logits.argmax(-1, keepdim=True)  # [1, 1]
            new = torch.cat([new, token], dim=1)
            if bool(torch.isin(token, eos).any()) or (should_stop is not None and should_stop(new)):
                break
            x = embed_tokens(token)
        return new

    def drop_language_layers(self) -> None:
        """Free the LLM's decoder layers, final norm and LM head (about 14 of 15 GB at 8B in bf16) when another
        process runs them (``llm_backend: vllm``): the token embeddings stay, since prompts are embedded here.
        Merges LoRA first so nothing unmerged is left half-dropped; ``prefill`` and the decoders then raise. The
        model loads whole first: the peak before this is the full model's."""
        self.merge_lora()
        language_model = self.base.model.language_model
        language_model.layers = nn.ModuleList()
        language_model.norm = nn.Identity()
        self.base.lm_head = nn.Identity()
        self.language_layers_dropped = True
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # hand the freed blocks back, e.g. to a vLLM server on the same GPU

    def _check_language_layers(self) -> None:
        if self.language_layers_dropped:
            raise RuntimeError("the language model's layers were dropped (llm_backend vllm): it runs on the server")

    @staticmethod
    def split_cache(cache, index: int):
        """Sequence ``index`` of a batch KV cache as a cache of its own (copied: the batch cache grows on)."""
        from transformers import DynamicCache

        return DynamicCache([(layer.keys[index:index + 1].clone(), layer.values[index:index + 1].clone())
                             for layer in cache.layers])

    @torch.inference_mode()
    def greedy_decode_batch(self, prompts: list[torch.Tensor], max_new_tokens: list[int], min_new_tokens: int = 0,
                            should_stop: list[Callable[[torch.Tensor], bool] | None] | None = None,
                            cache=None, on_finished: Callable[[int, torch.Tensor], None] | None = None
                            ) -> list[torch.Tensor]:
        """Greedy decoding of B prompts ``[1, L_i, d_v]`` at once, each after row i of ``cache`` (a batch KV cache
        of equal-length prefixes ``[B, ..., P, ...]``, or None). Prompts are left-padded to the longest (between
        prefix and prompt when there is a cache), masked, and positioned by each sequence's own tokens, so each
        sequence computes what it computes alone. A sequence stops at EOS, ``should_stop[i]`` or its own
        ``max_new_tokens[i]`` (asked in that order, as in ``greedy_decode``), and ``on_finished(i, ids [1, T_i])``
        hears of it at once; the batch runs while one is left. ``cache`` grows in place. Returns each sequence's
        new ids ``[1, T_i]``, EOS included."""
        self._check_language_layers()
        language_model, lm_head = self.base.model.language_model, self.base.lm_head
        embed_tokens = self.base.get_input_embeddings()
        first = prompts[0]
        lengths = [p.shape[1] for p in prompts]
        width = max(lengths)
        past = cache.get_seq_length() if cache is not None else 0
        x = first.new_zeros((len(prompts), width, first.shape[-1]))
        mask = torch.ones((len(prompts), past + width), dtype=torch.long, device=first.device)
        for i, p in enumerate(prompts):
            x[i, width - lengths[i]:] = p[0]
            mask[i, past:past + width - lengths[i]] = 0
        positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, past:]
        eos = torch.tensor(self.eos_token_ids(), dtype=torch.long, device=first.device)
        new: list[list[torch.Tensor]] = [[] for _ in prompts]
        done = [False] * len(prompts)
        should_stop = should_stop or [None] * len(prompts)
        for step in range(max(max_new_tokens)):
            out = language_model(inputs_embeds=x, attention_mask=mask, position_ids=positions, cache=cache,
                                 use_cache=True)
            cache = out.cache
            logits = lm_head(out.last_hidden_state[:, -1])  # [B, vocab]
            if step < min_new_tokens and eos.numel():
                logits[:, eos] = float("-inf")
            tokens = logits.argmax(-1, keepdim=True)  # [B, 1]
            for i in range(len(prompts)):
                if done[i]:
                    continue
                new[i].append(tokens[i])
                ids = torch.cat(new[i])[None]
                done[i] = bool(torch.isin(tokens[i], eos).any()) \
                    or (should_stop[i] is not None and should_stop[i](ids)) or len(new[i]) >= max_new_tokens[i]
                if done[i] and on_finished is not None:
                    on_finished(i, ids)
            if all(done):
                break
            x = embed_tokens(tokens)
            mask = torch.cat([mask, mask.new_ones((len(prompts), 1))], dim=1)
            positions = positions[:, -1:] + 1
        return [torch.cat(ids)[None] for ids in new]

    @property
    def lora_merged(self) -> bool:
        from peft.tuners.tuners_utils import BaseTunerLayer

        return any(m.merged for m in self.internvl.modules() if isinstance(m, BaseTunerLayer))

    def merge_lora(self) -> None:
        """Fold the LoRA deltas into the LLM weights for inference (no adapter matmuls per token)."""
        if self.internvl is not self.base and not self.lora_merged:
            self.internvl.merge_adapter()

    def unmerge_lora(self) -> None:
        """Undo ``merge_lora`` (before training); the weights come back up to float rounding."""
        if self.lora_merged:
            self.internvl.unmerge_adapter()

    # -- checkpoints -----------------------------------------------------------------------------------------------
    def base_state_dict(self) -> dict[str, torch.Tensor]:
        """InternVL weights under their transformers names, without the LoRA layers peft injected."""
        if self.lora_merged:  # unmerging is not exact (W + BA - BA), so merged weights are never written as base
            raise RuntimeError("the LoRA deltas are merged into the base weights; save the encoders before "
                               "merge_lora(), or call unmerge_lora() and accept float rounding")
        state = {}
        for name, tensor in self.base.state_dict().items():
            if ".lora_" in name:
                continue
            state[name.replace(".base_layer.", ".")] = tensor
        return state

    def save_pretrained(self, folder: str | Path, save_encoders: bool = False) -> None:
        """Write ``spacemind_config.json``, ``cgmf.safetensors`` and ``lora/`` (peft format).

        ``save_encoders`` also writes ``internvl/`` (transformers layout + tokenizer) and ``vggt/`` so the folder is
        self-contained (the tiny preset); for the 8B model the config records where the base checkpoints are.
        """
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.cgmf.state_dict().items()}, str(folder / CGMF_WEIGHTS))
        if self.config.lora is not None and self.internvl is not self.base:
            self.internvl.save_pretrained(str(folder / LORA_FOLDER))
        config = dataclasses.replace(self.config)
        if save_encoders:
            self.base.save_pretrained(str(folder / "internvl"), state_dict=self.base_state_dict())
            if self.tokenizer is not None:
                self.tokenizer.save_pretrained(str(folder / "internvl"))
            self.vggt.save_pretrained(folder / "vggt")
            config.internvl_path, config.vggt_path = "internvl", "vggt"
        config.save(folder)

    @classmethod
    def from_pretrained(cls, folder: str | Path, internvl_path: str | Path | None = None,
                        vggt_path: str | Path | None = None, runtime=None) -> "SpaceMindModel":
        """Assemble from local folders: InternVL3-hf checkpoint, VGGT checkpoint, SpaceMind folder (config, CGMF,
        LoRA). Paths default to the ones recorded in the config (relative to ``folder``).

        ``runtime`` (spacemind_ros.runtime.RuntimeSettings; default CPU float32) decides placement. Nothing is
        staged twice: InternVL loads straight onto the device in the serving dtype (the checkpoint's own dtype is
        not used), VGGT's file is memory-mapped and its float32 weights copied to the device once.
        """
        from spacemind_ros.runtime import RuntimeSettings

        runtime = runtime or RuntimeSettings.resolve("cpu", "float32")
        t0 = time.perf_counter()
        folder = Path(folder)
        config = SpaceMindConfig.load(folder)
        internvl_dir = _resolve(folder, internvl_path, config.internvl_path, "InternVL3 checkpoint")
        vggt_dir = _resolve(folder, vggt_path, config.vggt_path, "VGGT checkpoint")
        internvl, tokenizer = load_internvl(internvl_dir, dtype=runtime.dtype, device=runtime.device)
        t_internvl = time.perf_counter() - t0
        vggt = VGGT.from_pretrained(vggt_dir, config=config.vggt, device=runtime.device, dtype=torch.float32)
        with torch.device(runtime.device):  # CGMF's fresh weights are made where they will live, then loaded
            model = cls(config, internvl=internvl, vggt=vggt, tokenizer=tokenizer, lora=False)
        model.config.internvl_path, model.config.vggt_path = str(internvl_dir), str(vggt_dir)
        _load_cgmf(model.cgmf, folder / CGMF_WEIGHTS)
        if config.lora is not None:
            lora_dir = folder / LORA_FOLDER
            if not (lora_dir / "adapter_config.json").is_file():
                raise CheckpointError(f"{lora_dir}/adapter_config.json is missing (config asks for LoRA; "
                                      f"expected a peft adapter folder with adapter_model.safetensors)")
            from peft import PeftModel

            try:
                model.internvl = PeftModel.from_pretrained(model.internvl, str(lora_dir), is_trainable=True)
            except Exception as exc:  # noqa: BLE001
                raise CheckpointError(f"cannot load the LoRA adapter in {lora_dir}: {exc}") from exc
        model.place(runtime)  # CGMF and the adapters into the serving dtype; the rest is already there
        log.info("loaded SpaceMind from %s on %s in %.1f s (InternVL %.1f s): %s", folder, runtime.describe(),
                 time.perf_counter() - t0, t_internvl, memory_report(runtime.device))
        return model


def memory_report(device: torch.device) -> str:
    """Process peak RSS and, on CUDA, allocated / peak device memory (GB)."""
    import resource

    text = f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6:.2f} GB"
    if device.type == "cuda":
        text += (f", CUDA allocated {torch.cuda.memory_allocated(device) / 1e9:.2f} GB"
                 f" (peak {torch.cuda.max_memory_allocated(device) / 1e9:.2f} GB)")
    return text


def _resolve(folder: Path, explicit, recorded, what: str) -> Path:
    path = explicit if explicit is not None else recorded
    if path is None:
        raise CheckpointError(f"no {what} given and {folder / 'spacemind_config.json'} records none")
    path = Path(path)
    if not path.is_absolute() and explicit is None:
        path = folder / path
    if not path.exists():
        raise CheckpointError(f"{what} {path} does not exist")
    return path


def load_internvl(path: str | Path, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"):
    """InternVL3-hf folder -> (InternVLForConditionalGeneration, tokenizer), offline, in ``dtype`` on ``device``
    (loaded there directly: an 8B checkpoint is never staged in CPU memory first)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path}/config.json is missing: expected an InternVL3-*-hf checkpoint folder")
    try:
        config = InternVLConfig.from_pretrained(str(path), local_files_only=True)
        if "tie_word_embeddings" not in json.loads((path / "config.json").read_text()):
            # The hub's InternVL3-hf configs set the flag only inside text_config (false for Qwen2.5-7B), and
            # InternVLConfig's own default is true: take the language model's, or its head could be tied.
            config.tie_word_embeddings = config.text_config.tie_word_embeddings
        model, info = InternVLForConditionalGeneration.from_pretrained(
            str(path), config=config, local_files_only=True, dtype=dtype, output_loading_info=True,
            device_map=None if torch.device(device).type == "cpu" else {"": str(device)})
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - transformers raises many kinds; name the folder
        raise CheckpointError(f"cannot load InternVL3 from {path}: {type(exc).__name__}: {exc}") from exc
    # transformers only warns about missing weights and initialises them at random: refuse instead.
    for kind in ("missing_keys", "mismatched_keys"):
        bad = sorted(info.get(kind) or [])
        if bad:
            raise CheckpointError(f"InternVL3 checkpoint {path}: {len(bad)} {kind.replace('_', ' ')}, first {bad[0]!r}")
    return model.eval(), tokenizer


def _load_cgmf(cgmf: CGMF, path: Path) -> None:
    from safetensors.torch import load_file

    if not path.is_file():
        raise CheckpointError(f"{path} is missing: expected the CGMF weights (safetensors)")
    try:
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(f"cannot read CGMF weights {path}: {type(exc).__name__}: {exc}") from exc
    load_strict_subset(cgmf, state, source=str(path), ignore_prefixes=())
