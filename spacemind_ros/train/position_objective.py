"""The position stage: CGMF learns to write each visual token's 3D position into the fused token, from the renderer's
depth and poses.

A sample is ``frames`` views of one scene's bag spread over the walk, as in the geometry and category stages. A
visual token covers one cell of the ``g x g`` grid over the (stretched) frame, row-major, as in the category stage;
its target is the mean 3D point of the cell's pixels that have depth, in metres, in two frames: its own camera's
(OpenCV axes: x right, y down, z forward) and the first view's camera (VGGT's world). A linear head on the fused
tokens (``[N, M, d_v] -> [N, M, 6]``) learns with CGMF under the smooth L1 loss; the head exists only during this
stage. The encoders stay frozen, so what the head reads beyond the visual tokens is what CGMF took from VGGT's
tokens: afterwards the LLM gets where each token is in a form a linear layer can read.

Cells with depth on fewer than a quarter of their pixels have no target.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from spacemind_ros.geometry.unproject import unproject_depth
from spacemind_ros.train.category_objective import token_grid
from spacemind_ros.train.geometry_objective import GeometryView, SceneViewsDataset, read_views
from spacemind_ros.train.token_head import TokenHeadLoss

MIN_DEPTH_SHARE = 0.25  # of a cell's pixels, for the cell to have a target
HUBER_BETA_M = 0.5  # smooth L1: quadratic below half a metre, linear above (far walls do not dominate)


def cell_points(view: GeometryView, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """``([grid * grid, 3] mean camera-frame point per cell in metres, [grid * grid] bool has a target)``; cells split
    the frame into equal fractions, row-major (the category stage's cells)."""
    depth = view.depth
    h, w = depth.shape
    if h < grid or w < grid:
        raise ValueError(f"a {w}x{h} depth map has fewer pixels than the {grid}x{grid} token grid")
    v, u = np.mgrid[0:h, 0:w]
    points = unproject_depth(depth[None].astype(np.float64), view.intrinsic[None])[0].reshape(-1, 3)
    cell = ((v * grid // h) * grid + (u * grid // w)).astype(np.int64).ravel()
    has = depth.ravel() > 0
    counts = np.bincount(cell[has], minlength=grid * grid).astype(np.float64)
    sums = np.stack([np.bincount(cell[has], points[has, k], minlength=grid * grid) for k in range(3)], -1)
    pixels = np.bincount(cell, minlength=grid * grid)
    valid = counts >= MIN_DEPTH_SHARE * pixels
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32), valid


def position_targets(views: Sequence[GeometryView], grid: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``([S, grid * grid, 6], [S, grid * grid] bool)``: per view and token cell the mean point in its own camera
    frame (xyz) and in the first view's camera frame (xyz), metres; and which cells have a target."""
    first_from_world = np.linalg.inv(views[0].world_from_camera)
    targets, valid = [], []
    for view in views:
        own, ok = cell_points(view, grid)
        first_from_camera = first_from_world @ view.world_from_camera
        first = own @ first_from_camera[:3, :3].T + first_from_camera[:3, 3]
        targets.append(np.concatenate([own, first.astype(np.float32)], -1))
        valid.append(ok)
    return torch.from_numpy(np.stack(targets)), torch.from_numpy(np.stack(valid))


class PositionTargets(SceneViewsDataset):
    """``{"targets": [S, M, 6], "valid": [S, M]}`` per scene and epoch draw (no pixels: for the baselines)."""

    def __init__(self, bags: list[str], processor, tokens_per_frame: int, frames: int = 8, seed: int = 0):
        super().__init__(bags, processor, frames, seed)
        self.grid = token_grid(tokens_per_frame)

    def sample(self, bag: str, picks: Callable[[int], Sequence[int]]) -> dict:
        return self.targets(read_views(bag, picks))

    def targets(self, views: Sequence[GeometryView]) -> dict:
        targets, valid = position_targets(views, self.grid)
        return {"targets": targets, "valid": valid}


class PositionDataset(PositionTargets):
    """``{"pixels": [S, 3, V, V], "vggt_pixels": [S, 3, H, W], "targets": [S, M, 6], "valid": [S, M]}`` per scene
    and epoch draw."""

    def sample(self, bag: str, picks: Callable[[int], Sequence[int]]) -> dict:
        views = read_views(bag, picks)
        return {"pixels": torch.stack([self.processor.internvl_pixels(v.rgb) for v in views]),
                "vggt_pixels": self.processor.vggt_pixels([v.rgb for v in views]), **self.targets(views)}


def baseline_errors(train_bags: list[str], heldout_bags: list[str], tokens_per_frame: int, frames: int = 8,
                    seed: int = 0, span: float = 1.0) -> dict:
    """What the position stage's held-out score (mean metres between a token's predicted and true position in the
    first view's frame, the same draw of views as the trainer's evaluation) is without the views' relative poses:
    ``camera still``, each token where its own camera frame puts it (as if the camera had not moved); ``training
    mean``, the training tokens' mean position; ``mean per view``, the training tokens' mean at that view's place in
    the sample (which CGMF, fusing each frame on its own, is not told). {name: metres, "views": n}."""
    def draws(bags):
        targets = PositionTargets(bags, None, tokens_per_frame, frames, seed)
        targets.span = span
        return [s for s in (targets[i] for i in range(len(bags))) if isinstance(s, dict)]

    train, heldout = draws(train_bags), draws(heldout_bags)
    if not train or not heldout:
        return {"views": 0}
    per_view = torch.stack([torch.cat([s["targets"][k][s["valid"][k]][:, 3:] for s in train]).mean(0)
                            for k in range(frames)])  # [S, 3]
    mean = torch.cat([s["targets"][s["valid"]][:, 3:] for s in train]).mean(0)  # [3]
    errors: dict[str, list] = {"camera still": [], "training mean": [], "mean per view": []}
    views = 0
    for s in heldout:
        t, v = s["targets"], s["valid"]
        first = t[..., 3:]
        guesses = {"camera still": t[..., :3], "training mean": mean, "mean per view": per_view[:, None]}
        for name, guess in guesses.items():
            errors[name].append((first - guess).norm(dim=-1)[v])
        views += len(t)
    return {name: round(float(torch.cat(e).mean()), 4) for name, e in errors.items()} | {"views": views}


class PositionLoss(TokenHeadLoss):
    """The position stage's head on the fused tokens (frozen encoders -> CGMF -> head): the smooth L1 over the tokens
    with a target; scored by the distance in metres between a token's predicted and true position in the first view's
    frame."""

    def __init__(self, model):
        if not any(p.requires_grad for p in model.cgmf.parameters()):
            raise ValueError("train.objective position trains CGMF: model.trainable must include cgmf and "
                             "model.cgmf_variant must not be none")
        d_v = model.base.config.text_config.hidden_size  # the fused tokens' width
        super().__init__(model, d_v, 6, next(model.cgmf.parameters()).device)

    def predict(self, sample: dict) -> torch.Tensor:
        """``[S, M, 6]`` metres for one sample's views."""
        m = self.model
        with torch.no_grad():  # the encoders are frozen: only CGMF and the head learn
            visual = m.visual_tokens(sample["pixels"])
            spatial = m.spatial_tokens(sample["vggt_pixels"][None])
        fused = m.fuse(visual, spatial)
        return self.head(fused.to(self.head.weight.dtype))

    def sample_loss(self, pred: torch.Tensor, sample: dict) -> torch.Tensor:
        valid = sample["valid"].to(pred.device)
        if not valid.any():  # no cell with depth: nothing to learn (a mean over nothing would be NaN)
            return pred.sum() * 0.0
        return F.smooth_l1_loss(pred.float()[valid], sample["targets"].to(pred.device)[valid], beta=HUBER_BETA_M)

    def sample_score(self, pred: torch.Tensor, sample: dict) -> tuple[float, int]:
        valid = sample["valid"]
        error = (pred.float().cpu()[..., 3:] - sample["targets"][..., 3:]).norm(dim=-1)[valid]
        return float(error.sum()), int(valid.sum())
