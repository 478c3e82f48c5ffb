"""A linear head on per-token features, trained against per-token targets the renderer knows, and never served.

The category stage (InternViT's tokens -> class shares) and the position stage (CGMF's fused tokens -> 3D points)
share it: a subclass says how a sample's views become head outputs (``predict``), what the loss of one sample is and
how a held-out sample scores. Held-out evaluation runs the encoders once a sample for both the loss and the score.
"""
from __future__ import annotations

import torch
from torch import nn

from spacemind_ros.train.distributed import zero_loss


class TokenHeadLoss(nn.Module):
    """The trainer's module for a dense token objective: a batch of samples -> the per-sample losses summed (scalar;
    the trainer divides by the global batch's samples)."""

    def __init__(self, model: nn.Module, width: int, outputs: int, device: torch.device):
        super().__init__()
        self.model = model
        self.head = nn.Linear(width, outputs)  # trained here, never saved with the model
        self.head.to(device=device)

    def predict(self, sample: dict) -> torch.Tensor:
        """``[S, M, outputs]`` for one sample's ``S`` views of ``M`` tokens."""
        raise NotImplementedError

    def sample_loss(self, pred: torch.Tensor, sample: dict) -> torch.Tensor:
        """The loss of one sample (scalar)."""
        raise NotImplementedError

    def sample_score(self, pred: torch.Tensor, sample: dict) -> tuple[float, int]:
        """(summed score, tokens scored) of one held-out sample."""
        raise NotImplementedError

    def forward(self, batch: dict | None, features=None) -> torch.Tensor:
        if batch is None:
            return zero_loss(self)  # the model's and the head's trainable weights (its bias and any scale too)
        total = 0.0
        for s in batch["samples"]:
            total = total + self.sample_loss(self.predict(s), s)
        return total

    @torch.no_grad()
    def evaluate(self, batch: dict) -> tuple[float, float, int]:
        """(summed loss, summed score, tokens scored) over a held-out batch, from one prediction a sample."""
        loss = score = 0.0
        count = 0
        for s in batch["samples"]:
            pred = self.predict(s)
            loss += float(self.sample_loss(pred, s))
            value, tokens = self.sample_score(pred, s)
            score, count = score + value, count + tokens
        return loss, score, count
