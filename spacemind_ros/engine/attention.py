"""Will TensorRT fuse this graph's attention? A check of the exported pattern and precision, no TensorRT needed.

TensorRT's multi-head attention fusion (the "Fused Attention" page of its developer guide, 10.x and 11.x) takes a
MatMul -> Softmax -> MatMul chain whose attention scale is applied *before* the first MatMul (Q or K times the scale,
or both times its square root), and runs it as one flash-style kernel in 16-bit precision; otherwise the scores are
materialised: at 32 VGGT frames (43,968 tokens, 16 heads) one score tensor is 16 x 43,968^2 x 2 B = 62 GB in bf16.
torch.onnx (opsets below 23) decomposes ``scaled_dot_product_attention`` exactly so: ``Mul(Q, sqrt(s))`` and
``Mul(K^T, sqrt(s))`` -> MatMul -> Softmax -> MatMul. (From opset 23 it emits ONNX ``Attention``, which TensorRT
parses into ``IAttention`` from 10.14; this project exports opset 18, which every TensorRT 10 parses.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

SIXTEEN_BIT = {10: "float16", 16: "bfloat16"}  # onnx.TensorProto.FLOAT16, BFLOAT16


@dataclass
class AttentionReport:
    """Attention chains (Softmax nodes fed by a MatMul) per module scope (``aggregator.global_blocks``,
    ``camera_head.trunk``, ...): how many TensorRT can fuse, and why the others cannot."""

    scopes: dict[str, dict[str, int]] = field(default_factory=dict)  # scope -> {"fusable" or a reason: count}

    def add(self, scope: str, reason: str | None) -> None:
        counts = self.scopes.setdefault(scope, {})
        key = reason or "fusable"
        counts[key] = counts.get(key, 0) + 1

    def problems(self, prefix: str = "") -> dict[str, int]:
        """Reasons -> chains not fusable, over the scopes starting with ``prefix``."""
        out: dict[str, int] = {}
        for scope, counts in self.scopes.items():
            if scope.startswith(prefix):
                for reason, n in counts.items():
                    if reason != "fusable":
                        out[reason] = out.get(reason, 0) + n
        return out

    def summary(self) -> str:
        parts = []
        for scope, counts in self.scopes.items():
            total = sum(counts.values())
            why = "; ".join(f"{n} {r}" for r, n in counts.items() if r != "fusable")
            parts.append(f"{scope} {counts.get('fusable', 0)}/{total} fusable" + (f" ({why})" if why else ""))
        return "attention: " + (", ".join(parts) if parts else "no attention chains")

    def as_dict(self) -> dict:
        return {"scopes": self.scopes, "summary": self.summary()}


def _scope(node) -> str:
    """The module a node came from, blocks merged: ``aggregator.global_blocks.3.attn`` -> ``aggregator.global_blocks``
    (torch.onnx's ``namespace`` metadata); ``graph`` where the exporter recorded none."""
    namespace = next((p.value for p in node.metadata_props if p.key == "namespace"), "")
    modules = [part.split(":")[0].strip() for part in namespace.split("/") if ":" in part]
    modules = [m for m in modules if m and not m.startswith(("scaled_dot_product_attention", "softmax"))]
    if not modules:
        return "graph"
    path = [t for t in modules[-1].split(".") if not t.isdigit()]
    if path and path[-1] in ("attn", "attention", "self_attn"):
        path = path[:-1]
    return ".".join(path) or "graph"


def check_attention(model) -> AttentionReport:
    """Every Softmax fed by a MatMul (an attention chain) of an ``onnx.ModelProto`` or a path (weights not loaded)."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - without inferred types the precision is reported unknown, not guessed
        pass
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    constants = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    types = {v.name: v.type.tensor_type.elem_type for v in (*g.value_info, *g.input, *g.output)}
    types.update({i.name: i.data_type for i in g.initializer})

    def scaled(name: str) -> bool:  # Mul or Div by a constant: the attention scale (or its square root)
        node = producer.get(name)
        return node is not None and node.op_type in ("Mul", "Div") and any(i in constants for i in node.input)

    report = AttentionReport()
    for node in g.node:
        if node.op_type != "Softmax":
            continue
        scores = producer.get(node.input[0])
        if scores is None or scores.op_type not in ("MatMul", "Mul", "Div", "Add"):
            continue  # not an attention softmax (e.g. a classifier's)
        reason = None
        if scores.op_type in ("Mul", "Div"):
            reason = "scale applied after the first MatMul (TensorRT needs it on Q/K before)"
        elif scores.op_type == "Add":
            firsts = [producer.get(i) for i in scores.input]  # Add(scores, mask) or Add(mask, scores)
            if not any(f is not None and f.op_type == "MatMul" and any(scaled(i) for i in f.input) for f in firsts):
                reason = "masked scores without a scale on Q/K before the first MatMul"
        elif not any(scaled(i) for i in scores.input):
            reason = "no attention scale on Q/K before the first MatMul"
        if reason is None and [c.op_type for c in consumers.get(node.output[0], [])] != ["MatMul"]:
            reason = "softmax output not consumed by exactly one MatMul"
        if reason is None:
            dtype = types.get(node.input[0], 0)
            if dtype == onnx.TensorProto.FLOAT:
                reason = "float32 (TensorRT fuses 16-bit attention: export fp16 or bf16)"
            elif dtype not in SIXTEEN_BIT:
                reason = "precision unknown"
        report.add(_scope(node), reason)
    return report


def unfused_score_bytes(heads: int, tokens: int, bytes_per_element: int) -> int:
    """One attention layer's materialised score tensor: heads x tokens^2 elements."""
    return heads * tokens * tokens * bytes_per_element


def unfused_attention_note(manifest, frames: int) -> str | None:
    """For a VGGT export whose aggregator attention TensorRT cannot fuse: what that costs at ``frames`` (a sentence
    for the build log); None where it can, or for other parts."""
    attention = getattr(manifest, "attention", None) or {}  # manifests written before the check have none
    if manifest.part != "vggt" or not attention.get("scopes"):
        return None
    report = AttentionReport(attention["scopes"])
    problems = report.problems("aggregator")
    if not any(scope.startswith("aggregator") for scope in report.scopes):
        problems = {"no attention chain of the aggregator recognised (another export pattern?)": 1}
    if not problems:
        return None
    why = "; ".join(f"{n} {reason}" for reason, n in problems.items())
    heads, per_frame = manifest.extra.get("num_heads"), manifest.extra.get("tokens_per_frame")
    cost = ""
    if heads and per_frame:
        size = unfused_score_bytes(heads, frames * per_frame, 4 if manifest.precision == "fp32" else 2)
        cost = f"; at {frames} frames one global layer's attention scores alone take {size / 1e9:.1f} GB"
    return f"VGGT's aggregator attention is not in TensorRT's fusable form ({why}){cost}: export it in bf16 or fp16"
