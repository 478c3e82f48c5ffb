"""Does TensorRT parse this ONNX graph? A check against the ONNX-TensorRT parser's operator matrix, no TensorRT needed.

The matrix (``data/onnx_operators_trt10.tsv``, TensorRT 10.x, onnx-tensorrt docs/operators.md) lists every ONNX
operator with Y/N; TensorRT 10 parses opsets 9 to 20. Besides the operator names, the restrictions that can be read off
a graph are checked: Resize modes and antialiasing, axes inputs that must be initializers, TopK ``sorted``, extra
outputs of LayerNormalization and MaxPool. Subgraphs (If/Loop/Scan bodies) and local functions are walked too.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

MIN_OPSET, MAX_OPSET = 9, 20
# Operators whose axes-like input (by position) must be an initializer or a Constant for TensorRT.
_CONSTANT_INPUTS = {
    "CumSum": 1, "Pad": 3, "Slice": 3, "Squeeze": 1, "Unsqueeze": 1, "ReduceL1": 1, "ReduceL2": 1,
    "ReduceLogSum": 1, "ReduceLogSumExp": 1, "ReduceMax": 1, "ReduceMean": 1, "ReduceMin": 1, "ReduceProd": 1,
    "ReduceSum": 1, "ReduceSumSquare": 1,
}
_RESIZE_MODES = {"nearest", "linear"}
_RESIZE_TRANSFORMS = {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}


@lru_cache(maxsize=1)
def supported_operators() -> dict[str, bool]:
    """``{operator: parsed by TensorRT 10}`` from the packaged matrix."""
    text = resources.files("spacemind_ros.engine").joinpath("data/onnx_operators_trt10.tsv").read_text()
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return {row["operator"]: row["supported"].strip() == "Y" for row in rows}


@dataclass
class OperatorReport:
    """What the check found: ``problems`` are reasons TensorRT would refuse the graph (empty = it parses)."""

    opset: int
    operators: dict[str, int] = field(default_factory=dict)  # op type -> node count
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = f"opset {self.opset}, {sum(self.operators.values())} nodes, {len(self.operators)} operator types"
        if self.ok:
            return f"TensorRT operator check passed: {head}"
        return f"TensorRT operator check FAILED ({head}): " + "; ".join(self.problems)


def _attr(node, name, default=None):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def check_model(model) -> OperatorReport:
    """Check an ``onnx.ModelProto`` (or a path to one; weights are not loaded) for TensorRT 10's parser."""
    import onnx

    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    report = OperatorReport(opset=opset)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        report.problems.append(f"opset {opset} is outside the {MIN_OPSET}-{MAX_OPSET} TensorRT 10 parses")
    functions = {(f.domain, f.name): f for f in model.functions}
    table = supported_operators()
    seen_functions: set = set()

    def walk(graph, constants: set[str]):
        constants = constants | {i.name for i in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                constants |= set(node.output)
            if (node.domain, node.op_type) in functions:  # a local function: check its body instead
                if (node.domain, node.op_type) not in seen_functions:
                    seen_functions.add((node.domain, node.op_type))
                    walk_nodes(functions[(node.domain, node.op_type)].node, constants)
                continue
            check_node(node, constants)
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g, constants)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        walk(g, constants)

    def walk_nodes(nodes, constants):
        graph = onnx.GraphProto()
        graph.node.extend(nodes)
        walk(graph, constants)

    def check_node(node, constants):
        op = node.op_type
        report.operators[op] = report.operators.get(op, 0) + 1
        where = f"{op} (node {node.name or '?'})"
        if node.domain not in ("", "ai.onnx"):
            report.problems.append(f"{where}: custom domain {node.domain!r} needs a TensorRT plugin")
            return
        if op not in table:
            report.problems.append(f"{where}: not in TensorRT's ONNX operator list")
            return
        if not table[op]:
            report.problems.append(f"{where}: operator {op} is not supported by TensorRT")
            return
        pos = _CONSTANT_INPUTS.get(op)
        if pos is not None and len(node.input) > pos and node.input[pos] and node.input[pos] not in constants:
            report.problems.append(f"{where}: input {pos} (axes/pads) must be an initializer or a Constant")
        if op == "Resize":
            mode = _attr(node, "mode", b"nearest")
            mode = mode.decode() if isinstance(mode, bytes) else mode
            ctm = _attr(node, "coordinate_transformation_mode", b"half_pixel")
            ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
            if mode not in _RESIZE_MODES:
                report.problems.append(f"{where}: resize mode {mode!r} (TensorRT: nearest, linear)")
            if ctm not in _RESIZE_TRANSFORMS:
                report.problems.append(f"{where}: coordinate transformation {ctm!r} is not supported")
            if _attr(node, "antialias", 0):
                report.problems.append(f"{where}: antialiasing is not supported")
        elif op == "TopK" and _attr(node, "sorted", 1) != 1:
            report.problems.append(f"{where}: sorted must be 1")
        elif op in ("LayerNormalization", "MaxPool") and sum(1 for o in node.output[1:] if o):
            report.problems.append(f"{where}: only the first output is supported")

    walk(model.graph, set())
    return report
