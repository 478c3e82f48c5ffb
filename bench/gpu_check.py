"""One GPU check for the first GPU this project gets (at most ~10 min on one H100/H200): ``scripts/gpu_check.sh``.

    bash scripts/gpu_check.sh [--out runs/gpu_check] [--dry-run] [--only cuda_tests,vggt_engine,...]

Steps, each in its own process with its own time limit (one failing step never stops the next; GPU memory is
returned between steps):
- ``cuda_tests``: every test that skips without CUDA or TensorRT (CUDA bf16 vs CPU float32, training on CUDA, VGGT
  dense heads and camera noise under autocast, the TensorRT engine of the tiny preset).
- ``vggt_engine``: VGGT at real widths (random weights, 518x518 pad) exported in bf16 and built by TensorRT for 1:32:32
  frames; its attention must be in TensorRT's fusable form and the engine's activation memory
  (``device_memory_size_v2``) under ``VGGT_ACTIVATION_BOUND_GB`` (unfused, one global layer's scores alone are 62 GB);
  one 32-frame run is timed.
- ``workstation``: ``bench/workstation_bench.py`` at 8B dimensions in bf16: cold and follow-up query, stage times,
  peak CUDA memory.
- ``train_step``: LoRA (all linear layers, r 256) + CGMF training steps at 8B dimensions on one 32-frame sample with
  gradient checkpointing and bf16 autocast: seconds per step and peak CUDA memory.
- ``vllm`` (not in the default run, which fills one 10-minute call: ``--only vllm``): the small preset's LLM
  exported (``spacemind-engine export-llm``, bf16), served by ``vllm serve --enable-prompt-embeds``, and the node's
  answers through it (``llm_backend: vllm``) against the in-process LLM on CUDA; needs the vllm package.

``--dry-run`` runs the CPU-safe form of each step here (the CUDA tests collected and skipped, the VGGT export at real
widths with one block pair and its attention check, the tiny workstation bench, a tiny training step), so the script
itself is tested without a GPU. Writes ``OUT/gpu_check.json`` and ``OUT/gpu_check.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STEPS = ("cuda_tests", "vggt_engine", "workstation", "train_step")
EXTRA_STEPS = ("vllm",)  # run with --only: the default steps fill one call
# 540 s in all: under the device's 600 s a command, start-up and imports included
LIMIT_S = {"cuda_tests": 130, "vggt_engine": 270, "workstation": 85, "train_step": 55, "vllm": 420}
VGGT_ACTIVATION_BOUND_GB = 8.0  # fused: tens of [44k, 1024] bf16 activations; unfused: 62 GB of scores per layer
CUDA_TESTS = (
    "tests/test_cuda.py",
    "tests/test_train.py::test_bf16_autocast_training_on_cuda",
    "tests/test_train_stages.py::test_geometry_and_vision_stages_on_cuda",
    "tests/test_vggt_dense_heads.py::test_dense_heads_on_cuda",
    "tests/test_eval_perturbations.py::test_camera_noise_on_cuda_in_bfloat16_autocast",
    "tests/test_engine_export.py::test_tensorrt_builds_caches_and_matches_torch",
)


# -- steps (each runs in a child process: python -m bench.gpu_check --step NAME) ----------------------------------
def step_cuda_tests(dry_run: bool, out: Path) -> dict:
    import xml.etree.ElementTree as ET

    report = out / "cuda_tests.xml"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           f"--junitxml={report}", *CUDA_TESTS], cwd=ROOT, capture_output=True, text=True)
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    skipped = sorted({(c.find("skipped").get("message") or "")[:160] for c in suite.iter("testcase")
                      if c.find("skipped") is not None})
    ok = proc.returncode == 0 and counts["failures"] == counts["errors"] == 0
    status = "passed" if ok and counts["passed"] else "skipped" if ok else "failed"
    return {"status": status, **counts, "skip_reasons": skipped, "tail": proc.stdout[-1500:] if not ok else ""}


def step_vggt_engine(dry_run: bool, out: Path) -> dict:
    from types import SimpleNamespace

    import torch

    from spacemind_ros.engine.attention import unfused_attention_note
    from spacemind_ros.engine.export import export_part
    from spacemind_ros.engine.tensorrt import tensorrt_available
    from spacemind_ros.model.presets import spacemind_8b_config
    from spacemind_ros.model.vggt import VGGT

    cuda = torch.cuda.is_available() and not dry_run
    layers = 1 if dry_run else None  # the dry run: real widths, one block pair (a CPU export of 24 takes long)
    config = spacemind_8b_config(layers)
    device = torch.device("cuda" if cuda else "cpu")
    with torch.device(device):
        vggt = VGGT(config.vggt).eval()
    holder = SimpleNamespace(vggt=vggt, config=config)  # what build_part reads of a SpaceMindModel
    t0 = time.perf_counter()
    folder = out / "vggt-bf16"
    manifest = export_part(holder, "vggt", folder, "bf16", (1, 32), vggt_hw=(518, 518))
    result = {"layers": config.vggt.depth, "export_s": round(time.perf_counter() - t0, 1),
              "attention": manifest.attention["summary"], "operator_check": manifest.operator_check["summary"]}
    note = unfused_attention_note(manifest, 32)  # also fails when no aggregator chain is recognised at all
    if note:
        return {**result, "status": "failed", "reason": note}
    available, why = tensorrt_available()
    if not cuda or not available:
        return {**result, "status": "skipped", "reason": why if cuda else "no CUDA (dry run or CPU machine)"}
    from spacemind_ros.engine.tensorrt import _Logger, build_serialized, import_tensorrt

    trt = import_tensorrt()
    t0 = time.perf_counter()
    serialized = build_serialized(folder / manifest.onnx_file, manifest, (1, 32, 32), out / "timing.cache")
    engine = trt.Runtime(_Logger.get(trt)).deserialize_cuda_engine(serialized)
    result["build_s"] = round(time.perf_counter() - t0, 1)
    size = getattr(engine, "device_memory_size_v2", None)
    size = engine.device_memory_size if size is None else size
    result["activation_gb"] = round(size / 1e9, 2)
    result["bound_gb"] = VGGT_ACTIVATION_BOUND_GB
    from spacemind_ros.engine.tensorrt import TensorRTRunner

    runner = TensorRTRunner(engine, device)
    images = torch.rand(1, 32, 3, 518, 518, device=device).to(torch.bfloat16)
    runner({"images": images})
    torch.cuda.synchronize()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        runner({"images": images})
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    result["run_32_frames_s"] = round(sorted(times)[1], 4)
    ok = size / 1e9 <= VGGT_ACTIVATION_BOUND_GB
    return {**result, "status": "passed" if ok else "failed",
            "reason": "" if ok else f"activation memory {size / 1e9:.1f} GB over the {VGGT_ACTIVATION_BOUND_GB} GB bound"}


def step_workstation(dry_run: bool, out: Path) -> dict:
    import torch

    cuda = torch.cuda.is_available() and not dry_run
    args = ["--device", "cuda", "--repeats", "2"] if cuda else ["--preset", "tiny", "--device", "cpu", "--repeats", "1"]
    path = out / "workstation.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "workstation_bench.py"), *args, "--json", str(path)],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        return {"status": "failed", "tail": (proc.stdout + proc.stderr)[-1500:]}
    data = json.loads(path.read_text())
    keep = ("preset", "device", "dtype", "gpu", "frames_per_query", "build_s", "cold_s", "follow_up_s",
            "cold_stages_ms", "peak_cuda_gb", "peak_rss_gb", "floor_estimate_s")
    return {"status": "passed", **{k: data.get(k) for k in keep}}


def step_train_step(dry_run: bool, out: Path) -> dict:
    import numpy as np
    import torch

    from bench.workstation_bench import build
    from spacemind_ros.model.configuration_spacemind import LORA_TARGETS
    from spacemind_ros.runtime import RuntimeSettings
    from spacemind_ros.train.data import IGNORE, Collator, tokenize_sample
    from spacemind_ros.train.records import make_record
    from spacemind_ros.train.trainer import AnswerLoss

    cuda = torch.cuda.is_available() and not dry_run
    runtime = RuntimeSettings.resolve("cuda" if cuda else "cpu", "bfloat16" if cuda else "float32")
    model, processor = build("spacemind-8b" if cuda else "tiny", runtime,
                             lora_targets=LORA_TARGETS["all_linear"] if cuda else None)
    for name, p in model.named_parameters():  # the paper's recipe: LoRA and CGMF train, float32 master weights
        p.requires_grad_(".lora_" in name or name.startswith("cgmf."))
        if p.requires_grad:
            p.data = p.data.float()
    model.base.model.language_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    frames = 32 if cuda else 4
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(frames)]
    record = make_record(id=0, question="How far is the sofa from the door?", options=[], answer="2.5",
                         question_type="object_abs_distance", media="unused.mp4")
    ids, labels = tokenize_sample(processor, frames, record)
    batch = Collator(processor.tokenizer.pad_token_id)([{"input_ids": ids, "labels": labels}])
    batch = {k: batch[k].to(runtime.device) for k in ("input_ids", "labels", "attention_mask")}
    loss_fn = AnswerLoss(model).train()
    model.vggt.eval()
    model.base.model.vision_tower.eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)
    pixels = torch.stack([processor.internvl_pixels(f) for f in images]).to(runtime.device, runtime.dtype)
    vggt_pixels = processor.vggt_pixels(images).to(runtime.device)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        with torch.no_grad():
            visual = model.visual_tokens(pixels)
            spatial = model.spatial_tokens(vggt_pixels[None], model.vggt_autocast)
        with autocast:
            loss = loss_fn(batch, [(visual, spatial.patch_tokens[0], spatial.camera_tokens[0])])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    tokens = int((batch["labels"][:, 1:] != IGNORE).sum())
    return {"status": "passed", "preset": "spacemind-8b" if cuda else "tiny", "frames": frames,
            "trainable_parameters": sum(p.numel() for p in trainable), "loss": round(float(loss) / tokens, 4),
            "first_step_s": round(times[0], 3), "step_s": round(min(times[1:]), 3),
            "peak_cuda_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if cuda else None}


def step_vllm(dry_run: bool, out: Path) -> dict:
    import importlib.util
    import shutil
    import socket

    import torch

    from spacemind_ros.engine.llm_export import export_llm
    from spacemind_ros.engine.vllm_llm import LLMServerError, VllmLLM
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig
    from spacemind_ros.runtime import RuntimeSettings
    from spacemind_ros.scenes import walkthrough_frames

    cuda = torch.cuda.is_available() and not dry_run
    runtime = RuntimeSettings.resolve("cuda" if cuda else "cpu", "bfloat16")
    model, processor = load_model(None, preset="small", runtime=runtime)
    folder = out / "vllm_llm"
    shutil.rmtree(folder, ignore_errors=True)
    export_llm(model, folder, source="preset:small")
    if not cuda or importlib.util.find_spec("vllm") is None:
        why = "dry run" if dry_run else "no CUDA" if not torch.cuda.is_available() else "the vllm package is missing"
        return {"status": "skipped", "reason": f"{why}: exported {folder.name} only"}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(out / "vllm_serve.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(folder),
                               "--served-model-name", "spacemind-llm", "--enable-prompt-embeds", "--enforce-eager",
                               "--port", str(port), "--gpu-memory-utilization", "0.3", "--max-model-len", "2048"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, client, t0 = time.monotonic() + 240, None, time.monotonic()
        while client is None and time.monotonic() < deadline and server.poll() is None:
            try:
                client = VllmLLM(f"http://127.0.0.1:{port}/v1", connect_timeout_s=2)
            except LLMServerError:
                time.sleep(2)
        if client is None:
            return {"status": "failed", "reason": "vllm serve did not come up",
                    "tail": (out / "vllm_serve.log").read_text()[-1200:]}
        start_s = round(time.monotonic() - t0, 1)
        frames = walkthrough_frames(num_frames=24, height=120, width=160)
        answers = []
        questions = ["How many chairs are in the room?", "What is the size of this room (in square meters)?",
                     "How far is the sofa from the bed, in meters?", "What is the length of the longest dimension "
                     "(length, width, or height) of the table, measured in centimeters?"]
        for llm in (None, client):
            r = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0), ReasonerConfig(llm=llm))
            for stamp, img in frames:
                r.add_frame(stamp + 1_000_000_000, img)
            answers.append([(a.answer, round(a.latency_s, 3)) for a in (r.ask(q) for q in questions)])
            r.close()
        equal = sum(a[0] == b[0] for a, b in zip(*answers))
        return {"status": "passed" if equal == len(questions) else "failed", "server_start_s": start_s,
                "equal_answers": f"{equal}/{len(questions)}", "in_process": answers[0], "vllm": answers[1]}
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


# -- driver --------------------------------------------------------------------------------------------------------
def run_step(name: str, dry_run: bool, out: Path) -> dict:
    """``name`` in a child process under its time limit; its dict, or why it has none."""
    result_file = out / f"{name}.result.json"
    result_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench.gpu_check", "--step", name, "--out", str(out)] + (["--dry-run"] * dry_run)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=LIMIT_S[name],
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))
        tail = (proc.stdout + proc.stderr)[-1500:]
        rc = proc.returncode
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr or b""
        err = err.decode(errors="replace") if isinstance(err, bytes) else err  # bytes even with text=True
        tail, rc = f"over its {LIMIT_S[name]} s limit; " + err[-1200:], None
    seconds = round(time.perf_counter() - t0, 1)
    if rc == 0 and result_file.is_file():
        return {**json.loads(result_file.read_text()), "seconds": seconds}
    return {"status": "failed", "seconds": seconds, "exit_code": rc, "tail": tail}


def markdown(summary: dict) -> str:
    lines = [f"# GPU check ({'dry run, ' if summary['dry_run'] else ''}{summary['device']})", "",
             f"{summary['date']}, torch {summary['torch']}, {summary['seconds']} s in all.", "",
             "| step | status | seconds | result |", "|---|---|---:|---|"]
    for name, r in summary["steps"].items():
        shown = {k: v for k, v in r.items() if k not in ("status", "seconds", "tail", "skip_reasons")}
        lines.append(f"| {name} | {r['status']} | {r.get('seconds', '')} | "
                     f"{json.dumps(shown)[:600].replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "runs" / "gpu_check"))
    ap.add_argument("--dry-run", action="store_true", help="the CPU-safe form of every step (no GPU needed)")
    ap.add_argument("--only", help=f"comma-separated steps of {','.join(STEPS + EXTRA_STEPS)}")
    ap.add_argument("--step", choices=STEPS + EXTRA_STEPS, help=argparse.SUPPRESS)  # a child process runs one step
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.step:
        fn = {"cuda_tests": step_cuda_tests, "vggt_engine": step_vggt_engine, "workstation": step_workstation,
              "train_step": step_train_step, "vllm": step_vllm}[args.step]
        result = fn(args.dry_run, out)
        (out / f"{args.step}.result.json").write_text(json.dumps(result, indent=1))
        return 0
    import torch

    steps = [s.strip() for s in args.only.split(",")] if args.only else list(STEPS)
    unknown = set(steps) - set(STEPS + EXTRA_STEPS)
    if unknown:
        ap.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS + EXTRA_STEPS)}")
    t0 = time.perf_counter()
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S"), "device": device, "torch": torch.__version__,
               "dry_run": args.dry_run, "steps": {}}
    for name in steps:
        summary["steps"][name] = run_step(name, args.dry_run, out)
        print(f"{name}: {summary['steps'][name]['status']} ({summary['steps'][name]['seconds']} s)", flush=True)
        summary["seconds"] = round(time.perf_counter() - t0, 1)
        # written after every step: a run cut off from outside keeps what it measured
        (out / "gpu_check.json").write_text(json.dumps(summary, indent=1))
        (out / "gpu_check.md").write_text(markdown(summary))
    print(f"wrote {out / 'gpu_check.json'} and {out / 'gpu_check.md'}")
    return 1 if any(r["status"] == "failed" for r in summary["steps"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
