"""Frames and questions -> model inputs: InternVL 448-px tiles, VGGT 518-px frames, the ChatML video prompt."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from spacemind_ros.model.configuration_spacemind import SpaceMindConfig
from spacemind_ros.model.vggt.preprocessing import preprocess_image, stack_images

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
IMG_START, IMG_END, IMG_CONTEXT = "<img>", "</img>", "<IMG_CONTEXT>"


@dataclass
class PromptIds:
    """Token ids of one query: ``prefix`` (chat header + frames) is shared by follow-up questions."""

    prefix: torch.Tensor  # [1, L_prefix]
    question: torch.Tensor  # [1, L_question] (question + assistant header)

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.prefix, self.question], dim=1)


class SpaceMindProcessor:
    def __init__(self, tokenizer, config: SpaceMindConfig, tokens_per_frame: int):
        self.tokenizer = tokenizer
        self.config = config
        self.tokens_per_frame = tokens_per_frame
        self._prefix_ids: dict[int, torch.Tensor] = {}  # frame count -> prefix ids [1, L_prefix]
        self._suffix_ids: torch.Tensor | None = None  # end of the user turn + assistant header [1, L_suffix]
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
        if self.image_token_id is None or self.image_token_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer has no {IMG_CONTEXT} token")

    def internvl_pixels(self, frame: np.ndarray) -> torch.Tensor:
        """One ``[H, W, 3]`` uint8 RGB frame -> one normalised tile ``[3, V, V]`` (bicubic resize, V = 448)."""
        size = self.config.vision_image_size
        tile = Image.fromarray(frame).resize((size, size), Image.Resampling.BICUBIC)
        arr = (np.asarray(tile, np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(arr.transpose(2, 0, 1).copy())

    def vggt_frame(self, frame: np.ndarray) -> torch.Tensor:
        """One RGB frame -> ``[3, H, W]`` uint8 at VGGT's size (crop/pad rules at ``vggt_image_size``); cacheable."""
        return preprocess_image(frame, mode=self.config.vggt_preprocess_mode, target_size=self.config.vggt_image_size)

    @staticmethod
    def vggt_batch(vggt_frames: Sequence[torch.Tensor]) -> torch.Tensor:
        """``vggt_frame`` outputs -> ``[N, 3, H, W]`` float in [0, 1]."""
        return stack_images(vggt_frames)

    def vggt_pixels(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """``N`` RGB frames -> ``[N, 3, H, W]`` in [0, 1] (VGGT crop/pad rules at ``vggt_image_size``)."""
        return self.vggt_batch([self.vggt_frame(f) for f in frames])

    def frames_text(self, num_frames: int) -> str:
        tokens = IMG_CONTEXT * self.tokens_per_frame
        label = self.config.frame_label
        return "\n".join(f"{label.format(i=i + 1)}{IMG_START}{tokens}{IMG_END}" for i in range(num_frames)) + "\n"

    def encode(self, num_frames: int, question: str) -> PromptIds:
        """ChatML: [system] user: Frame1..N then the question; assistant header last.

        The question is user text and is tokenised as plain text: special-token strings in it (``<IMG_CONTEXT>``,
        ``<|im_end|>``) become ordinary pieces, so they can neither add image slots nor open a new turn.
        """
        if num_frames not in self._prefix_ids:  # depends on the frame count alone: tokenised once
            system = self.config.system_prompt
            prefix = f"<|im_start|>system\n{system}<|im_end|>\n" if system else ""
            self._prefix_ids[num_frames] = self._ids(prefix + "<|im_start|>user\n" + self.frames_text(num_frames))
        if self._suffix_ids is None:
            self._suffix_ids = self._ids("<|im_end|>\n<|im_start|>assistant\n")
        question_ids = self._ids(question, plain=True)
        return PromptIds(self._prefix_ids[num_frames], torch.cat([question_ids, self._suffix_ids], dim=1))

    def _ids(self, text: str, plain: bool = False) -> torch.Tensor:
        """``[1, L]`` ids; ``plain`` splits special-token strings into ordinary pieces. ``verbose=False``: a 32-frame
        prompt is longer than the tokenizer's model_max_length (8192) but within the LLM's positions (checked by
        the pipeline against the model's real limit)."""
        ids = self.tokenizer(text, add_special_tokens=False, split_special_tokens=plain, verbose=False)["input_ids"]
        return torch.tensor([ids], dtype=torch.long)

    def decode(self, token_ids: torch.Tensor) -> str:
        # NUL cannot travel in a ROS string (it ends the C string): drop it here, so every path answers the same.
        return self.tokenizer.decode(token_ids, skip_special_tokens=True).replace("\x00", "").strip()
