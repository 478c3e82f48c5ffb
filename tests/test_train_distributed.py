"""The DDP path: the same CLI under torchrun, 2 processes on a CPU gloo group."""
import json
import os
import socket
import subprocess
import sys

import torch
from safetensors.torch import load_file

from spacemind_ros.train.config import render_yaml
from spacemind_ros.train.trainer import Trainer
from tests.train_helpers import tiny_config, write_scenes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_keep_replicas_identical_and_match_one_process(tmp_path):
    scenes = write_scenes(tmp_path / "scenes")
    common = ("train.max_steps=3", "output.tensorboard=false", "output.save_every=0")
    config = tmp_path / "ddp.yaml"
    config.write_text(render_yaml(tiny_config(tmp_path / "ddp", scenes, *common)))
    env = dict(os.environ, OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), "-m", "spacemind_ros.train.cli", "--config", str(config)],
        env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["accumulation"] == 1 and summary["steps"] == 3
    assert summary["samples_seen"] == 6
    assert summary["replicas_identical"] and len(summary["replica_digests"]) == 2
    # One process with 2 accumulated micro-batches sees the same samples per step: same weights up to rounding.
    single = Trainer(tiny_config(tmp_path / "single", scenes, *common))
    single.fit()
    ddp = load_file(str(tmp_path / "ddp" / "final" / "trainer_state" / "trainable.safetensors"))
    ours = {n: p.detach() for n, p in single.model.named_parameters() if p.requires_grad}
    assert ddp.keys() == ours.keys()
    for n in ours:
        torch.testing.assert_close(ddp[n], ours[n], rtol=1e-3, atol=1e-4, msg=n)
