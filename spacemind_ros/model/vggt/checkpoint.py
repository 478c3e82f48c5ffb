"""Reading official VGGT checkpoints (``model.pt`` or safetensors) and strict loading of the subset we build."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from spacemind_ros.errors import CheckpointError

log = logging.getLogger(__name__)

CHECKPOINT_NAMES = ("model.safetensors", "model.pt")
# Official heads that may be left unbuilt (depth/point are optional, track never built); the keys of an unbuilt
# head are skipped and reported, never silently.
UNBUILT_HEADS = ("depth_head.", "point_head.", "track_head.")


def find_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a folder holding ``model.safetensors`` or ``model.pt``."""
    path = Path(path)
    if path.is_dir():
        for name in CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(f"no VGGT checkpoint in {path}: expected one of {', '.join(CHECKPOINT_NAMES)}")
    if not path.is_file():
        raise CheckpointError(f"VGGT checkpoint {path} does not exist")
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file or a ``torch.save``d state dict (loaded with ``weights_only=True``)."""
    path = find_checkpoint(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file; say which
        raise CheckpointError(f"cannot read VGGT checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors")
    return state


def load_strict_subset(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint",
                       ignore_prefixes: tuple[str, ...] = UNBUILT_HEADS) -> list[str]:
    """Load ``state`` into ``model``: every model key must be present with its shape and every other key must
    belong to an ignored head. Returns the ignored keys. Raises CheckpointError naming the first bad key."""
    own = model.state_dict()
    for name, param in own.items():
        if name not in state:
            raise CheckpointError(f"{source}: missing key {name!r} (expected shape {list(param.shape)})")
        if tuple(state[name].shape) != tuple(param.shape):
            raise CheckpointError(
                f"{source}: key {name!r} has shape {list(state[name].shape)}, expected {list(param.shape)}"
            )
    ignored, unexpected = [], []
    for name in state:
        if name in own:
            continue
        (ignored if name.startswith(ignore_prefixes) else unexpected).append(name)
    if unexpected:
        raise CheckpointError(f"{source}: unexpected key {unexpected[0]!r} ({len(unexpected)} unexpected in all)")
    missing, extra = model.load_state_dict({k: state[k] for k in own}, strict=True, assign=_on_meta(model))
    assert not missing and not extra
    if ignored:
        heads = sorted({k.split(".")[0] for k in ignored})
        log.info("%s: ignored %d keys of heads not built here: %s", source, len(ignored), ", ".join(heads))
    return ignored


def _on_meta(model: nn.Module) -> bool:
    return any(p.is_meta for p in model.parameters())
