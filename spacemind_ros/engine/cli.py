"""``spacemind-engine``: export the encoder parts to ONNX, check them for TensorRT, build TensorRT engines, list the cache.

  spacemind-engine export --model DIR --precision fp16 --frames 1:32:64 [--vggt-size 518x518]
  spacemind-engine build  --model DIR --precision fp16 --frames 1:32:64    (CUDA + TensorRT; exports first if needed)
  spacemind-engine check  FILE.onnx [...]                                   (TensorRT operator check, no TensorRT)
  spacemind-engine info   [--engine-dir DIR]                                (what is cached, and whether it is intact)
  spacemind-engine export-llm --model DIR --out LLM_DIR                     (the LLM, LoRA merged, for vllm serve)
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

PARTS = ("vision", "vggt", "cgmf")


def _frames(text: str) -> tuple[int, int, int]:
    """"1:32:64" -> (1, 32, 64) (min:opt:max); "1:64" -> (1, 32, 64) with opt the midpoint."""
    values = [int(v) for v in text.split(":")]
    if len(values) == 2:
        values = [values[0], max(values[0], (values[0] + values[1]) // 2), values[1]]
    if len(values) != 3 or not 1 <= values[0] <= values[1] <= values[2] <= 64:
        raise argparse.ArgumentTypeError(f"--frames wants min:opt:max within 1..64, got {text!r}")
    return tuple(values)


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    try:
        return int(h), int(w or h)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--vggt-size wants HxW, e.g. 518x518, got {text!r}") from None


def _model(args):
    from spacemind_ros.engine.parts import PRECISIONS
    from spacemind_ros.model.presets import load_model

    # Loaded in the engine's precision, as the node serves it: the cache keys exports by the weights they came from.
    dtype = PRECISIONS[args.precision]
    try:  # the device/dtype policy object, where this tree has it
        from spacemind_ros.runtime import RuntimeSettings
    except ImportError:
        model, processor = load_model(args.model, preset=args.preset, device=args.device, dtype=dtype)
        if args.model is None and args.precision != "fp32":
            model = model.to(dtype)
        return model, processor
    runtime = RuntimeSettings.resolve(args.device, str(dtype).removeprefix("torch."))
    return load_model(args.model, preset=args.preset, runtime=runtime)


def _vggt_hw(args, model):
    from spacemind_ros.engine import default_vggt_hw

    hw = args.vggt_size or default_vggt_hw(model.config)
    if hw is None:
        raise SystemExit("spacemind-engine: the model preprocesses VGGT frames in crop mode, whose height follows the "
                         "camera; give --vggt-size HxW (e.g. 392x518 for 4:3 frames at 518)")
    return hw


def cmd_export(args) -> int:
    from spacemind_ros.engine.cache import default_engine_dir, ensure_exports

    model, _ = _model(args)
    engine_dir = Path(args.engine_dir or default_engine_dir())
    lo, _, hi = args.frames
    exports = ensure_exports(model, engine_dir, args.precision, (lo, hi), parts=args.parts, vggt_hw=_vggt_hw(args, model),
                             opset=args.opset, force=args.force)
    failed = 0
    for part, (folder, manifest) in exports.items():
        print(f"{part:6s} {folder}  {manifest.operator_check['summary']}")
        if manifest.attention.get("scopes"):
            print(f"{'':6s} {manifest.attention['summary']}")
        failed += not manifest.operator_check["ok"]
    return 1 if failed else 0


def cmd_build(args) -> int:
    from spacemind_ros.engine import open_backend

    model, _ = _model(args)
    if model.base.device.type != "cuda":
        raise SystemExit("spacemind-engine build: TensorRT needs --device cuda")
    backend, why = open_backend("tensorrt", model, engine_dir=args.engine_dir, vggt_hw=_vggt_hw(args, model),
                                frames=(args.frames[0], args.frames[2]), profile=args.frames,
                                precision=args.precision)
    print(f"{backend.description}: engines ready in {backend.engine_dir / 'trt'}")
    return 0


def cmd_check(args) -> int:
    from spacemind_ros.engine.operators import check_model

    failed = 0
    for path in args.files:
        report = check_model(path)
        print(f"{path}: {report.summary()}")
        failed += not report.ok
    return 1 if failed else 0


def cmd_info(args) -> int:
    from spacemind_ros.engine.cache import EngineCache, default_engine_dir
    from spacemind_ros.engine.manifest import ManifestError, read_manifest

    engine_dir = Path(args.engine_dir or default_engine_dir())
    out = {"engine_dir": str(engine_dir), "exports": [], "engines": EngineCache(engine_dir).entries()}
    for folder in sorted((engine_dir / "onnx").glob("*")):
        try:
            m = read_manifest(folder)
            out["exports"].append({"folder": str(folder), "part": m.part, "precision": m.precision,
                                   "frames": m.frames, "opset": m.opset, "intact": True,
                                   "tensorrt_ops": m.operator_check.get("ok"),
                                   "attention": m.attention.get("summary")})
        except ManifestError as exc:
            out["exports"].append({"folder": str(folder), "intact": False, "error": str(exc)})
    try:
        from spacemind_ros.engine.tensorrt import tensorrt_available

        out["tensorrt"] = tensorrt_available()[1]
    except Exception as exc:  # noqa: BLE001
        out["tensorrt"] = str(exc)
    print(json.dumps(out, indent=1))
    return 0


def cmd_export_llm(args) -> int:
    from spacemind_ros.engine.llm_export import export_llm
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.runtime import RuntimeSettings

    runtime = RuntimeSettings.resolve(args.device, args.dtype)
    model, _ = load_model(args.model, preset=args.preset, runtime=runtime)
    out = export_llm(model, args.out, source=args.model or f"preset:{args.preset}")
    print(json.dumps({"out": str(out), "serve": f"vllm serve {out} --enable-prompt-embeds",
                      "node": f"llm_backend:=vllm llm_url:=http://HOST:8000/v1 llm_model:={out}"}, indent=1))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacemind-engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    def model_args(p):
        p.add_argument("--model", help="SpaceMind folder (default: the tiny preset, random weights)")
        p.add_argument("--preset", default="tiny")
        p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
        p.add_argument("--frames", type=_frames, default=(1, 32, 64), help="min:opt:max frames (default 1:32:64)")
        p.add_argument("--vggt-size", type=_size, help="VGGT input HxW (default: the config's pad size)")
        p.add_argument("--device", default="cpu", help="torch device the model loads on (cuda for build)")
        p.add_argument("--engine-dir", help="cache folder (default: $SPACEMIND_ENGINE_DIR or engine/)")

    export = sub.add_parser("export", help="export the parts to ONNX (+ manifests, TensorRT operator check)")
    model_args(export)
    export.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    export.add_argument("--opset", type=int, default=18)
    export.add_argument("--force", action="store_true", help="export even where a matching export is cached")
    export.set_defaults(func=cmd_export)
    build = sub.add_parser("build", help="build (or reuse) TensorRT engines, checked against ONNX Runtime")
    model_args(build)
    build.set_defaults(func=cmd_build)
    check = sub.add_parser("check", help="TensorRT operator check of ONNX files")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_check)
    info = sub.add_parser("info", help="list cached exports and engines")
    info.add_argument("--engine-dir")
    info.set_defaults(func=cmd_info)
    llm = sub.add_parser("export-llm", help="write the LLM with LoRA merged as a Qwen2 folder that vllm serve loads")
    llm.add_argument("--model", help="SpaceMind folder (default: the --preset)")
    llm.add_argument("--preset", default="small")
    llm.add_argument("--out", required=True, help="new folder to write")
    llm.add_argument("--dtype", default="bfloat16",
                     help="weights' dtype (default bfloat16, as vLLM serves it; float32, float16, auto)")
    llm.add_argument("--device", default="cpu", help="torch device the model loads on")
    llm.set_defaults(func=cmd_export_llm)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except (FileNotFoundError, FileExistsError, ValueError, RuntimeError) as exc:
        print(f"spacemind-engine: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
