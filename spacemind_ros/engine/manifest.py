"""The manifest written beside every ONNX export, and the hashes that tie it to its files and source weights."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1


class ManifestError(RuntimeError):
    """A manifest that is missing, unreadable, or does not match the files or the model it describes."""


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def weights_hash(module: torch.nn.Module, extra: dict | None = None) -> str:
    """sha256 over a module's tensors (names, dtypes, shapes, bytes) and ``extra`` (its config): the source identity.

    Independent of where the weights were loaded from; a tensor on a GPU is copied to the host in turn.
    """
    h = hashlib.sha256(json.dumps(extra or {}, sort_keys=True, default=str).encode())
    for name, t in module.state_dict().items():
        t = t.detach()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}".encode())
        if t.is_meta:
            raise ValueError(f"{name} is on the meta device: load the weights before exporting")
        h.update(t.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


@dataclass
class TensorSpec:
    name: str
    dtype: str  # numpy-style: float32, float16, bfloat16, int64
    shape: list  # ints, or "frames" on the dynamic axis


@dataclass
class Manifest:
    part: str  # vision | vggt | cgmf
    precision: str  # fp32 | fp16 | bf16
    opset: int
    onnx_file: str
    onnx_sha256: str
    data_files: dict[str, str]  # external-data file -> sha256 (weights over 2 GB)
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    dynamic_axes: dict[str, dict[str, str]]  # input/output name -> {axis: "frames"}
    frames: dict[str, int]  # {"min": .., "max": ..} of the dynamic frame axis
    source_hash: str  # weights_hash of the exported part (independent of precision)
    exporter: dict[str, str]  # package versions
    operator_check: dict = field(default_factory=dict)  # {"ok": bool, "problems": [...], "summary": str}
    attention: dict = field(default_factory=dict)  # engine.attention.AttentionReport.as_dict(): fusable by TensorRT?
    extra: dict = field(default_factory=dict)  # part settings (VGGT image size, layer)
    version: int = MANIFEST_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_dict(cls, data: dict) -> "Manifest":
        data = dict(data)
        data["inputs"] = [TensorSpec(**t) for t in data["inputs"]]
        data["outputs"] = [TensorSpec(**t) for t in data["outputs"]]
        return cls(**data)

    def write(self, folder: str | Path) -> Path:
        path = Path(folder, MANIFEST_NAME)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)
        return path


def read_manifest(folder: str | Path, verify: bool = True) -> Manifest:
    """Load ``folder/manifest.json``; with ``verify`` the ONNX file and its external data must hash as recorded."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path} is missing")
    try:
        manifest = Manifest.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError, KeyError) as exc:
        raise ManifestError(f"{path} is not a valid export manifest: {exc}") from exc
    if manifest.version != MANIFEST_VERSION:
        raise ManifestError(f"{path}: manifest version {manifest.version}, this code reads {MANIFEST_VERSION}")
    if verify:
        verify_files(folder, manifest)
    return manifest


def verify_files(folder: str | Path, manifest: Manifest) -> None:
    """Refuse a manifest whose ONNX file (or external data) is missing or hashes differently."""
    folder = Path(folder)
    files = {manifest.onnx_file: manifest.onnx_sha256, **manifest.data_files}
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise ManifestError(f"{path} is missing (listed in {folder / MANIFEST_NAME})")
        actual = sha256_file(path)
        if actual != expected:
            raise ManifestError(f"{path} does not match its manifest: sha256 {actual[:16]}..., "
                                f"manifest says {expected[:16]}...; re-export it")
