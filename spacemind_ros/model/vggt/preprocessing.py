"""VGGT input preprocessing, following the official ``load_and_preprocess_images`` rules."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

log = logging.getLogger(__name__)
_padding_warned: set[tuple[int, int]] = set()  # padded sizes already warned about: once each, not per query


def _to_pil_rgb(image) -> Image.Image:
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    if image.mode == "RGBA":  # composite onto white, as upstream
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def resized_shape(width: int, height: int, mode: str = "crop", target_size: int = 518, patch: int = 14):
    """(new_width, new_height) before cropping/padding; the short side rounds (ties to even) to a multiple of 14.

    At least one patch: the official rule rounds the short side of a frame wider than ``target_size / 7`` : 1 to
    zero pixels, which fails the resize.
    """
    if mode == "pad" and height > width:
        return max(patch, round(width * (target_size / height) / patch) * patch), target_size
    return target_size, max(patch, round(height * (target_size / width) / patch) * patch)


def _pad_to(img: torch.Tensor, height: int, width: int, white: float) -> torch.Tensor:
    """Pad ``[3, h, w]`` to (height, width) with ``white``; top/left get the floor half."""
    dh, dw = height - img.shape[1], width - img.shape[2]
    if dh <= 0 and dw <= 0:
        return img
    top, left = dh // 2, dw // 2
    return F.pad(img, (left, dw - left, top, dh - top), mode="constant", value=white)


def content_box(width: int, height: int, mode: str = "crop", target_size: int = 518,
                canvas: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """Where a ``width`` x ``height`` frame's own pixels lie in its VGGT input: (top, left, height, width) in pixels
    of ``preprocess_image``'s output, or of ``canvas`` (H, W) when ``stack_images`` padded it into a larger batch.
    Everything outside is white padding (pad mode's bands, a mixed-size batch), not the scene."""
    new_w, new_h = resized_shape(width, height, mode=mode, target_size=target_size)
    if mode == "crop":
        new_h = min(new_h, target_size)  # a taller frame is centre-cropped: what remains is all frame
        out_h, out_w = new_h, new_w
    else:
        out_h = out_w = target_size
    top, left = (out_h - new_h) // 2, (out_w - new_w) // 2  # _pad_to's floor half
    if canvas is not None:
        top, left = top + (canvas[0] - out_h) // 2, left + (canvas[1] - out_w) // 2
    return top, left, new_h, new_w


def preprocess_image(image, mode: str = "crop", target_size: int = 518) -> torch.Tensor:
    """One PIL image or ``[H, W, 3|4]`` uint8 array -> ``[3, H', W']`` uint8, resized and cropped or padded.

    crop: width becomes 518, height keeps the aspect ratio (rounded to a multiple of 14) and is centre-cropped to
    518 if taller. pad: the longer side becomes 518 and the result is white-padded to 518 x 518. Kept as uint8 (a
    quarter of float32) so a frame window can cache it per frame; ``stack_images`` makes the model's batch.
    """
    if mode not in ("crop", "pad"):
        raise ValueError(f"mode must be 'crop' or 'pad', got {mode!r}")
    pil = _to_pil_rgb(image)
    new_w, new_h = resized_shape(*pil.size, mode=mode, target_size=target_size)
    pil = pil.resize((new_w, new_h), Image.Resampling.BICUBIC)
    img = torch.from_numpy(np.asarray(pil, dtype=np.uint8).copy()).permute(2, 0, 1)
    if mode == "crop" and new_h > target_size:
        start = (new_h - target_size) // 2
        img = img[:, start:start + target_size]
    if mode == "pad":
        img = _pad_to(img, target_size, target_size, white=255)
    return img.contiguous()


def stack_images(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """``preprocess_image`` outputs -> ``[N, 3, H, W]`` float32 in [0, 1]; other sizes are white-padded to the largest."""
    if len(images) == 0:
        raise ValueError("at least one image is required")
    max_h = max(t.shape[1] for t in images)
    max_w = max(t.shape[2] for t in images)
    if any(t.shape[1:] != (max_h, max_w) for t in images):
        if (max_w, max_h) not in _padding_warned and len(_padding_warned) < 64:
            _padding_warned.add((max_w, max_h))
            log.warning("images of different shapes; padding all to %dx%d with white (said once per size)",
                        max_w, max_h)
        images = [_pad_to(t, max_h, max_w, white=255) for t in images]
    return torch.stack(list(images)).float().div(255.0)


def preprocess_images(images: Sequence, mode: str = "crop", target_size: int = 518) -> torch.Tensor:
    """PIL images or ``[H, W, 3|4]`` uint8 arrays -> ``[N, 3, H', W']`` float32 in [0, 1] (no normalisation).

    The official ``load_and_preprocess_images`` rules: ``preprocess_image`` per image, then ``stack_images``
    (each checks its own arguments).
    """
    return stack_images([preprocess_image(image, mode, target_size) for image in images])
