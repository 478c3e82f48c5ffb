"""Where exports and engines live, and when they are reused.

```
<engine dir>/
  onnx/<part>-<precision>-<source hash>/   model.onnx (+ model.onnx.data over 2 GB), manifest.json
  trt/<part>-<precision>-<engine key>.engine   serialized TensorRT engine
  trt/<part>-<precision>-<engine key>.json     its key, sha256 and parity result
  trt/timing-<gpu>-sm<cc>-trt<version>.cache   TensorRT timing cache, shared by builds on that GPU and version
```

An export is reused when its manifest verifies (file hashes) and matches the part's weights, precision, frame range
and opset; otherwise it is exported again. An engine is keyed by GPU name and compute capability, TensorRT version,
precision, optimisation profile and ONNX hash; a missing, corrupt or truncated engine file is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from spacemind_ros.engine.manifest import Manifest, ManifestError, read_manifest, sha256_file

log = logging.getLogger(__name__)
ENV_DIR = "SPACEMIND_ENGINE_DIR"


def default_engine_dir() -> Path:
    """``$SPACEMIND_ENGINE_DIR``, else the repository's ``engine/`` (source checkout), else ~/.cache/spacemind/engine."""
    if os.environ.get(ENV_DIR):
        return Path(os.environ[ENV_DIR])
    repo = Path(__file__).resolve().parents[2] / "engine"
    if (repo / "README.md").is_file():
        return repo
    return Path.home() / ".cache" / "spacemind" / "engine"


def export_folder(engine_dir: str | Path, part: str, precision: str, source_hash: str) -> Path:
    return Path(engine_dir) / "onnx" / f"{part}-{precision}-{source_hash[:16]}"


def manifest_matches(manifest: Manifest, part: str, precision: str, source_hash: str, frames: tuple[int, int],
                     opset: int) -> str:
    """Why ``manifest`` cannot serve this request ("" when it can)."""
    if manifest.part != part or manifest.precision != precision:
        return f"it is {manifest.part}/{manifest.precision}, not {part}/{precision}"
    if manifest.source_hash != source_hash:
        return "it was exported from other weights or settings"
    if manifest.opset != opset:
        return f"opset {manifest.opset}, asked for {opset}"
    if manifest.frames["min"] > frames[0] or manifest.frames["max"] < frames[1]:
        return f"frames {manifest.frames['min']}..{manifest.frames['max']} do not cover {frames[0]}..{frames[1]}"
    return ""


def ensure_exports(model, engine_dir: str | Path, precision: str = "fp32", frames: tuple[int, int] = (1, 64),
                   parts=("vision", "vggt", "cgmf"), vggt_hw=None, opset: int | None = None,
                   force: bool = False) -> dict[str, tuple[Path, Manifest]]:
    """``{part: (folder, manifest)}``: verified exports of the model's parts, exported where missing or stale."""
    from spacemind_ros.engine.export import DEFAULT_OPSET, export_part, part_source_hash
    from spacemind_ros.engine.parts import build_part

    opset = opset or DEFAULT_OPSET
    out = {}
    for part in parts:
        part_frames = (max(2, frames[0]), frames[1]) if part == "vggt" else frames
        source_hash = part_source_hash(build_part(model, part, vggt_hw), part)
        folder = export_folder(engine_dir, part, precision, source_hash)
        reason = "forced" if force else ""
        if not force:
            try:
                manifest = read_manifest(folder)
                reason = manifest_matches(manifest, part, precision, source_hash, part_frames, opset)
            except ManifestError as exc:
                reason = str(exc)
        if reason:
            log.info("exporting %s (%s): %s", part, precision, reason)
            manifest = export_part(model, part, folder, precision, part_frames, opset, vggt_hw, source_hash)
        else:
            log.info("reusing the %s export in %s", part, folder)
        out[part] = (folder, manifest)
    return out


# -- TensorRT engines ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; any change gives another file name."""

    part: str
    precision: str
    gpu: str  # device name, e.g. "NVIDIA H100 80GB HBM3"
    compute_capability: str  # "9.0"
    tensorrt: str  # tensorrt.__version__
    profile: tuple[int, int, int]  # min, opt, max frames
    onnx_sha256: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]

    @property
    def stem(self) -> str:
        return f"{self.part}-{self.precision}-{self.digest()}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


class EngineCache:
    """Serialized engines under ``<engine dir>/trt``, checked by sha256 before TensorRT ever sees the bytes."""

    def __init__(self, engine_dir: str | Path):
        self.folder = Path(engine_dir) / "trt"

    def engine_path(self, key: EngineKey) -> Path:
        return self.folder / f"{key.stem}.engine"

    def timing_cache_path(self, gpu: str, compute_capability: str, tensorrt: str) -> Path:
        return self.folder / f"timing-{_slug(gpu)}-sm{compute_capability.replace('.', '')}-trt{_slug(tensorrt)}.cache"

    def _sidecar(self, key: EngineKey) -> Path:
        return self.engine_path(key).with_suffix(".json")

    def load(self, key: EngineKey, deserialize: Callable[[bytes], object]) -> tuple[object | None, str]:
        """(engine, "") from the cache, or (None, why not): missing, key or hash mismatch, or not deserializable."""
        path, sidecar = self.engine_path(key), self._sidecar(key)
        if not path.is_file() or not sidecar.is_file():
            return None, "not built yet"
        try:
            meta = json.loads(sidecar.read_text())
        except ValueError as exc:
            return None, f"{sidecar} is unreadable ({exc})"
        if meta.get("key") != json.loads(json.dumps(asdict(key))):
            return None, f"{sidecar} describes another build"
        data = path.read_bytes()
        if len(data) != meta.get("size") or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
            return None, f"{path} is corrupt or truncated ({len(data)} bytes, expected {meta.get('size')})"
        try:
            engine = deserialize(data)
        except Exception as exc:  # noqa: BLE001 - any failure to deserialize means rebuild
            return None, f"{path} did not deserialize: {type(exc).__name__}: {exc}"
        if engine is None:
            return None, f"{path} did not deserialize (TensorRT returned None)"
        return engine, ""

    def store(self, key: EngineKey, data: bytes, info: dict | None = None) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.engine_path(key)
        tmp = path.with_suffix(".engine.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        meta = {"key": asdict(key), "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **(info or {})}
        self._sidecar(key).write_text(json.dumps(meta, indent=1))
        return path

    def load_or_build(self, key: EngineKey, build: Callable[[], bytes], deserialize: Callable[[bytes], object],
                      verify: Callable[[object], dict] | None = None) -> tuple[object, bool]:
        """(engine, built): the cached engine, or a fresh build (stored) when there is none usable."""
        engine, why = self.load(key, deserialize)
        if engine is not None:
            log.info("reusing TensorRT engine %s", self.engine_path(key))
            return engine, False
        log.info("building TensorRT engine %s: %s", key.stem, why)
        data = bytes(build())
        engine = deserialize(data)
        if engine is None:
            raise RuntimeError(f"TensorRT could not deserialize the engine it just built for {key.part}")
        self.store(key, data, verify(engine) if verify else None)  # verify raises on a bad engine: not stored
        return engine, True

    def entries(self) -> list[dict]:
        """The sidecars of every cached engine (for ``spacemind-engine info``)."""
        out = []
        for sidecar in sorted(self.folder.glob("*.json")):
            try:
                meta = json.loads(sidecar.read_text())
            except ValueError:
                continue
            engine = sidecar.with_suffix(".engine")
            meta["file"] = str(engine)
            meta["intact"] = engine.is_file() and sha256_file(engine) == meta.get("sha256")
            out.append(meta)
        return out
