"""SpaceMind on the tiny preset (CPU) and the 8B assembly on the meta device."""
import json

import numpy as np
import pytest
import torch

from spacemind_ros.errors import CheckpointError
from spacemind_ros.model.cgmf import CGMF, CGMFConfig
from spacemind_ros.model.modeling_spacemind import SpaceMindModel
from spacemind_ros.model.presets import build_on_meta, build_tiny, spacemind_8b_config


def frames(n, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def inputs(processor, n, question="How far is the sofa from the door?"):
    fs = frames(n)
    pixel_values = torch.stack([processor.internvl_pixels(f) for f in fs])
    vggt = processor.vggt_pixels(fs)[None]
    return processor.encode(n, question).input_ids, pixel_values, vggt


@pytest.fixture(scope="module")
def tiny():
    return build_tiny(seed=0)


def perturb_trainables(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.trainable_parameters().values():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


@pytest.mark.parametrize("n", [1, 2, 8])
def test_shapes_through_the_model(tiny, n):
    model, processor = tiny
    ids, pv, vggt = inputs(processor, n)
    assert int((ids == model.image_token_id).sum()) == n * model.tokens_per_frame == n * 16
    visual = model.visual_tokens(pv)
    spatial = model.spatial_tokens(vggt)
    assert visual.shape == (n, 16, 64)
    assert spatial.patch_tokens.shape == (1, n, 16, 128) and spatial.camera_tokens.shape == (1, n, 1, 128)
    fused = model.fuse(visual, spatial)
    assert fused.shape == visual.shape
    out = model(ids, pv, vggt)
    assert out.logits.shape == (1, ids.shape[1], len(processor.tokenizer))
    new = model.generate(ids, pv, vggt, max_new_tokens=5)
    assert new.shape[0] == 1 and 1 <= new.shape[1] <= 5
    assert isinstance(processor.decode(new[0]), str)


def test_prompt_layout(tiny):
    _, processor = tiny
    text = processor.tokenizer.decode(processor.encode(2, "Where is the bed?").input_ids[0])
    ctx = "<IMG_CONTEXT>" * 16
    assert text == (f"<|im_start|>user\nFrame1: <img>{ctx}</img>\nFrame2: <img>{ctx}</img>\n"
                    "Where is the bed?<|im_end|>\n<|im_start|>assistant\n")


def test_internvl_pixels_normalisation(tiny):
    _, processor = tiny
    white = np.full((30, 50, 3), 255, np.uint8)
    tile = processor.internvl_pixels(white)
    assert tile.shape == (3, 112, 112)
    expected = (1.0 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(tile[:, 50, 50], expected)


def test_fresh_cgmf_is_identity_so_logits_equal_base_internvl(tiny):
    model, processor = tiny
    ids, pv, vggt = inputs(processor, 3)
    f_v = model.visual_tokens(pv)
    assert torch.equal(model.fuse(f_v, model.spatial_tokens(vggt)), f_v)
    with torch.no_grad():
        ours = model(ids, pv, vggt).logits
        with model.internvl.disable_adapter():
            base = model.base(input_ids=ids, pixel_values=pv).logits  # transformers' own image path
    assert torch.equal(ours, base)


def test_only_cgmf_and_lora_train():
    model, processor = build_tiny(seed=3)
    model.train()
    ids, pv, vggt = inputs(processor, 2)
    labels = ids.clone()
    labels[ids == model.image_token_id] = -100
    trainable = model.trainable_parameters()
    assert trainable and all(n.startswith("cgmf.") or ".lora_" in n for n in trainable)
    assert any(n.startswith("cgmf.") for n in trainable) and any(".lora_A." in n for n in trainable)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(trainable.values(), lr=1e-2, weight_decay=0.0)
    for _ in range(2):  # P_L and LoRA B start at zero: the second step reaches every trainable parameter
        opt.zero_grad()
        loss = model(ids, pv, vggt, labels=labels).loss
        assert torch.isfinite(loss)
        loss.backward()
        for n, p in model.named_parameters():
            assert (p.grad is None) == (n not in trainable), n
        opt.step()
    for n, p in model.named_parameters():
        changed = not torch.equal(p, before[n])
        assert changed == (n in trainable), n


LADDER = {
    "shallow": set(),
    "token_weight": {"token_weight_mlp"},
    "geometric_bias": {"token_weight_mlp", "geometric_mlp"},
    "full": {"token_weight_mlp", "geometric_mlp", "camera_proj", "gate_up", "gate_proj"},
}
SHARED = {"norm_visual", "norm_spatial", "q_proj", "k_proj", "v_proj", "out_proj", "output_proj"}


@pytest.mark.parametrize("variant", list(LADDER))
def test_ablation_switches_add_exactly_their_parameters(variant):
    cgmf = CGMF(CGMFConfig.ablation(variant, visual_dim=48, spatial_dim=40, attn_dim=16, num_heads=4))
    modules = {n.split(".")[0] for n, _ in cgmf.named_parameters()}
    assert modules == SHARED | LADDER[variant]
    f_v, f_s, f_c = torch.randn(2, 5, 48), torch.randn(2, 7, 40), torch.randn(2, 1, 40)
    assert torch.equal(cgmf(f_v, f_s, f_c), f_v)  # zero-initialised output: identity at start, every variant
    torch.nn.init.normal_(cgmf.output_proj.weight)
    assert not torch.allclose(cgmf(f_v, f_s, f_c), f_v)


def test_ablation_ladder_parameter_increments():
    dims = dict(visual_dim=48, spatial_dim=40, attn_dim=16, num_heads=4)
    counts = {v: sum(p.numel() for p in CGMF(CGMFConfig.ablation(v, **dims)).parameters()) for v in LADDER}
    weight = (40 * 4 + 4) + (4 + 1)
    bias = (80 * 16 + 16) + (16 * 32 + 32)
    gate = (40 * 16 + 16) + 2 * (16 * 48 + 48)
    assert counts["token_weight"] - counts["shallow"] == weight
    assert counts["geometric_bias"] - counts["token_weight"] == bias
    assert counts["full"] - counts["geometric_bias"] == gate
    with pytest.raises(ValueError, match="unknown CGMF variant"):
        CGMFConfig.ablation("deep")


def test_reliability_weight_ignores_the_query():
    torch.manual_seed(0)
    cgmf = CGMF(CGMFConfig.ablation("token_weight", visual_dim=8, spatial_dim=8, attn_dim=8, num_heads=2))
    s = cgmf.norm_spatial(torch.randn(1, 6, 8))
    w = torch.sigmoid(cgmf.token_weight_mlp(s))
    assert w.shape == (1, 6, 1) and ((w > 0) & (w < 1)).all()


def logits(model, processor):
    ids, pv, vggt = inputs(processor, 2)
    with torch.no_grad():
        return model(ids, pv, vggt).logits


def test_save_load_round_trip_reproduces_logits(tmp_path):
    model, processor = build_tiny(seed=5)
    perturb_trainables(model)  # non-zero CGMF output and LoRA B, so both files matter
    expected = logits(model, processor)
    model.save_pretrained(tmp_path, save_encoders=True)
    assert {p.name for p in tmp_path.iterdir()} >= {"spacemind_config.json", "cgmf.safetensors", "lora",
                                                     "internvl", "vggt"}
    assert (tmp_path / "lora" / "adapter_model.safetensors").is_file()
    again = SpaceMindModel.from_pretrained(tmp_path).eval()
    from spacemind_ros.model.processing_spacemind import SpaceMindProcessor

    again_processor = SpaceMindProcessor(again.tokenizer, again.config, again.tokens_per_frame)
    assert torch.equal(logits(again, again_processor), expected)


def test_greedy_decode_matches_transformers_generate():
    model, processor = build_tiny(seed=3)
    perturb_trainables(model)
    ids, pv, vggt = inputs(processor, 2)
    with torch.no_grad():
        embeds = model.embed(ids, model.encode_window(pv, vggt))
    for min_new in (0, 12):
        expected = model.generate_from_embeds(embeds, max_new_tokens=12, min_new_tokens=min_new)
        assert torch.equal(model.greedy_decode(embeds, max_new_tokens=12, min_new_tokens=min_new), expected)
        # after a prefix cache: the same tokens, and the cache grows by the question and the decoded tokens
        split = embeds.shape[1] - 7
        cache = model.prefill(embeds[:, :split])
        out = model.greedy_decode(embeds[:, split:], cache, max_new_tokens=12, min_new_tokens=min_new)
        assert torch.equal(out, expected)
        assert cache.get_seq_length() == embeds.shape[1] + out.shape[1] - 1
    stops = []
    out = model.greedy_decode(embeds, max_new_tokens=12, min_new_tokens=12,
                              should_stop=lambda new: stops.append(new.shape[1]) or new.shape[1] == 3)
    assert out.shape == (1, 3) and stops == [1, 2, 3]


def test_merged_lora_gives_the_same_logits_and_is_never_saved_as_base(tmp_path):
    from safetensors.torch import load_file

    model, processor = build_tiny(seed=4)
    perturb_trainables(model)
    base = {k: v.clone() for k, v in model.base_state_dict().items()}
    expected = logits(model, processor)
    model.save_pretrained(tmp_path / "unmerged")
    model.merge_lora()
    assert model.lora_merged
    assert torch.allclose(logits(model, processor), expected, atol=1e-5)
    with pytest.raises(RuntimeError, match="unmerge_lora"):
        model.save_pretrained(tmp_path / "full", save_encoders=True)
    model.save_pretrained(tmp_path / "merged")  # CGMF + LoRA files do not depend on merging
    for name in ("cgmf.safetensors", "lora/adapter_model.safetensors"):
        a, b = load_file(tmp_path / "unmerged" / name), load_file(tmp_path / "merged" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    model.unmerge_lora()
    assert not model.lora_merged
    assert all(torch.allclose(model.base_state_dict()[k], v, atol=1e-6) for k, v in base.items())


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("spacemind")
    model, _ = build_tiny(seed=6)
    model.save_pretrained(folder, save_encoders=True)
    return folder


def copy_folder(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda f: (f / "cgmf.safetensors").unlink(), r"cgmf.safetensors is missing: expected the CGMF weights"),
        (lambda f: (f / "cgmf.safetensors").write_bytes((f / "cgmf.safetensors").read_bytes()[:100]),
         r"cannot read CGMF weights .*cgmf.safetensors"),
        (lambda f: (f / "spacemind_config.json").unlink(), r"spacemind_config.json is missing"),
        (lambda f: (f / "spacemind_config.json").write_text("{not json"), r"not a valid SpaceMind config"),
        (lambda f: (f / "lora" / "adapter_config.json").unlink(), r"lora/adapter_config.json is missing"),
        (lambda f: (f / "vggt" / "model.safetensors").unlink(), r"no VGGT checkpoint in .*vggt"),
        (lambda f: (f / "internvl" / "config.json").unlink(), r"internvl/config.json is missing"),
    ],
)
def test_corrupt_or_missing_files_fail_clearly(saved, tmp_path, damage, match):
    folder = copy_folder(saved, tmp_path / "copy")
    damage(folder)
    with pytest.raises(CheckpointError, match=match):
        SpaceMindModel.from_pretrained(folder)


def test_cgmf_weights_with_wrong_shape_name_the_key(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_folder(saved, tmp_path / "copy")
    state = load_file(str(folder / "cgmf.safetensors"))
    state["q_proj.weight"] = torch.zeros(3, 3)
    save_file(state, str(folder / "cgmf.safetensors"))
    with pytest.raises(CheckpointError, match=r"key 'q_proj.weight' has shape \[3, 3\], expected \[32, 64\]"):
        SpaceMindModel.from_pretrained(folder)


def test_config_validation_catches_width_mismatch(saved, tmp_path):
    folder = copy_folder(saved, tmp_path / "copy")
    cfg = json.loads((folder / "spacemind_config.json").read_text())
    cfg["cgmf"]["spatial_dim"] = 100
    (folder / "spacemind_config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="spatial_dim 100 != VGGT output width 128"):
        SpaceMindModel.from_pretrained(folder)


def test_spacemind_8b_on_meta_has_expected_parameter_counts():
    model = build_on_meta(spacemind_8b_config())
    lora = sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
    internvl = sum(p.numel() for p in model.base.parameters()) - lora
    vision = sum(p.numel() for p in model.base.model.vision_tower.parameters())
    projector = sum(p.numel() for p in model.base.model.multi_modal_projector.parameters())
    assert internvl == 7_944_373_760 and abs(internvl - 7.94e9) < 0.01e9
    assert vision == 304_012_288 and projector == 27_540_480
    assert sum(p.numel() for p in model.vggt.parameters()) == 1_125_286_930
    assert sum(p.numel() for p in model.cgmf.parameters()) == 28_866_561
    assert lora == 161_480_704  # r=256 on q/k/v/o of 28 Qwen2 layers
    assert not any("vision_tower" in n for n, _ in model.named_parameters() if ".lora_" in n)
    assert model.tokens_per_frame == 256


def test_a_layer_cut_keeps_every_real_width():
    """spacemind_8b_config(layers=2), the real-width CPU run's model: only LLM layers and VGGT block pairs go."""
    model = build_on_meta(spacemind_8b_config(layers=2))
    text = model.base.config.text_config
    assert (text.num_hidden_layers, text.hidden_size, text.intermediate_size, text.num_attention_heads,
            text.num_key_value_heads, text.vocab_size) == (2, 3584, 18944, 28, 4, 151674)
    assert len(model.base.model.language_model.layers) == 2
    agg = model.vggt.aggregator
    assert len(agg.frame_blocks) == len(agg.global_blocks) == 2 and agg.camera_token.shape[-1] == 1024
    assert sum(p.numel() for p in model.base.model.vision_tower.parameters()) == 304_012_288  # InternViT uncut
    assert sum(p.numel() for p in model.cgmf.parameters()) == 28_866_561 and model.tokens_per_frame == 256
    full = build_on_meta(spacemind_8b_config())
    llm = lambda m: sum(p.numel() for n, p in m.base.model.language_model.named_parameters())  # noqa: E731
    per_layer = sum(p.numel() for p in full.base.model.language_model.layers[0].parameters())
    assert llm(full) - llm(model) == 26 * per_layer
    assert spacemind_8b_config(layers=2).vggt.dpt.layers == (0, 0, 1, 1)
    with pytest.raises(ValueError, match="layers must be 1-24"):
        spacemind_8b_config(layers=0)


def test_lora_targets_all_linear_adds_the_llm_mlp_and_nothing_of_the_vision_tower():
    """The 8B config's choice (model.lora_targets: all_linear, as InternVL's own Qwen2 LoRA fine-tuning): per layer
    r x (q 7168 + k 4096 + v 4096 + o 7168 + gate 22528 + up 22528 + down 22528) = r x 90,112, 28 layers."""
    import dataclasses

    from spacemind_ros.model.configuration_spacemind import LORA_TARGETS
    from spacemind_ros.train.config import load_config
    from spacemind_ros.train.model_setup import build_training_model

    config = spacemind_8b_config()
    config.lora = dataclasses.replace(config.lora, target_modules=LORA_TARGETS["all_linear"])
    model = build_on_meta(config)
    lora = {n: p.numel() for n, p in model.named_parameters() if ".lora_" in n}
    assert sum(lora.values()) == 28 * 256 * 90_112 == 645_922_816
    assert any(".mlp.gate_proj." in n for n in lora) and not any("vision_tower" in n for n in lora)
    assert load_config("config/train/spacemind-8b.yaml").model.lora_targets == "all_linear"
    for targets, mlp in (("all_linear", True), ("attention", False), (None, False)):
        section = load_config(None, ["model.preset=tiny"] + ([f"model.lora_targets={targets}"] if targets else [])).model
        tiny, _ = build_training_model(section, torch.device("cpu"), torch.float32)
        names = [n for n, _ in tiny.named_parameters() if ".lora_A" in n]
        assert any("q_proj" in n for n in names) and any("down_proj" in n for n in names) == mlp, targets
        assert not any("vision_tower" in n for n in names)
    with pytest.raises(ValueError, match="attention or all_linear"):
        load_config(None, ["model.lora_targets=mlp"])


def test_internvl_checkpoint_with_missing_weights_is_refused(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_folder(saved, tmp_path / "copy")
    weights = next((folder / "internvl").glob("*.safetensors"))
    state = load_file(str(weights))
    name = next(k for k in state if "lm_head" in k)
    del state[name]
    save_file(state, str(weights), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"InternVL3 checkpoint .*1 missing keys, first 'lm_head.weight'"):
        SpaceMindModel.from_pretrained(folder)
