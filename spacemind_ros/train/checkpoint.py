"""Checkpoints: a SpaceMind folder the node loads (``model.save_pretrained``) plus ``trainer_state/`` (trainable
weights, optimizer, scheduler, data position, every rank's RNG) for an exact resume. Written into a temporary
folder and renamed, so ``checkpoint-NNNNNN/`` is either complete or absent; ``latest`` names the newest one."""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from spacemind_ros.train.distributed import DistInfo, barrier

STATE = "trainer_state"
HEADS = "heads.safetensors"
LATEST = "latest"


def rng_state() -> dict:
    np_state = np.random.get_state(legacy=False)
    state = {"python": random.getstate(), "torch": torch.get_rng_state(),
             "numpy_key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
             "numpy_pos": int(np_state["state"]["pos"])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    np.random.set_state({"bit_generator": "MT19937", "state": {"key": state["numpy_key"].numpy().astype(np.uint32),
                                                                "pos": state["numpy_pos"]}})
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _replace_dir(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(info: DistInfo, folder: Path, model, optimizer, scheduler, state: dict,
                    save_encoders: bool, heads: dict[str, torch.Tensor] | None = None) -> Path:
    """Collective: every rank calls it (each writes its RNG); rank 0 writes the rest and renames. ``heads``: weights
    that train beside the model but are not part of it (an objective's token head), kept for resuming only."""
    from safetensors.torch import save_file

    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    if info.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / STATE).mkdir(parents=True)
    barrier(info)
    torch.save(rng_state(), tmp / STATE / f"rng_rank{info.rank}.pt")
    barrier(info)
    if info.is_main:
        model.save_pretrained(tmp, save_encoders=save_encoders)
        trainable = {n: p.detach().cpu().contiguous() for n, p in model.named_parameters() if p.requires_grad}
        save_file(trainable, str(tmp / STATE / "trainable.safetensors"))
        if heads:
            save_file({n: p.detach().cpu().contiguous() for n, p in heads.items()}, str(tmp / STATE / HEADS))
        torch.save(optimizer.state_dict(), tmp / STATE / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / STATE / "scheduler.pt")
        _write_text_atomic(tmp / STATE / "state.json", json.dumps(dict(state, world_size=info.world_size), indent=1))
        _replace_dir(tmp, folder)
        _write_text_atomic(folder.parent / LATEST, folder.name + "\n")
    barrier(info)
    return folder


def find_resume(spec: str | None, output_dir: Path) -> Path | None:
    """'auto' -> the folder ``latest`` names (else the highest checkpoint-*), a path -> itself, None -> None."""
    if not spec:
        return None
    if spec != "auto":
        path = Path(spec)
        if not (path / STATE / "state.json").is_file():
            raise FileNotFoundError(f"{path} is not a training checkpoint ({STATE}/state.json missing)")
        return path
    latest = output_dir / LATEST
    if latest.is_file():
        path = output_dir / latest.read_text().strip()
        if (path / STATE / "state.json").is_file():
            return path
    found = sorted(p for p in output_dir.glob("checkpoint-*") if (p / STATE / "state.json").is_file())
    return found[-1] if found else None


def load_checkpoint(info: DistInfo, folder: Path, model, optimizer, scheduler,
                    heads: dict[str, torch.nn.Parameter] | None = None) -> dict:
    """Restore trainable weights (and ``heads``, as ``save_checkpoint`` took them), optimizer, scheduler and this
    rank's RNG; returns the saved state dict."""
    from safetensors.torch import load_file

    folder = Path(folder)
    state = json.loads((folder / STATE / "state.json").read_text())
    trainable = load_file(str(folder / STATE / "trainable.safetensors"))
    params = dict(model.named_parameters())
    expected = {n for n, p in params.items() if p.requires_grad}
    if set(trainable) != expected:
        missing, extra = sorted(expected - set(trainable)), sorted(set(trainable) - expected)
        raise ValueError(f"{folder}: trainable weights do not match this model (missing {missing[:3]}, "
                         f"unexpected {extra[:3]}); same model.* settings are needed to resume")
    if heads:
        saved = load_file(str(folder / STATE / HEADS)) if (folder / STATE / HEADS).is_file() else {}
        if set(saved) != set(heads):
            raise ValueError(f"{folder}: the objective's head weights {sorted(saved)} do not match this run's "
                             f"{sorted(heads)}; same train.objective and train.category_head are needed to resume")
        trainable.update({f"{HEADS}:{n}": t for n, t in saved.items()})
        params.update({f"{HEADS}:{n}": p for n, p in heads.items()})
    with torch.no_grad():
        for name, tensor in trainable.items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(torch.load(folder / STATE / "optimizer.pt", map_location=info.device,
                                         weights_only=True))
    scheduler.load_state_dict(torch.load(folder / STATE / "scheduler.pt", weights_only=True))
    rng = folder / STATE / f"rng_rank{info.rank}.pt"
    if state.get("world_size") == info.world_size and rng.is_file():
        set_rng_state(torch.load(rng, weights_only=False))
    return state


def prune_checkpoints(output_dir: Path, keep: int) -> None:
    found = sorted(output_dir.glob("checkpoint-*"))
    for old in found[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
