"""The category stage: scene bags carry the renderer's per-pixel classes, tokens get class shares per grid cell, and
InternViT learns them through a head that never reaches the served model."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spacemind_ros.scenes.bag import IMAGE_TOPIC, SEMANTIC_TOPIC, read_messages
from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES, semantic_class
from spacemind_ros.train.category_objective import read_labelled_views, token_targets
from spacemind_ros.train.config import load_config
from spacemind_ros.train.trainer import Trainer


@pytest.fixture
def scene(synth_scene):
    return synth_scene


def test_token_targets_by_hand():
    classes = np.array([[0, 0, 5, 5],
                        [0, 2, 5, 5],
                        [2, 2, 2, 2],
                        [2, 2, 3, 3]], np.uint8)
    t = token_targets(classes, 2, 6)
    assert t.shape == (4, 6)
    assert t[0].tolist() == [0.75, 0, 0.25, 0, 0, 0]  # top-left cell: three floor, one wall
    assert t[1].tolist() == [0, 0, 0, 0, 0, 1.0]  # top-right: class 5 only
    assert t[2].tolist() == [0, 0, 1.0, 0, 0, 0]
    assert t[3].tolist() == [0, 0, 0.5, 0.5, 0, 0]  # row-major, as pixel shuffle orders the tokens
    uneven = token_targets(np.arange(15, dtype=np.uint8).reshape(3, 5) % 3, 4, 3)  # cells of unequal size
    assert torch.allclose(uneven.sum(1), torch.ones(16))


def test_scene_bag_semantic_labels_match_the_objects_drawn(scene):
    info = json.loads((scene / "synth" / "scene.json").read_text())
    labels = list(read_messages(scene / "synth" / "bag", SEMANTIC_TOPIC))
    images = list(read_messages(scene / "synth" / "bag", IMAGE_TOPIC))
    assert len(labels) == len(images) == 12 and [s for s, _ in labels] == [s for s, _ in images]
    msg = labels[0][1]
    assert msg.encoding == "mono8" and (msg.height, msg.width) == (48, 64)
    seen = np.zeros(len(SEMANTIC_CLASSES), np.int64)
    for _, m in labels:
        seen += np.bincount(np.frombuffer(bytes(m.data), np.uint8), minlength=len(SEMANTIC_CLASSES))
    assert seen[0] > 0 and seen[2] > 0  # floor and walls are everywhere in a walk
    drawn = {semantic_class(o["category"]) for o in info["objects"] if str(o["index"]) in info["seen"]}
    shown = {c for c in range(3, len(SEMANTIC_CLASSES)) if seen[c]}
    assert drawn <= shown and shown <= {semantic_class(o["category"]) for o in info["objects"]}
    views = read_labelled_views(scene / "synth" / "bag", [0, 11])
    assert len(views) == 2 and views[0][0].shape == (48, 64, 3) and views[0][1].shape == (48, 64)


def test_category_stage_learns_and_the_head_stays_out_of_the_checkpoint(scene, tmp_path):
    data = f"[{{format: scenes, path: '{scene / 'q.jsonl'}'}}]"
    config = load_config(None, [
        "model.preset=small", "model.trainable=[vision]", "model.cgmf_variant=none", "train.objective=category",
        "train.geometry_frames=4", f"data.train={data}", f"data.eval={data}", "train.global_batch=1",
        "train.max_steps=12", "train.lr=3e-3", "train.warmup_ratio=0", f"output.dir='{tmp_path}'",
        "output.progress_bar=false", "output.tensorboard=false"])
    trainer = Trainer(config)
    head = trainer.loss_module.head
    assert any(p is head.weight for p in trainer.trainable)  # the head trains beside InternViT
    before = trainer.evaluate()
    summary = trainer.fit()
    assert summary["steps"] == 12 and summary["skipped"] == 0
    assert summary["eval_loss"] < before  # the same held-out views, learnt
    assert summary["eval_score"] is not None and 0.0 <= summary["eval_score"] <= 1.0
    saved = load_file(str(tmp_path / "final" / "internvl" / "model.safetensors"))
    assert not any("head" in k and "lm_head" not in k for k in saved)  # only InternVL's own keys
    assert not (tmp_path / "final" / "category_head.safetensors").exists()


def test_the_words_head_is_the_llms_class_names_and_the_tokens_learn_towards_them(scene, tmp_path):
    data = f"[{{format: scenes, path: '{scene / 'q.jsonl'}'}}]"
    config = load_config(None, [
        "model.preset=small", "model.trainable=[vision]", "model.cgmf_variant=none", "train.objective=category",
        "train.category_head=words", "train.geometry_frames=4", f"data.train={data}", f"data.eval={data}",
        "train.global_batch=1", "train.max_steps=12", "train.lr=3e-3", "train.warmup_ratio=0",
        f"output.dir='{tmp_path}'", "output.progress_bar=false", "output.tensorboard=false"])
    trainer = Trainer(config)
    loss, tok = trainer.loss_module, trainer.processor.tokenizer
    table = trainer.model.base.get_input_embeddings().weight.detach().float()
    chair = SEMANTIC_CLASSES.index("chair")
    (word,) = tok(" chair", add_special_tokens=False)["input_ids"]
    assert torch.allclose(loss.head.weight[chair], table[word] / table[word].norm(), atol=1e-6)
    two = tok(" trash can", add_special_tokens=False)["input_ids"]
    assert len(two) == 2  # a two-word class is the mean of its words
    mean = table[two].mean(0)
    assert torch.allclose(loss.head.weight[SEMANTIC_CLASSES.index("trash can")], mean / mean.norm(), atol=1e-6)
    # A token pointing where the LLM keeps " chair", at any length, is called a chair.
    real = trainer.model.visual_tokens
    trainer.model.visual_tokens = lambda pixels: 37.0 * table[word].expand(len(pixels), 16, -1)
    assert (loss.predict({"pixels": torch.zeros(2, 3, 112, 112)}).argmax(-1) == chair).all()
    trainer.model.visual_tokens = real
    assert not loss.head.weight.requires_grad and all(p is not loss.head.weight for p in trainer.trainable)
    assert any(p is loss.scale for p in trainer.trainable) and set(trainer.heads) == {"head.bias", "scale"}
    loss(None).backward()  # a rank whose batch was all skipped still touches every trainable weight, head's included
    assert float(loss.scale.grad) == 0 and loss.head.bias.grad is not None and loss.head.weight.grad is None
    trainer.optimizer.zero_grad(set_to_none=True)
    fixed = loss.head.weight.clone()
    vision = {n: p.detach().clone() for n, p in trainer.model.base.named_parameters() if p.requires_grad}
    before = trainer.evaluate()
    summary = trainer.fit()
    assert summary["eval_loss"] < before and torch.equal(loss.head.weight, fixed)
    after = dict(trainer.model.base.named_parameters())
    assert any("projector" in n for n in vision)  # the tokens move: every projector weight changed
    assert all(not torch.equal(after[n], v) for n, v in vision.items() if "projector" in n)
    with pytest.raises(ValueError, match="category_head 'word'"):
        load_config(None, ["train.category_head=word"])


def test_a_bag_without_semantic_labels_is_skipped_with_a_reason(tmp_path):
    from spacemind_ros.pipeline.sources import write_image_bag
    from spacemind_ros.scenes import walkthrough_frames

    write_image_bag(tmp_path / "bag", IMAGE_TOPIC, walkthrough_frames(num_frames=8, height=48, width=64))
    with pytest.raises(ValueError, match="generate the scenes again"):
        read_labelled_views(tmp_path / "bag", [0, 1])
