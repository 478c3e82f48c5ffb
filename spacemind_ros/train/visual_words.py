"""Visual words: a QA-stage auxiliary loss that makes the LLM name, at each visual token, the object its patch shows.

The small LLM starts from random weights and, after the whole QA stage, names the objects of a video no better than the
training split's commonest ones (docs/small-model.md), although a linear probe finds them in the visual tokens: it
has not learnt to read the tokens. The renderer knows what every pixel shows (``/camera/semantic``), so this loss
teaches it densely: at every visual token of a question's prompt, the LLM's hidden state after layer ``layer`` goes
through its own final norm and LM head (the logit lens), and its log-probabilities of the object words (" chair",
" trash" for trash can: the first token of each name) are scored against the token cell's object shares. Each token
counts by the share of its cell that objects cover (a cell of wall and floor counts 0), so the loss is a weighted mean
over tokens of ``-sum_c p_c log P(word_c)``. A token whose hidden state says " chair" in the LM head's words is one an
answer can copy, and one a question's " chair" can find.

The targets are the question's own sampled frames (the pipeline's sampler, as :class:`QADataset` samples them),
read from the bag once per scene and sampling (per DataLoader worker). A sample without them (media other than a
scene bag with ``/camera/semantic``, another image topic) gets all-zero shares: it trains on its answer alone.
Only tokens that show some object reach the LM head, so the loss stays small beside the answer's even where the
vocabulary is large.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

from spacemind_ros.pipeline.frame_window import WindowConfig, sample_indices
from spacemind_ros.train.category_objective import FIRST_OBJECT_CLASS, read_labelled_views, token_targets

log = logging.getLogger(__name__)


def object_word_ids(tokenizer) -> torch.Tensor:
    """``[objects]`` long: the first token of each object category's name as it follows a space in a question.
    ValueError where two names share it (their classes would merge)."""
    from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES

    names = SEMANTIC_CLASSES[FIRST_OBJECT_CLASS:]
    ids = [tokenizer(" " + name, add_special_tokens=False)["input_ids"][0] for name in names]
    if len(set(ids)) != len(ids):
        shared = sorted({n for n, i in zip(names, ids) if ids.count(i) > 1})
        raise ValueError(f"the tokenizer starts {', '.join(shared)} with the same token: the visual-words loss needs "
                         "one first token per object category")
    return torch.tensor(ids, dtype=torch.long)


class SampledTokenTargets:
    """``targets(bag, sampling, until_ns) -> [N, M, classes]`` float32 class shares of each visual token cell of the
    frames the sampler picks (``grid x grid`` cells a frame), every class of ``/camera/semantic``, or None for a bag
    without that topic (logged once); kept in memory (a few kB a scene), so each scene's bag is read once."""

    def __init__(self, grid: int, n_classes: int):
        self.grid, self.n_classes = grid, n_classes
        self._memo: dict[tuple, torch.Tensor | None] = {}
        self._lock = threading.Lock()

    def __call__(self, bag: str | Path, sampling: WindowConfig, until_ns: int | None = None) -> torch.Tensor | None:
        key = (str(bag), sampling.sample_frames, sampling.drop_ends, until_ns)
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        try:
            views = read_labelled_views(bag, lambda n: sample_indices(n, sampling), until_ns)
            targets = torch.stack([token_targets(classes, self.grid, self.n_classes) for _, classes in views])
        except ValueError as exc:  # no semantic labels: the sample trains on its answer alone
            log.warning("visual words: %s", exc)
            targets = None
        with self._lock:
            self._memo[key] = targets
        return targets

    def empty(self, tokens: int) -> torch.Tensor:
        """``[tokens, classes]`` zeros: a sample without targets (every token weighs 0)."""
        return torch.zeros(tokens, self.n_classes)


def visual_words_loss(hidden: torch.Tensor, image_mask: torch.Tensor, targets: torch.Tensor, norm, lm_head,
                      word_ids: torch.Tensor) -> torch.Tensor:
    """Weighted mean over the visual tokens of ``-sum_c p_c log P(word_c)`` (module docstring).

    hidden ``[B, L, d]`` (one LLM layer's output), image_mask ``[B, L]`` bool (the image-token positions, in the
    order the fused tokens fill them), targets ``[T, classes]`` (every class of ``/camera/semantic``, T = the image
    tokens of the batch, same order), word_ids ``[objects]`` (:func:`object_word_ids`)."""
    if int(image_mask.sum()) != targets.shape[0]:
        raise ValueError(f"{int(image_mask.sum())} image tokens in the batch but visual-words targets for "
                         f"{targets.shape[0]}")
    shares = targets.to(hidden.device)[:, FIRST_OBJECT_CLASS:]
    weight = shares.sum(-1)  # how much of the cell objects cover
    shows = weight > 0  # the others add exactly 0: they never reach the LM head
    logits = lm_head(norm(hidden[image_mask][shows])).float()
    logp = F.log_softmax(logits, dim=-1)[:, word_ids.to(hidden.device)]
    return -(shares[shows] * logp).sum() / weight.sum().clamp_min(1e-6)
