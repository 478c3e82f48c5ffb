"""Training on the tiny preset over generated scenes: loss, frozen parts, resume, checkpoints, cache, bad input."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spacemind_ros.pipeline.frame_window import sample_indices
from spacemind_ros.train.checkpoint import STATE, find_resume
from spacemind_ros.train.trainer import Trainer
from tests.train_helpers import scene_frames, tiny_config, write_scenes


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two intra-op threads on a loaded 2-core machine ran these steps ~10x slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    return write_scenes(tmp_path_factory.mktemp("scenes"))


def trainable(model):
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.fixture(scope="module")
def run_a(scenes, tmp_path_factory):
    """6 optimizer steps (3 epochs of 4 samples, global batch 2 = 2 micro-batches), checkpoint at step 3."""
    out = tmp_path_factory.mktemp("run_a")
    trainer = Trainer(tiny_config(out, scenes, "output.save_every=3"))
    frozen_before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not p.requires_grad}
    trainable_before = trainable(trainer.model)
    eval_before = trainer.evaluate()
    summary = trainer.fit()
    return dict(trainer=trainer, out=out, summary=summary, frozen_before=frozen_before,
                trainable_before=trainable_before, eval_before=eval_before)


def test_loss_decreases(run_a):
    s = run_a["summary"]
    assert s["steps"] == 6 and s["samples_seen"] == 12 and s["accumulation"] == 2 and s["skipped"] == 0
    assert s["eval_loss"] < run_a["eval_before"] - 0.3, (run_a["eval_before"], s["eval_loss"])
    losses = [h["loss"] for h in run_a["trainer"].history]
    assert losses[-1] < losses[0]


def test_only_cgmf_and_lora_change_frozen_parts_bit_identical(run_a):
    model = run_a["trainer"].model
    names = set(trainable(model))
    assert names and all(n.startswith("cgmf.") or "lora_" in n for n in names)
    assert any(n.startswith("cgmf.") for n in names) and any("lora_" in n for n in names)
    for n, p in model.named_parameters():
        if n in run_a["frozen_before"]:
            assert torch.equal(p, run_a["frozen_before"][n]), f"frozen {n} changed"
    changed = {n for n, p in trainable(model).items() if not torch.equal(p, run_a["trainable_before"][n])}
    assert any(n.startswith("cgmf.") for n in changed) and any("lora_A" in n for n in changed) \
        and any("lora_B" in n for n in changed)


def test_log_curve_tensorboard_and_atomic_checkpoints(run_a):
    out = run_a["out"]
    rows = (out / "train_log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,loss,lr") and len(rows) == 8  # header, 6 steps, the final evaluation
    from spacemind_ros.train.loss_log import read_log

    last = read_log(out / "train_log.csv")[-1]
    assert last["step"] == "6" and float(last["eval_loss"]) == run_a["summary"]["eval_loss"]
    assert (out / "loss_curve.png").stat().st_size > 1000
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert (out / "checkpoint-000003" / STATE / "state.json").is_file()
    assert (out / "latest").read_text().strip() == "final"
    assert not list(out.glob(".*tmp*"))
    for folder in (out / "checkpoint-000003", out / "final"):
        assert {p.name for p in folder.iterdir()} >= {"spacemind_config.json", "cgmf.safetensors", "lora"}


def test_resume_equals_uninterrupted(run_a, scenes, tmp_path):
    resumed = Trainer(tiny_config(tmp_path, scenes, f"output.resume='{run_a['out'] / 'checkpoint-000003'}'"))
    assert resumed.step == 3
    resumed.fit()
    a, b = trainable(run_a["trainer"].model), trainable(resumed.model)
    assert a.keys() == b.keys()
    for n in a:
        assert torch.equal(a[n], b[n]), n
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in run_a["trainer"].history[3:]]


def test_interrupted_save_leaves_no_checkpoint(run_a, scenes, tmp_path, monkeypatch):
    trainer = Trainer(tiny_config(tmp_path, scenes, "train.max_steps=1"))
    trainer.save(tmp_path / "checkpoint-000001")

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(trainer.model, "save_pretrained", crash)
    with pytest.raises(OSError):
        trainer.save(tmp_path / "checkpoint-000002")
    assert not (tmp_path / "checkpoint-000002").exists()
    assert find_resume("auto", tmp_path) == tmp_path / "checkpoint-000001"


def test_checkpoint_loads_in_the_pipeline_and_answers(run_a):
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner, WindowConfig

    model, processor = load_model(run_a["out"] / "final")
    assert model.config.query_frames == 4  # what it trained with (6 sampled, ends dropped): what the node samples
    trained = trainable(run_a["trainer"].model)
    loaded = dict(model.named_parameters())
    for n, p in trained.items():
        assert torch.equal(loaded[n], p), n
    reasoner = SpatialReasoner(model, processor, WindowConfig(min_gap_s=0.0, min_frames=4),
                               ReasonerConfig(feature_cache=False))
    try:
        for stamp, img in scene_frames(0, 12):
            reasoner.add_frame(stamp, img)
        answer = reasoner.ask("Which object is closest to the red box?", ["A. green box", "B. blue box"])
        assert answer.success, answer.error_message
        # 6 steps on random base weights teach little: the answer is whatever this model decodes, parsed
        assert answer.task == "object_rel_distance" and answer.choice in ("", "A", "B")
        assert len(answer.frame_stamps) == 12 and answer.stage_times_s["decode"] > 0
    finally:
        reasoner.close()


def test_encoder_cache_gives_the_same_loss(run_a, scenes, tmp_path):
    """The same run as run_a with the cache: the first use of each scene computes and writes its encoder outputs,
    every later one reads them back; losses and weights are bit-identical to computing live."""
    cached = Trainer(tiny_config(tmp_path, scenes, "output.save_every=3", "output.tensorboard=false",
                                 f"train.encoder_cache='{tmp_path / 'cache'}'"))
    assert cached.evaluate() == run_a["eval_before"]
    summary = cached.fit()
    # one entry per (video, sampling): the two questions of a scene share their scene's encoder outputs
    assert summary["encoder_cache"]["entries"] == 2 and summary["encoder_cache"]["size_bytes"] > 0
    assert summary["encoder_cache"]["hits"] >= 8
    assert [h["loss"] for h in cached.history] == [h["loss"] for h in run_a["trainer"].history]
    assert summary["eval_loss"] == run_a["summary"]["eval_loss"]
    a, b = trainable(run_a["trainer"].model), trainable(cached.model)
    assert all(torch.equal(a[n], b[n]) for n in a)


@pytest.mark.slow
def test_two_gloo_processes_keep_replicas_identical_and_match_one_process(run_a, scenes, tmp_path):
    """The same CLI under torchrun, 2 CPU processes (gloo): 1 micro-batch per rank per step is run_a's 2 accumulated
    micro-batches, so the weights match run_a's up to float rounding, and the replicas match bit for bit."""
    from spacemind_ros.train.config import render_yaml

    config = tmp_path / "ddp.yaml"
    config.write_text(render_yaml(tiny_config(tmp_path / "ddp", scenes, "output.tensorboard=false")))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), "-m", "spacemind_ros.train.cli", "--config", str(config)],
        env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["accumulation"] == 1 and summary["steps"] == 6
    assert summary["samples_seen"] == 12
    assert summary["replicas_identical"] and len(summary["replica_digests"]) == 2
    ddp = load_file(str(tmp_path / "ddp" / "final" / STATE / "trainable.safetensors"))
    ours = trainable(run_a["trainer"].model)
    assert ddp.keys() == ours.keys()
    for n in ours:
        torch.testing.assert_close(ddp[n], ours[n], rtol=1e-3, atol=1e-4, msg=n)


def _answers_of_many_lengths(scenes, path):
    """16 questions over the two bags whose answers run from 1 to 7 tokens, so micro-batches differ in tokens."""
    base = [json.loads(line) for line in scenes.read_text().splitlines()]
    answers = ["3", "12.75", "A", "1234.5", "B", "7", "0.125", "C", "42", "A", "315.25", "9", "B", "6.5", "88", "D"]
    rows = []
    for k, answer in enumerate(answers):
        row = dict(base[k % 2], id=f"g{k}", options=[], ground_truth=answer, question_type="object_abs_distance",
                   question=f"How far apart are box {k} and the door (in meters)?")
        if answer.isalpha():
            row.update(question_type="object_rel_distance", options=["A. a", "B. b", "C. c", "D. d"])
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
def test_one_global_batch_gives_one_gradient_however_it_is_split(scenes, tmp_path):
    """The loss is normalised by the answer tokens of the whole global batch: 1 x 16, 4 x 4 and 2 gloo ranks x 8
    give the same gradient (a mean of per-micro-batch means would not: the 4 x 4 micro-batches hold different
    numbers of answer tokens, checked first)."""
    from safetensors import safe_open

    from spacemind_ros.train.config import render_yaml
    from tests.grad_probe import step_gradient

    data = _answers_of_many_lengths(scenes, scenes.parent / "lengths.jsonl")  # beside the bags it names

    def config(name, micro):
        return tiny_config(tmp_path / name, data, "train.global_batch=16", f"train.micro_batch={micro}",
                           "output.tensorboard=false", eval_same=False)

    one, units_one, _ = step_gradient(config("1x16", 16))
    four, units_four, _ = step_gradient(config("4x4", 4))
    assert sum(units_one) == sum(units_four) and len(set(units_four)) > 1, units_four
    config_path = tmp_path / "ddp.yaml"
    config_path.write_text(render_yaml(config("2x8", 8)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(port), "-m", "tests.grad_probe", str(config_path), str(tmp_path / "2x8.safetensors")],
        env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with safe_open(str(tmp_path / "2x8.safetensors"), "pt") as f:
        two = {k: f.get_tensor(k) for k in f.keys()}
    assert one.keys() == four.keys() == two.keys() and one
    for n in one:
        torch.testing.assert_close(four[n], one[n], rtol=1e-4, atol=1e-7, msg=n)
        torch.testing.assert_close(two[n], one[n], rtol=1e-4, atol=1e-7, msg=n)


def test_bad_samples_are_skipped_and_named(scenes, tmp_path):
    rows = [json.loads(line) for line in scenes.read_text().splitlines()]
    for r in rows:
        r["bag"] = str(scenes.parent / r["bag"])
    bad_media = dict(rows[0], id="missing-bag", bag=str(tmp_path / "bags" / "nowhere"))
    bad_answer = dict(rows[1], id="bad-answer", ground_truth="E")
    (tmp_path / "garbage.mp4").write_bytes(b"not a video at all" * 10)
    bad_video = dict(rows[0], id="bad-video", bag=None, video="garbage.mp4")
    bad_topic = dict(rows[0], id="bad-topic", image_topic="/nothing")
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [*rows, bad_media, bad_answer, bad_video, bad_topic])
                     + "{not json\n")
    trainer = Trainer(tiny_config(tmp_path / "out", jsonl, "train.epochs=1", "train.global_batch=7",
                                  f"data.train=[{{format: scenes, path: '{jsonl}', media_root: '{tmp_path}'}}]",
                                  "data.eval=[]", "data.num_workers=1"))  # failures inside a loader worker
    summary = trainer.fit()
    assert summary["steps"] == 1 and summary["samples_seen"] == 4
    skipped = [(s["file"], s["reason"]) for s in summary["skipped_samples"]]
    assert summary["skipped"] == 5, skipped
    assert any(f.endswith("nowhere") for f, _ in skipped) and any(f.endswith("garbage.mp4") for f, _ in skipped)
    assert any(f == str(jsonl) and "not among the options" in r for f, r in skipped)
    assert any(f == str(jsonl) and "line 9 is not JSON" in r for f, r in skipped)
    assert any("'/nothing' is not in" in r for _, r in skipped)


def test_sampling_reuses_the_node_sampler(tmp_path):
    """34 -> 32 in production; here 6 -> 4 of 12 frames from a bag, a frame folder and a video."""
    import av
    from PIL import Image

    from spacemind_ros.pipeline.sources import write_image_bag
    from spacemind_ros.train.data import sampling_config
    from spacemind_ros.train.media import sampled_frames

    frames = [np.full((32, 48, 3), 10 + 20 * i, np.uint8) for i in range(12)]
    sampling = sampling_config(6, 1, 2)
    expected = sample_indices(12, sampling)
    assert expected == [2, 4, 7, 9]
    assert sampling_config().target_frames == 32
    write_image_bag(tmp_path / "bag", "/cam", [(i * 100_000_000, f) for i, f in enumerate(frames)])
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(tmp_path / "frames" / f"{i:03d}.png")
    with av.open(str(tmp_path / "v.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    for kind, path in (("bag", tmp_path / "bag"), ("frames", tmp_path / "frames"), ("video", tmp_path / "v.mp4")):
        got = sampled_frames(kind, path, sampling, topic="/cam")
        means = [float(g.mean()) for g in got]
        # frames differ by 20 grey levels: a lossy codec's few levels of error cannot confuse them
        assert means == pytest.approx([10 + 20 * i for i in expected], abs=8 if kind == "video" else 0), kind
    got = sampled_frames("bag", tmp_path / "bag", sampling, topic="/cam", until_ns=5 * 100_000_000)
    assert [float(g.mean()) for g in got] == pytest.approx([10 + 20 * i for i in sample_indices(6, sampling)])


def test_evaluation_scores_greedy_answers_with_the_eval_tools_scorer(run_a, monkeypatch):
    import spacemind_ros.train.trainer as trainer_module

    seen = []

    def score(task, prediction, target):
        seen.append((task, prediction, target))
        return 1.0 if prediction.split(" ")[0].rstrip(".") == target else 0.0

    monkeypatch.setattr(trainer_module, "_official_scorer",
                        lambda: (score, ("object_counting", "object_rel_distance")))
    trainer = run_a["trainer"]
    loss = trainer.evaluate()
    assert loss == run_a["summary"]["eval_loss"]  # evaluation changes nothing
    assert sorted(t for t, _, _ in seen) == ["object_counting"] * 2 + ["object_rel_distance"] * 2
    assert sorted(g for _, _, g in seen) == ["3", "4", "A", "B"]
    assert all(isinstance(p, str) for _, p, _ in seen)
    assert trainer.last_eval_score == sum(score(*x) for x in seen[:4]) / 4


def test_open_answers_are_scored_by_exact_match_and_data_is_reported(run_a, monkeypatch):
    import dataclasses

    import spacemind_ros.train.trainer as trainer_module

    trainer = run_a["trainer"]
    records = [dataclasses.replace(r, task="open", options=[], answer=a)
               for r, a in zip(trainer.eval_records[:2], ["Two", "three"])]
    monkeypatch.setattr(trainer, "eval_records", records)
    monkeypatch.setattr(trainer, "answer", lambda batch, max_new_tokens=16: "two.")
    monkeypatch.setattr(trainer_module, "_official_scorer", lambda: (None, ()))  # never asked about open answers
    trainer.evaluate()
    assert trainer.last_eval_score == 0.5  # "two." is "Two", not "three"
    data = run_a["summary"]["data"]
    assert [(d["split"], d["format"], d["kept"], d["turns"], d["skipped"]) for d in data] == [
        ("train", "scenes", 4, 4, {}), ("eval", "scenes", 4, 4, {})]


def test_held_out_ground_truth_zero_is_counted_not_divided_by(run_a, monkeypatch):
    """A numerical held-out answer of 0 has no relative error: the real scorer refuses it, evaluation counts it and
    goes on (it used to raise ZeroDivisionError before final/ was written)."""
    import dataclasses

    trainer = run_a["trainer"]
    records = list(trainer.eval_records)
    i = next(i for i, r in enumerate(records) if r.task == "object_counting")
    monkeypatch.setattr(trainer, "eval_records", records[:i] + [dataclasses.replace(records[i], answer="0")]
                        + records[i + 1:])
    trainer.evaluate()
    assert trainer.last_eval_unscorable == 1
    assert trainer.last_eval_score is not None  # the other held-out questions were still scored


def test_gradient_checkpointing_and_the_no_cgmf_rung(scenes, tmp_path):
    """Checkpointing recomputes the same numbers; cgmf_variant 'none' trains LoRA only (CGMF stays identity)."""
    plain = Trainer(tiny_config(tmp_path / "a", scenes, "train.max_steps=1", "output.tensorboard=false"))
    ckpt = Trainer(tiny_config(tmp_path / "b", scenes, "train.max_steps=1", "output.tensorboard=false",
                               "train.gradient_checkpointing=true"))
    plain.fit()
    ckpt.fit()
    assert plain.history[0]["loss"] == pytest.approx(ckpt.history[0]["loss"], rel=1e-6)
    a, b = trainable(plain.model), trainable(ckpt.model)
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=1e-5, atol=1e-7)
    none = Trainer(tiny_config(tmp_path / "c", scenes, "train.max_steps=2", "output.tensorboard=false",
                               "model.cgmf_variant=none", "data.eval=[]"))
    cgmf_before = {k: v.clone() for k, v in none.model.cgmf.state_dict().items()}
    none.fit()
    assert set(trainable(none.model)) and all("lora_" in n for n in trainable(none.model))
    assert all(torch.equal(v, none.model.cgmf.state_dict()[k]) for k, v in cgmf_before.items())
    assert not torch.equal(none.model.cgmf.output_proj.weight, plain.model.cgmf.output_proj.weight)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CPU build of torch, or no GPU here)")
def test_bf16_autocast_training_on_cuda(scenes, tmp_path):
    trainer = Trainer(tiny_config(tmp_path, scenes, "train.device=cuda", "train.max_steps=2",
                                  "output.tensorboard=false"))
    assert trainer.autocast and trainer.weights_dtype == torch.bfloat16
    frozen = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if not p.requires_grad}
    summary = trainer.fit()
    assert all(np.isfinite(h["loss"]) for h in trainer.history) and summary["steps"] == 2
    for n, p in trainer.model.named_parameters():
        if p.requires_grad:
            assert p.dtype == torch.float32 and p.device.type == "cuda", n
        else:  # placed like the node: InternVL in bf16, VGGT float32 under autocast
            assert p.dtype == (torch.float32 if n.startswith("vggt.") else torch.bfloat16), n
            assert torch.equal(p, frozen[n]), n
