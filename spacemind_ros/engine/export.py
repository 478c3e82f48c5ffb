"""Export one SpaceMind part to ONNX (torch.onnx dynamo exporter, dynamic frame axis) with its manifest.

Every export is checked against TensorRT's operator list; the result goes into the manifest.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from spacemind_ros.engine.attention import check_attention
from spacemind_ros.engine.manifest import Manifest, TensorSpec, sha256_file, weights_hash
from spacemind_ros.engine.operators import check_model
from spacemind_ros.engine.parts import DTYPE_NAMES, PRECISIONS, VGGTPart, build_part, cast_part

log = logging.getLogger(__name__)
DEFAULT_OPSET = 18  # TensorRT 10 parses 9-20; 23 would bring the fused Attention op it refuses
MAX_FRAMES = 64
ONNX_NAME = "model.onnx"
EXTERNAL_DATA_LIMIT = 2 * 1024 ** 3  # protobuf's 2 GB: larger weights go to model.onnx.data


def _fold(model) -> None:
    """Constant folding and dead-node removal only: shape arithmetic becomes initializers (TensorRT wants constant
    axes), in about a second. The exporter's full rewrite pass took minutes on the tiny VGGT for no gain here:
    ONNX Runtime and TensorRT fuse the graph themselves."""
    import onnxscript.optimizer
    from onnx_ir.passes.common import RemoveUnusedNodesPass

    onnxscript.optimizer.fold_constants(model)
    RemoveUnusedNodesPass()(model)


def exporter_versions() -> dict[str, str]:
    import onnx
    import onnxscript

    import spacemind_ros

    return {"torch": torch.__version__, "onnx": onnx.__version__, "onnxscript": onnxscript.__version__,
            "spacemind_ros": getattr(spacemind_ros, "__version__", "0.1.0")}


def part_source_hash(part: torch.nn.Module, name: str) -> str:
    """What the export depends on besides precision: the part's weights and settings (image size, layer, ...)."""
    return weights_hash(part, {"part": name, **part.settings()})


def frame_range(name: str, frames: tuple[int, int]) -> tuple[int, int]:
    lo, hi = frames
    if not 1 <= lo <= hi <= MAX_FRAMES:
        raise ValueError(f"frame range {lo}..{hi} must lie within 1..{MAX_FRAMES}")
    return lo, hi


def export_part(model, name: str, folder: str | Path, precision: str = "fp32", frames: tuple[int, int] = (1, 64),
                opset: int = DEFAULT_OPSET, vggt_hw: tuple[int, int] | None = None,
                source_hash: str | None = None) -> Manifest:
    """Export part ``name`` of a SpaceMindModel to ``folder/model.onnx`` (+ ``manifest.json``), atomically.

    ``precision`` casts a copy of the part (fp16/bf16 graphs; VGGT's camera head stays float32). The frame axis is
    dynamic over ``frames`` (min, max). Weights over 2 GB go to external data. Returns the manifest.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    lo, hi = frame_range(name, frames)
    part = build_part(model, name, vggt_hw)
    source_hash = source_hash or part_source_hash(part, name)
    device = next(part.parameters()).device
    graph = cast_part(part, dtype)
    inputs, outputs = graph.io(dtype)
    # An example of 2+ frames: a size-1 example would let torch.export specialise the axis to 1.
    example = graph.example(max(2, min(3, hi)), dtype, device)
    frames_dim = torch.export.Dim("frames", min=lo, max=hi)
    dynamic_shapes = {}
    for spec in inputs:
        dynamic_shapes[spec.name] = {spec.shape.index("frames"): frames_dim}
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    t0 = time.perf_counter()
    try:
        static = graph.static_pos_embed() if isinstance(graph, VGGTPart) else nullcontext()
        with torch.no_grad(), static:
            program = torch.onnx.export(
                graph, example, dynamo=True, opset_version=opset, dynamic_shapes=dynamic_shapes,
                input_names=[s.name for s in inputs], output_names=[s.name for s in outputs], optimize=False,
                verbose=False)
        _fold(program.model)
        size = sum(p.numel() * p.element_size() for p in graph.parameters())
        external = size >= EXTERNAL_DATA_LIMIT
        program.save(str(tmp / ONNX_NAME), external_data=external)
        report = check_model(tmp / ONNX_NAME)
        if not report.ok:
            log.warning("%s %s: %s", name, precision, report.summary())
        data_files = {p.name: sha256_file(p) for p in sorted(tmp.iterdir()) if p.name != ONNX_NAME}
        manifest = Manifest(
            part=name, precision=precision, opset=opset, onnx_file=ONNX_NAME,
            onnx_sha256=sha256_file(tmp / ONNX_NAME), data_files=data_files,
            inputs=[TensorSpec(s.name, DTYPE_NAMES[s.dtype], list(s.shape)) for s in inputs],
            outputs=[TensorSpec(s.name, DTYPE_NAMES[s.dtype], list(s.shape)) for s in outputs],
            dynamic_axes={s.name: {str(s.shape.index("frames")): "frames"} for s in [*inputs, *outputs]},
            frames={"min": lo, "max": hi}, source_hash=source_hash, exporter=exporter_versions(),
            operator_check={"ok": report.ok, "problems": report.problems, "summary": report.summary()},
            attention=check_attention(tmp / ONNX_NAME).as_dict(),
            extra=part.settings(),
        )
        manifest.write(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        tmp.replace(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("exported %s (%s, frames %d..%d) to %s in %.1f s", name, precision, lo, hi, folder,
             time.perf_counter() - t0)
    return manifest
