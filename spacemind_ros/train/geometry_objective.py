"""The geometry stage: VGGT learns cameras and depth from the synthetic scenes' ground truth, as VGGT was trained.

A sample is ``frames`` views of one scene's bag (spread over the walk, picked per epoch by a seeded draw), with the
ground-truth pose encoding of each view relative to the first one (VGGT's convention: the first camera is the world,
OpenCV axes, translation in metres, quaternion x y z w, field of view in radians) and its depth map (metres along the
optical axis), both transformed like VGGT's input (crop rule at the model's ``vggt_image_size``). Scale stays metric:
the scenes are metric, and what SpaceMind asks of VGGT's tokens afterwards (distances, sizes) is metric too.

Losses (per sample, averaged): camera, L1 on the pose encoding of every camera-head iteration weighted 0.6^(n-i)
(VGGT's weighting), the first view excluded (its pose is the identity by definition); depth, the confidence-weighted
L1 of VGGT's depth head (``conf * |d - d*| - 0.05 log conf`` over pixels with depth); optionally the point map, the
same form on the distance between the point head's and the true 3D point of each pixel in the first camera's frame
(for every view after the first, a target at every pixel that only the views' relative poses can meet)."""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from spacemind_ros.train.config import QUATERNION_SIGNS
from spacemind_ros.train.data import Skipped
from spacemind_ros.train.distributed import zero_loss

IMAGE_TOPIC, DEPTH_TOPIC, POSE_TOPIC, INFO_TOPIC = ("/camera/image_raw", "/camera/depth", "/camera/pose",
                                                    "/camera/camera_info")
CONF_WEIGHT = 0.05  # VGGT's alpha on -log(confidence)
ITERATION_GAMMA = 0.6


@dataclass
class GeometryView:
    rgb: np.ndarray  # [H, W, 3] uint8
    depth: np.ndarray  # [H, W] float32 metres, 0 = no depth
    world_from_camera: np.ndarray  # [4, 4]
    fx: float
    fy: float
    cx: float  # principal point, pixels (OpenCV: integer pixel centres)
    cy: float

    @property
    def intrinsic(self) -> np.ndarray:
        """``[3, 3]`` pixels."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


def read_views(bag: str | Path, picks: Sequence[int] | Callable[[int], Sequence[int]]) -> list[GeometryView]:
    """Views ``picks`` (indices into the image topic's messages, or a function of their count that gives them) of a
    scene bag: image, depth, pose and intrinsics of the same stamp. Raises ValueError naming the bag when a topic or
    a stamp is missing."""
    from rosbags.highlevel import AnyReader

    from spacemind_ros.geometry.poses import quaternion_to_matrix
    from spacemind_ros.images import image_msg_to_array, image_msg_to_rgb8

    wanted: dict[str, dict[int, object]] = {t: {} for t in (IMAGE_TOPIC, DEPTH_TOPIC, POSE_TOPIC, INFO_TOPIC)}
    with AnyReader([Path(bag)]) as reader:
        conns = {c.topic: c for c in reader.connections if c.topic in wanted}
        missing = sorted(set(wanted) - set(conns))
        if missing:
            raise ValueError(f"{bag}: no {', '.join(missing)} (a scene bag from spacemind-scenes has them)")
        stamps = [ts for _, ts, _ in reader.messages(connections=[conns[IMAGE_TOPIC]])]
        if callable(picks):
            picks = picks(len(stamps))
        keep = {stamps[i] for i in picks}
        for conn, ts, raw in reader.messages(connections=list(conns.values())):
            if ts in keep:
                wanted[conn.topic][ts] = reader.deserialize(raw, conn.msgtype)
    views = []
    for ts in (stamps[i] for i in picks):
        try:
            img, depth, pose, info = (wanted[t][ts] for t in (IMAGE_TOPIC, DEPTH_TOPIC, POSE_TOPIC, INFO_TOPIC))
        except KeyError:
            raise ValueError(f"{bag}: the frame at {ts} ns lacks its depth, pose or camera info") from None
        p, q = pose.pose.position, pose.pose.orientation
        world = np.eye(4)
        world[:3, :3] = quaternion_to_matrix(np.array([q.x, q.y, q.z, q.w]))
        world[:3, 3] = (p.x, p.y, p.z)
        d = np.asarray(image_msg_to_array(depth), dtype=np.float32).reshape(depth.height, depth.width)
        views.append(GeometryView(image_msg_to_rgb8(img), np.nan_to_num(d, nan=0.0, posinf=0.0), world,
                                  float(info.k[0]), float(info.k[4]), float(info.k[2]), float(info.k[5])))
    return views


def pose_encoding(views: list[GeometryView]) -> torch.Tensor:
    """``[S, 9]``: each view's camera-from-first-camera translation (m), quaternion (x, y, z, w; w >= 0) and
    field of view (vertical, horizontal; radians) of the original image (the crop rule keeps it when it crops
    nothing, as for 4:3 frames)."""
    from spacemind_ros.geometry.poses import matrix_to_quaternion

    first = views[0].world_from_camera
    out = []
    for v in views:
        rel = np.linalg.inv(v.world_from_camera) @ first  # camera_i from camera_0
        h, w = v.depth.shape
        fov_h, fov_w = 2 * np.arctan(h / 2 / v.fy), 2 * np.arctan(w / 2 / v.fx)
        out.append(np.concatenate([rel[:3, 3], matrix_to_quaternion(rel[:3, :3]), [fov_h, fov_w]]))
    return torch.tensor(np.stack(out), dtype=torch.float32)


def resize_depth(depth: np.ndarray, mode: str, target_size: int) -> torch.Tensor:
    """``[H, W]`` metres -> ``[H', W']`` like ``preprocess_image`` does the image (nearest: no mixed edges)."""
    from spacemind_ros.model.vggt.preprocessing import resized_shape

    h, w = depth.shape
    new_w, new_h = resized_shape(w, h, mode=mode, target_size=target_size)
    out = F.interpolate(torch.from_numpy(depth)[None, None], size=(new_h, new_w), mode="nearest")[0, 0]
    if mode == "crop" and new_h > target_size:
        start = (new_h - target_size) // 2
        out = out[start:start + target_size]
    if mode == "pad":
        dh, dw = target_size - out.shape[0], target_size - out.shape[1]
        out = F.pad(out, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))  # padding has no depth (0)
    return out


def spread_picks(n: int, frames: int, rng: random.Random, span: float = 1.0) -> list[int]:
    """``frames`` sorted indices in ``range(n)``: one drawn from each of ``frames`` equal stretches of a random part
    of the walk ``span`` of its length long (at least ``frames`` frames; 1 = the whole walk). Views close in time
    overlap, so a small ``span`` makes their relative poses learnable before spread ones."""
    if n < frames:
        raise ValueError(f"{n} frames; the geometry stage needs at least {frames}")
    if not 0 < span <= 1:
        raise ValueError(f"span {span}: the share of the walk the views cover, in (0, 1]")
    length = min(n, max(frames, round(span * n)))
    start = rng.randrange(0, n - length + 1) if length < n else 0  # the whole walk draws as it always did
    edges = np.linspace(start, start + length, frames + 1)
    return [rng.randrange(int(a), max(int(a) + 1, int(b))) for a, b in zip(edges, edges[1:])]


def draw(seed: int, epoch: int, index: int, frames: int,
         span: float | tuple[float, float] = 1.0) -> Callable[[int], list[int]]:
    """The views of sample ``index`` in ``epoch``: a function of the walk's frame count, seeded by all three. A
    ``(low, high)`` span draws the sample's own span uniformly between the two first."""
    rng = random.Random(f"{seed}:{epoch}:{index}")
    if isinstance(span, tuple):
        span = rng.uniform(*span)
    return lambda n: spread_picks(n, frames, rng, span)


def epoch_span(epoch: int, epochs: float, span: float, span_from: float | None) -> float:
    """The share of the walk epoch ``epoch`` (0-based) of ``epochs`` draws its views from: ``span_from`` in the first
    epoch, growing linearly to ``span`` by the last (``span`` throughout when ``span_from`` is None)."""
    last = math.ceil(epochs) - 1
    if span_from is None or epoch >= last:  # exactly the span at the end (the interpolation can overshoot 1)
        return span
    return span_from + (span - span_from) * epoch / last


class SceneViewsDataset(Dataset):
    """One sample per (scene bag, epoch draw) of ``frames`` views spread over ``span`` of the walk, or over a share
    drawn per sample from a ``(low, high)`` span (the trainer sets ``epoch`` and ``span`` each epoch);
    ``sample(bag, picks)`` makes it. Unreadable bags come back as :class:`Skipped`, named."""

    def __init__(self, bags: list[str], processor, frames: int = 8, seed: int = 0):
        self.bags, self.processor, self.frames, self.seed = bags, processor, frames, seed
        self.epoch, self.span = 0, 1.0

    def __len__(self) -> int:
        return len(self.bags)

    def __getitem__(self, i: int):
        bag = self.bags[i]
        try:
            return {"index": i, "id": Path(bag).parent.name, "file": bag,
                    **self.sample(bag, draw(self.seed, self.epoch, i, self.frames, self.span))}
        except Exception as exc:  # noqa: BLE001 - one unreadable bag is one skipped sample, named
            return Skipped(Path(bag).parent.name, bag, f"{type(exc).__name__}: {exc}")

    def sample(self, bag: str, picks: Callable[[int], Sequence[int]]) -> dict:
        raise NotImplementedError


def point_maps(views: list[GeometryView]) -> np.ndarray:
    """``[S, H, W, 3]``: each pixel's 3D point in the first view's camera frame (VGGT's world: OpenCV axes, metres),
    from its depth; pixels without depth give the first camera's centre (their depth, 0, marks them)."""
    from spacemind_ros.geometry.unproject import unproject_depth

    first_from_world = np.linalg.inv(views[0].world_from_camera)
    intrinsics = np.stack([v.intrinsic for v in views])
    first_from_camera = np.stack([first_from_world @ v.world_from_camera for v in views])
    depths = np.stack([v.depth for v in views])
    points = unproject_depth(depths, intrinsics, first_from_camera)
    points[depths <= 0] = 0.0
    return points.astype(np.float32)


class GeometryDataset(SceneViewsDataset):
    """``{"images": [S, 3, H, W], "pose_enc": [S, 9], "depth": [S, H, W]}`` per scene and epoch draw, and with
    ``points`` set, ``"points": [S, H, W, 3]`` (``point_maps`` at the model's input size)."""

    points = False

    def sample(self, bag: str, picks: Callable[[int], Sequence[int]]) -> dict:
        views = read_views(bag, picks)
        cfg = self.processor.config

        def resize(a: np.ndarray) -> torch.Tensor:
            return resize_depth(a, cfg.vggt_preprocess_mode, cfg.vggt_image_size)

        out = {"images": self.processor.vggt_pixels([v.rgb for v in views]), "pose_enc": pose_encoding(views),
               "depth": torch.stack([resize(v.depth) for v in views])}
        if self.points:  # each coordinate resized like depth (nearest): the same pixels keep their points
            out["points"] = torch.stack([torch.stack([resize(np.ascontiguousarray(m[..., k])) for k in range(3)], -1)
                                         for m in point_maps(views)])
        return out


def collate_geometry(items: list) -> dict:
    return {"samples": [x for x in items if isinstance(x, dict)],
            "skipped": [x for x in items if isinstance(x, Skipped)]}


class GeometryLoss(nn.Module):
    """What the trainer wraps for the geometry stage: a batch of scenes' views -> camera + weighted depth and point-map
    losses, summed over scenes (scalar). The DPT heads run only when their loss counts."""

    def __init__(self, model, depth_weight: float = 1.0, point_weight: float = 0.0, quaternion_sign: str = "fixed"):
        super().__init__()
        self.model, self.depth_weight, self.point_weight = model, depth_weight, point_weight
        if quaternion_sign not in QUATERNION_SIGNS:
            raise ValueError(f"quaternion_sign {quaternion_sign!r}: choose from {', '.join(QUATERNION_SIGNS)}")
        self.either_sign = quaternion_sign == "either"

    def forward(self, batch: dict | None, features=None) -> torch.Tensor:
        vggt = self.model.vggt
        if batch is None:
            return zero_loss(self.model)
        device = next(vggt.parameters()).device
        total = 0.0
        for s in batch["samples"]:
            images = s["images"].to(device)[None]
            out = vggt(images, layers=(-1,), autocast_dtype=self.model.vggt_autocast,
                       dense=bool(self.depth_weight or self.point_weight))
            total = total + self.camera_loss(out.pose_enc_list, s["pose_enc"].to(device)[None], self.either_sign)
            if out.depth is not None and self.depth_weight:
                total = total + self.depth_weight * self.depth_loss(out.depth[..., 0], out.depth_conf,
                                                                    s["depth"].to(device)[None])
            if self.point_weight:
                if out.world_points is None:
                    raise ValueError("the point-map loss needs VGGT's point head (the trainer builds it)")
                total = total + self.point_weight * self.point_loss(out.world_points, out.world_points_conf,
                                                                    s["points"].to(device)[None],
                                                                    s["depth"].to(device)[None] > 0)
        return total  # summed over samples: the trainer divides by the global batch's samples

    @staticmethod
    def camera_loss(pose_enc_list: list[torch.Tensor], target: torch.Tensor, either_sign: bool = False) -> torch.Tensor:
        """L1 between each camera-head iteration's pose encodings ``[B, S, 9]`` and ``target``'s for the views after
        the first, later iterations weighted more. ``either_sign``: a view's quaternion error is to the nearer of
        q* and -q* (both are its rotation; the target's w >= 0 flips its sign at a half turn)."""
        n = len(pose_enc_list)
        loss = 0.0
        for i, pred in enumerate(pose_enc_list):
            error = (pred[:, 1:] - target[:, 1:]).abs()  # [B, S - 1, 9]
            if either_sign:
                flipped = (pred[:, 1:, 3:7] + target[:, 1:, 3:7]).abs()
                nearer = flipped.sum(-1, keepdim=True) < error[..., 3:7].sum(-1, keepdim=True)
                error = torch.cat([error[..., :3], torch.where(nearer, flipped, error[..., 3:7]), error[..., 7:]], -1)
            loss = loss + ITERATION_GAMMA ** (n - 1 - i) * error.mean()
        return loss

    @staticmethod
    def point_loss(points: torch.Tensor, conf: torch.Tensor, target: torch.Tensor,
                   valid: torch.Tensor) -> torch.Tensor:
        """Confidence-weighted distance (metres) between predicted and true points ``[B, S, H, W, 3]`` over the
        ``valid`` pixels, the depth loss's form."""
        return GeometryLoss.confident_error((points - target).norm(dim=-1), conf, valid)

    @staticmethod
    def depth_loss(depth: torch.Tensor, conf: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return GeometryLoss.confident_error((depth - target).abs(), conf, target > 0)

    @staticmethod
    def confident_error(err: torch.Tensor, conf: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """VGGT's confidence-weighted loss ``conf * err - alpha log conf``, averaged over the ``valid`` pixels (0, still
        attached to the graph, when there are none)."""
        if not valid.any():
            return err.sum() * 0.0
        return (conf * err - CONF_WEIGHT * torch.log(conf))[valid].mean()


@dataclass
class MotionPrior:
    """The mean pose of each view of a sample relative to the first, over training draws (or, from
    ``motion_prior(any_view=True)``, one mean for every view): what a model that learnt how the walks move, and nothing
    of what the frames show, would answer."""
    translation: torch.Tensor  # [S - 1, 3] metres
    rotation: torch.Tensor  # [S - 1, 3, 3] the rotations' chordal mean


def drawn_views(bags: list[str], frames: int, seed: int, span: float, epochs: int = 1):
    """Yields each readable bag's views for each of ``epochs`` draws, drawn as the geometry stage draws them (bags
    that cannot be read are left out, as the stage skips them)."""
    for epoch in range(epochs):
        for i, bag in enumerate(bags):
            try:
                views = read_views(bag, draw(seed, epoch, i, frames, span))
            except Exception:  # noqa: BLE001 - an unreadable bag is left out, as the stage skips it
                continue
            yield views


def training_motions(bags: list[str], frames: int = 8, seed: int = 0, span: float = 1.0,
                     epochs: int = 2) -> torch.Tensor:
    """``[N, S - 1, 9]``: the pose encodings of the views after the first, relative to it, over ``epochs`` draws of
    each of ``bags`` (``drawn_views``). Raises ValueError when no bag can be read."""
    draws = [pose_encoding(views)[1:] for views in drawn_views(bags, frames, seed, span, epochs)]
    if not draws:
        raise ValueError(f"none of the {len(bags)} bags could be read for the motion prior")
    return torch.stack(draws)


def mean_motion(encodings: torch.Tensor, any_view: bool = False) -> MotionPrior:
    """The mean of ``encodings`` ``[N, S - 1, 9]`` per view; ``any_view``: one mean over every view after the first,
    the same for each. VGGT tells the views after the first apart only by what they show (no view index reaches it),
    so that one pose is what it answers when it reads nothing from them; the per-view mean is what a model told the
    view's place in the sample could answer."""
    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat

    views = encodings.shape[1]
    if any_view:
        encodings = encodings.reshape(-1, 1, encodings.shape[-1])
    u, _, vt = torch.linalg.svd(quat_to_mat(encodings[..., 3:7]).mean(0))
    flip = torch.ones(len(u), 3)
    flip[:, 2] = torch.det(u @ vt)  # the nearest rotation, not a reflection
    translation, rotation = encodings[..., :3].mean(0), u @ torch.diag_embed(flip) @ vt
    return MotionPrior(translation.expand(views, 3), rotation.expand(views, 3, 3))


def motion_prior(bags: list[str], frames: int = 8, seed: int = 0, span: float = 1.0, epochs: int = 2,
                 any_view: bool = False) -> MotionPrior:
    """``mean_motion`` of ``training_motions``. Raises ValueError when no bag can be read."""
    return mean_motion(training_motions(bags, frames, seed, span, epochs), any_view)


def view_overlap(bags: list[str], frames: int = 8, seed: int = 0, span: float = 1.0) -> float:
    """The mean share of a view's pixels the next view also sees (``covisible_share``, true depth and poses), over
    consecutive views of one draw of each of ``bags`` (``drawn_views``): how much two neighbouring views give VGGT to
    match. Raises ValueError when no bag can be read."""
    from spacemind_ros.geometry.covisibility import covisible_share

    shares = [covisible_share(a.depth, a.intrinsic, a.world_from_camera, b.depth, b.intrinsic, b.world_from_camera)
              for views in drawn_views(bags, frames, seed, span) for a, b in zip(views, views[1:])]
    if not shares:
        raise ValueError(f"none of the {len(bags)} bags could be read for the views' overlap")
    return float(np.mean(shares))


@torch.no_grad()
def geometry_scores(model, processor, bags: list[str], frames: int = 8, seed: int = 0, span: float = 1.0,
                    priors: dict[str, MotionPrior] | None = None) -> dict:
    """How well VGGT recovers the held-out scenes' ground truth: one draw of ``frames`` views over ``span`` of each
    bag's walk.

    Returns means over views after the first: ``translation_m`` (|t - t*|, metres), ``rotation_deg`` (angle of
    R R*^T), ``fov_deg`` (|fov - fov*|, both axes), and over pixels with depth ``depth_abs_rel`` (|d - d*| / d*)
    and ``depth_delta1`` (share with max(d/d*, d*/d) < 1.25); ``bags`` scored and ``skipped``; and what the guess
    that the camera never moved scores on the same views (``still_translation_m`` |t*|, ``still_rotation_deg`` the
    angle of R*); for each of the training ``priors`` (``motion_prior``s by name), what it scores
    (``{name}_translation_m``, ``{name}_rotation_deg``).
    A VGGT no better than those has not learnt the views' relative poses from the frames. With a point head,
    ``points_m``: the mean distance between predicted and true 3D points in the first camera's frame over the
    pixels with depth of the views after the first."""
    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat

    priors = priors or {}
    for prior in priors.values():
        if len(prior.translation) != frames - 1:
            raise ValueError(f"a motion prior of {len(prior.translation) + 1} views for {frames}-view samples")
    vggt = model.vggt.eval()
    device = next(vggt.parameters()).device
    dataset = GeometryDataset(bags, processor, frames, seed)
    dataset.span, dataset.points = span, vggt.point_head is not None
    per_view = ("translation_m", "rotation_deg", "fov_deg", "still_translation_m", "still_rotation_deg",
                *(f"{name}_{k}" for name in priors for k in ("translation_m", "rotation_deg")))
    sums = {k: 0.0 for k in (*per_view, "depth_abs_rel", "depth_delta1")}
    views = pixels = point_pixels = scored = skipped = 0
    points_m = 0.0
    for i in range(len(dataset)):
        s = dataset[i]
        if isinstance(s, Skipped):
            skipped += 1
            continue
        out = vggt(s["images"].to(device)[None], autocast_dtype=model.vggt_autocast, dense=vggt.has_dense_heads)
        pred, true = out.pose_enc[0, 1:].float().cpu(), s["pose_enc"][1:]
        sums["translation_m"] += float((pred[:, :3] - true[:, :3]).norm(dim=-1).sum())
        true_rotation = quat_to_mat(true[:, 3:7])
        sums["rotation_deg"] += float(rotation_angle_deg(quat_to_mat(pred[:, 3:7]) @ true_rotation.mT).sum())
        sums["still_translation_m"] += float(true[:, :3].norm(dim=-1).sum())
        sums["still_rotation_deg"] += float(rotation_angle_deg(true_rotation).sum())
        for name, prior in priors.items():
            sums[f"{name}_translation_m"] += float((prior.translation - true[:, :3]).norm(dim=-1).sum())
            sums[f"{name}_rotation_deg"] += float(rotation_angle_deg(prior.rotation @ true_rotation.mT).sum())
        sums["fov_deg"] += float(torch.rad2deg((pred[:, 7:] - true[:, 7:]).abs()).mean(-1).sum())
        views += len(true)
        if out.depth is not None:
            d, t = out.depth[0, ..., 0].float().cpu(), s["depth"]
            valid = t > 0
            sums["depth_abs_rel"] += float(((d - t).abs() / t.clamp_min(1e-6))[valid].sum())
            ratio = torch.maximum(d / t.clamp_min(1e-6), t / d.clamp_min(1e-6))[valid]
            sums["depth_delta1"] += float((ratio < 1.25).sum())
            pixels += int(valid.sum())
        if out.world_points is not None:
            valid = s["depth"][1:] > 0
            points_m += float((out.world_points[0, 1:].float().cpu() - s["points"][1:]).norm(dim=-1)[valid].sum())
            point_pixels += int(valid.sum())
        scored += 1
    out = {k: (v / views if k in per_view else v / max(pixels, 1))
           for k, v in sums.items()} if views else {}
    if not pixels:
        out.pop("depth_abs_rel", None), out.pop("depth_delta1", None)
    if point_pixels:
        out["points_m"] = points_m / point_pixels
    return {**{k: round(v, 4) for k, v in out.items()}, "bags": scored, "skipped": skipped}


def rotation_angle_deg(rotation: torch.Tensor) -> torch.Tensor:
    """``[..., 3, 3]`` rotation matrices -> ``[...]`` their rotation angles, degrees."""
    cos = ((rotation.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
    return torch.rad2deg(torch.arccos(cos))
