"""On-disk cache of the frozen encoders' outputs per sample: InternViT visual tokens ``[N, M_v, d_v]``, VGGT patch
tokens ``[N, M_s, d_s]`` and camera tokens ``[N, 1, d_s]``. Encoders and preprocessing never change during training,
so a sample's entry is computed once (first epoch) and read afterwards. Size per sample for spacemind-8b in bf16
at 32 frames: 32*256*3584*2 + 32*1036*2048*2 + 32*2048*2 bytes ~= 194 MB (report: :meth:`EncoderCache.size_bytes`).

Keys hash the media file (path, size, mtime), the frame sampling and an encoder fingerprint (configs, image sizes,
weight checksums, dtype), so a changed video or model never reads a stale entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch

log = logging.getLogger(__name__)
FIELDS = ("visual", "patch_tokens", "camera_tokens")


def encoder_fingerprint(model, dtype: torch.dtype) -> str:
    """Configs of the frozen parts + a checksum of every frozen encoder/projector weight (cheap: one sum each)."""
    h = hashlib.sha1()
    cfg = model.config
    h.update(json.dumps({"vision": model.base.config.vision_config.to_dict(), "vggt": cfg.vggt.__dict__,
                         "sizes": [cfg.vision_image_size, cfg.vggt_image_size, cfg.vggt_preprocess_mode,
                                   cfg.spatial_layer], "dtype": str(dtype)}, sort_keys=True, default=str).encode())
    base = model.base
    parts = [base.model.vision_tower, base.model.multi_modal_projector, model.vggt]
    with torch.no_grad():
        for part in parts:
            for name, p in part.named_parameters():
                h.update(name.encode())
                h.update(repr(round(float(p.detach().double().sum()), 6)).encode())
    return h.hexdigest()[:16]


class EncoderCache:
    def __init__(self, folder: str | Path, fingerprint: str):
        self.folder = Path(folder) / fingerprint
        self.folder.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def key(record, sampling) -> str:
        media = Path(record.media)
        try:
            st = media.stat()
            stamp = [st.st_size, st.st_mtime_ns] if media.is_file() else \
                sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in media.iterdir())
        except OSError:
            stamp = None
        blob = json.dumps([str(media.resolve()), stamp, record.topic, record.until_ns, sampling.sample_frames,
                           sampling.drop_ends], default=str)
        return hashlib.sha1(blob.encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.safetensors"

    def load(self, key: str) -> dict[str, torch.Tensor] | None:
        from safetensors.torch import load_file

        path = self.path(key)
        if not path.is_file():
            return None
        try:
            tensors = load_file(str(path))
            if set(tensors) != set(FIELDS):
                raise ValueError(f"fields {sorted(tensors)}")
        except Exception as exc:  # noqa: BLE001 - a damaged entry is recomputed, never trusted
            log.warning("encoder cache entry %s is unreadable (%s); recomputing it", path, exc)
            return None
        return tensors

    def save(self, key: str, visual: torch.Tensor, patch_tokens: torch.Tensor, camera_tokens: torch.Tensor) -> None:
        """Atomic: written to a temporary name and renamed, so readers never see half a file."""
        from safetensors.torch import save_file

        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        save_file({"visual": visual.detach().cpu().contiguous(), "patch_tokens": patch_tokens.detach().cpu().contiguous(),
                   "camera_tokens": camera_tokens.detach().cpu().contiguous()}, str(tmp))
        os.replace(tmp, path)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*.safetensors"))

    def entries(self) -> int:
        return sum(1 for _ in self.folder.rglob("*.safetensors"))
