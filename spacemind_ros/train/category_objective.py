"""The category stage: InternViT (+ projector) learns what each visual token shows, from the renderer's own labels.

A scene bag carries ``/camera/semantic`` (per pixel a SEMANTIC_CLASSES id: floor, ceiling, wall, then the object
categories). A visual token covers one cell of a ``g x g`` grid over the (stretched) frame, row-major, g =
sqrt(tokens per frame) (pixel shuffle keeps that order); its target is the share of each class among the cell's
pixels. A linear head on the projected tokens (``[N, M, d_v] -> [N, M, classes]``) is trained with the soft
cross-entropy against those shares. The head exists only during this stage: the served model never has it.

With the ``words`` head, the head's rows are the LLM's own input embeddings of the class names, fixed, and a token's
logits are its cosine to each (times a learnt scale, plus a learnt bias): InternViT and the projector learn to put a
chair's tokens where the LLM keeps the word " chair", as LLaVA's first stage aligns its projector to the LLM's words
(the LLM's first layer norm sees only a token's direction, so the direction is what is aligned).

A sample is ``frames`` views of one scene's bag, spread over the walk (a seeded draw per epoch), as in the geometry
stage.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spacemind_ros.train.config import CATEGORY_HEADS
from spacemind_ros.train.geometry_objective import SceneViewsDataset
from spacemind_ros.train.token_head import TokenHeadLoss

IMAGE_TOPIC, SEMANTIC_TOPIC = "/camera/image_raw", "/camera/semantic"
FIRST_OBJECT_CLASS = 3  # SEMANTIC_CLASSES: floor, ceiling, wall, then the object categories
WORD_SCALE = 10.0  # initial logit scale of the words head: cosines span [-1, 1]


def num_classes() -> int:
    from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES

    return len(SEMANTIC_CLASSES)


def class_word_embeddings(model, tokenizer) -> torch.Tensor:
    """``[classes, d]`` float32: each class name's mean LLM input embedding, over its tokens as they follow a space
    in a question (" trash can" is two)."""
    from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES

    table = model.base.get_input_embeddings().weight
    rows = [table[tokenizer(" " + name, add_special_tokens=False)["input_ids"]].float().mean(0)
            for name in SEMANTIC_CLASSES]
    return torch.stack(rows).detach()


def read_labelled_views(bag: str | Path, picks: Sequence[int] | Callable[[int], Sequence[int]],
                        until_ns: int | None = None):
    """``[(rgb [H, W, 3] uint8, classes [H, W] uint8)]`` for ``picks`` (indices of the image messages logged at or
    before ``until_ns``, or a function of their count). ValueError naming the bag when it has no semantic topic or a
    frame lacks its label."""
    from rosbags.highlevel import AnyReader

    from spacemind_ros.images import image_msg_to_array, image_msg_to_rgb8

    with AnyReader([Path(bag)]) as reader:
        conns = {c.topic: c for c in reader.connections if c.topic in (IMAGE_TOPIC, SEMANTIC_TOPIC)}
        if SEMANTIC_TOPIC not in conns or IMAGE_TOPIC not in conns:
            raise ValueError(f"{bag}: no {SEMANTIC_TOPIC} (generate the scenes again: spacemind-scenes writes it "
                             "since generator version 2)")
        stamps = [ts for _, ts, _ in reader.messages(connections=[conns[IMAGE_TOPIC]])
                  if until_ns is None or ts <= until_ns]
        picks = picks(len(stamps)) if callable(picks) else picks
        keep = {stamps[i] for i in picks}
        got: dict[str, dict[int, object]] = {IMAGE_TOPIC: {}, SEMANTIC_TOPIC: {}}
        for conn, ts, raw in reader.messages(connections=list(conns.values())):
            if ts in keep:
                got[conn.topic][ts] = reader.deserialize(raw, conn.msgtype)
    views = []
    for ts in (stamps[i] for i in picks):
        if ts not in got[SEMANTIC_TOPIC]:
            raise ValueError(f"{bag}: the frame at {ts} ns has no semantic label")
        label = got[SEMANTIC_TOPIC][ts]
        views.append((image_msg_to_rgb8(got[IMAGE_TOPIC][ts]),
                      np.asarray(image_msg_to_array(label), np.uint8).reshape(label.height, label.width)))
    return views


def token_targets(classes: np.ndarray, grid: int, n_classes: int) -> torch.Tensor:
    """``[H, W]`` class ids -> ``[grid * grid, n_classes]`` class shares per token cell (row-major; cells split
    the frame into equal fractions, as the square resize for InternViT stretches it)."""
    # A label map smaller than the grid is repeated first (nearest upscaling), so every cell has pixels.
    classes = np.repeat(np.repeat(classes, -(-grid // classes.shape[0]), 0), -(-grid // classes.shape[1]), 1)
    h, w = classes.shape
    rows = (np.arange(h) * grid // h)[:, None]
    cols = (np.arange(w) * grid // w)[None, :]
    cell = (rows * grid + cols).ravel()
    counts = np.zeros((grid * grid, n_classes), np.float32)
    np.add.at(counts, (cell, classes.ravel().astype(np.int64)), 1.0)
    return torch.from_numpy(counts / counts.sum(1, keepdims=True))


def token_grid(tokens_per_frame: int) -> int:
    """The side of the square grid of token cells a frame's visual tokens cover (4 for 16 tokens)."""
    grid = int(round(tokens_per_frame ** 0.5))
    if grid * grid != tokens_per_frame:
        raise ValueError(f"{tokens_per_frame} tokens a frame is not a square grid")
    return grid


class CategoryDataset(SceneViewsDataset):
    """``{"pixels": [S, 3, V, V], "targets": [S, M, classes]}`` per scene and epoch draw."""

    def __init__(self, bags: list[str], processor, tokens_per_frame: int, frames: int = 8, seed: int = 0):
        super().__init__(bags, processor, frames, seed)
        self.grid = token_grid(tokens_per_frame)
        self.classes = num_classes()

    def sample(self, bag: str, picks: Callable[[int], Sequence[int]]) -> dict:
        views = read_labelled_views(bag, picks)
        return {"pixels": torch.stack([self.processor.internvl_pixels(rgb) for rgb, _ in views]),
                "targets": torch.stack([token_targets(c, self.grid, self.classes) for _, c in views])}


class CategoryLoss(TokenHeadLoss):
    """The category stage's head on the projected visual tokens: soft cross-entropy against each token's class shares;
    scored by the object tokens whose commonest class it names. ``head``: ``linear`` (learnt) or ``words`` (the
    LLM's class-name embeddings, fixed; needs ``tokenizer``)."""

    def __init__(self, model, head: str = "linear", tokenizer=None):
        if head not in CATEGORY_HEADS:
            raise ValueError(f"category head {head!r}: choose from {', '.join(CATEGORY_HEADS)}")
        d_v = model.base.config.text_config.hidden_size  # the projector's output width
        super().__init__(model, d_v, num_classes(), next(model.parameters()).device)
        self.scale = None
        if head == "words":
            if tokenizer is None:
                raise ValueError("the words head needs the model's tokenizer")
            with torch.no_grad():
                self.head.weight.copy_(F.normalize(class_word_embeddings(model, tokenizer), dim=-1))
            self.head.weight.requires_grad_(False)
            self.scale = nn.Parameter(torch.tensor(WORD_SCALE, device=self.head.weight.device))

    def predict(self, sample: dict) -> torch.Tensor:
        tokens = self.model.visual_tokens(sample["pixels"]).to(self.head.weight.dtype)
        if self.scale is not None:  # cosine to each class word
            tokens = self.scale * F.normalize(tokens, dim=-1)
        return self.head(tokens)

    def sample_loss(self, pred: torch.Tensor, sample: dict) -> torch.Tensor:
        return soft_cross_entropy(pred, sample["targets"].to(pred.device))

    def sample_score(self, pred: torch.Tensor, sample: dict) -> tuple[int, int]:
        """(object tokens whose class the head names, object tokens): tokens whose commonest class is an object
        category (floor, ceiling and wall would make a constant guess look good)."""
        truth = sample["targets"].argmax(-1)
        objects = truth >= FIRST_OBJECT_CLASS
        return int((pred.argmax(-1).cpu() == truth)[objects].sum()), int(objects.sum())


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over tokens of ``-sum_c p_c log softmax(logits)_c``."""
    return -(targets * F.log_softmax(logits.float(), dim=-1)).sum(-1).mean()
