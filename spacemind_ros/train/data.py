"""Dataset, data order and collation. A sample is the question's prompt exactly as the node serves it (processor +
``build_question_text``), the answer tokens and ``<|im_end|>`` (labels: answer tokens only, -100 elsewhere), and
the sampled frames' encoder inputs, or the encoder cache's outputs. Unreadable samples come back as
:class:`Skipped` (never an exception), so one bad file cannot stop an epoch."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from spacemind_ros.pipeline.frame_window import WindowConfig
from spacemind_ros.train.encoder_cache import EncoderCache
from spacemind_ros.train.media import FrameCache, sampled_frames
from spacemind_ros.train.records import QARecord

IGNORE = -100


@dataclass
class Skipped:
    id: str
    file: str
    reason: str


def sampling_config(sample_frames: int = 34, drop_ends: int = 1, min_frames: int = 4) -> WindowConfig:
    """The node's sampler settings (34 uniformly, ends dropped -> 32) for offline videos."""
    return WindowConfig(sample_frames=sample_frames, drop_ends=drop_ends, min_frames=min_frames)


def tokenize_sample(processor, num_frames: int, record: QARecord) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids [L], labels [L]): the serving prompt for ``num_frames`` frames + answer + ``<|im_end|>``; then each
    follow-up turn in ChatML (``\n<|im_start|>user\n`` question ``<|im_end|>\n<|im_start|>assistant\n``) and its
    answer. Labels cover the answers (and their ``<|im_end|>``) only."""
    tok = processor.tokenizer
    end = tok.convert_tokens_to_ids("<|im_end|>")

    def text(t: str, plain: bool = True) -> list[int]:  # user and answer text: special-token strings stay text
        return tok(t, add_special_tokens=False, split_special_tokens=plain)["input_ids"]

    ids = processor.encode(num_frames, record.prompt_text).input_ids[0].tolist()
    labels = [IGNORE] * len(ids)
    for k, turn in enumerate(record.turns):
        if k:
            asked = text("\n<|im_start|>user\n", plain=False) + text(turn.prompt_text) + \
                text("<|im_end|>\n<|im_start|>assistant\n", plain=False)
            ids, labels = ids + asked, labels + [IGNORE] * len(asked)
        answer = text(turn.answer) + [end]
        ids, labels = ids + answer, labels + answer
    return torch.tensor(ids, dtype=torch.long), torch.tensor(labels, dtype=torch.long)


BLANK_GREY = 128  # the VSI-Bench blind test's grey, as spacemind-eval run --perturb blind


class QADataset(Dataset):
    def __init__(self, records: list[QARecord], processor, sampling: WindowConfig,
                 cache: EncoderCache | None = None, frame_cache: FrameCache | None = None, blank: bool = False,
                 word_targets=None):
        self.records, self.processor, self.sampling, self.cache = records, processor, sampling, cache
        self.frame_cache, self.blank = frame_cache, blank
        self.word_targets = word_targets  # visual_words.SampledTokenTargets, or None (bags only)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict | Skipped:
        rec = self.records[i]
        try:
            item = {"index": i, "id": rec.id, "file": rec.media}
            key = self.cache.key(rec, self.sampling) if self.cache is not None else None
            cached = self.cache.load(key) if key is not None else None
            if cached is not None:
                item.update(cached)
                n = cached["visual"].shape[0]
            else:
                frames = sampled_frames(rec.media_kind, rec.media, self.sampling, rec.topic, rec.until_ns,
                                        self.frame_cache)
                n = len(frames)
                if self.blank:  # the blind twin: the frames' count and size, none of their content
                    frames = [np.full_like(f, BLANK_GREY) for f in frames]
                item["pixel_values"] = torch.stack([self.processor.internvl_pixels(f) for f in frames])
                item["vggt_pixels"] = self.processor.vggt_pixels(frames)
                item["cache_key"] = key
            item["input_ids"], item["labels"] = tokenize_sample(self.processor, n, rec)
            if self.word_targets is not None:
                item["word_targets"] = self._word_targets(rec, item["input_ids"])
            return item
        except Exception as exc:  # noqa: BLE001 - any unreadable media is one skipped sample, named
            return Skipped(rec.id, rec.media, f"{type(exc).__name__}: {exc}")

    def _word_targets(self, rec: QARecord, input_ids: torch.Tensor) -> torch.Tensor:
        """``[image tokens, classes]``: the sampled frames' token class shares (visual_words), zeros where the
        record has none (not a scene bag's image topic) or they do not fit its image tokens."""
        from spacemind_ros.train.category_objective import IMAGE_TOPIC

        tokens = int((input_ids == self.processor.image_token_id).sum())
        targets = None
        if rec.media_kind == "bag" and rec.topic in (None, IMAGE_TOPIC):
            targets = self.word_targets(rec.media, self.sampling, rec.until_ns)  # [N, M, classes] or None
        if targets is None or targets.shape[0] * targets.shape[1] != tokens:
            return self.word_targets.empty(tokens)
        return targets.flatten(0, 1)


class Collator:
    """Right-pads ``input_ids`` / ``labels`` to the longest sample; keeps per-sample frame tensors in lists (frame
    counts may differ). Skipped samples go to ``batch['skipped']``."""

    def __init__(self, pad_token_id: int):
        self.pad = pad_token_id

    def __call__(self, items: list) -> dict:
        good = [x for x in items if isinstance(x, dict)]
        batch = {"skipped": [x for x in items if isinstance(x, Skipped)], "samples": good}
        if not good:
            return batch
        length = max(len(x["input_ids"]) for x in good)
        ids = torch.full((len(good), length), self.pad, dtype=torch.long)
        labels = torch.full((len(good), length), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(good), length), dtype=torch.long)
        for r, x in enumerate(good):
            n = len(x["input_ids"])
            ids[r, :n], labels[r, :n], mask[r, :n] = x["input_ids"], x["labels"], 1
        batch.update(input_ids=ids, labels=labels, attention_mask=mask)
        if "word_targets" in good[0]:  # [tokens, classes], in the order the image tokens are filled
            batch["word_targets"] = torch.cat([x["word_targets"] for x in good])
        return batch


class EpochSampler(Sampler[int]):
    """This rank's sample order for one epoch: a permutation seeded by (seed, epoch), padded to a multiple of the
    world size, dealt round-robin (rank r gets positions r, r + W, ...). ``start`` skips the samples this rank
    already consumed (resume). Draws nothing from the global RNG."""

    def __init__(self, size: int, world_size: int = 1, rank: int = 0, seed: int = 0, shuffle: bool = True):
        self.size, self.world_size, self.rank, self.seed, self.shuffle = size, world_size, rank, seed, shuffle
        self.epoch = self.start = 0

    @property
    def per_rank(self) -> int:
        return math.ceil(self.size / self.world_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            perm = torch.randperm(self.size, generator=g).tolist()
        else:
            perm = list(range(self.size))
        total = self.per_rank * self.world_size
        perm += perm[: total - len(perm)]
        return perm[self.rank::self.world_size]

    def __iter__(self):
        return iter(self.order()[self.start:])

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)
