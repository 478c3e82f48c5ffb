"""One global batch's gradient, as the trainer accumulates it: ``python -m tests.grad_probe CONFIG OUT`` (under
torchrun for several ranks). Dropout off, so every split of the batch computes the same function; rank 0 writes
the trainable weights' gradients to OUT (safetensors) with the micro-batches' answer-token counts in its metadata."""
from __future__ import annotations

import json
import sys

import torch
from safetensors.torch import save_file

from spacemind_ros.train.config import load_config
from spacemind_ros.train.distributed import barrier, shutdown
from spacemind_ros.train.trainer import Trainer


def step_gradient(config) -> tuple[dict[str, torch.Tensor], list[int], Trainer]:
    trainer = Trainer(config)
    trainer.loss_module.eval()
    batches = iter(trainer._loader(0))
    micro = [next(batches) for _ in range(trainer.accum)]
    trainer.accumulate(micro)
    grads = {n: p.grad.detach().clone() for n, p in trainer.loss_module.named_parameters()
             if p.requires_grad and p.grad is not None}
    return grads, [trainer.loss_units(b) for b in micro], trainer


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    grads, units, trainer = step_gradient(load_config(argv[0], []))
    if trainer.dist.is_main:
        save_file({n: g.contiguous() for n, g in grads.items()}, argv[1], metadata={"units": json.dumps(units)})
    barrier(trainer.dist)  # both ranks leave together: gloo's threads never outlive the group
    shutdown(trainer.dist)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
