"""The geometry of one window: VGGT over the sampled frames -> poses, depth, a fused cloud; metric if odometry fits."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from spacemind_ros.geometry.alignment import Similarity, umeyama
from spacemind_ros.geometry.cloud import PointCloud, confidence_mask, voxel_downsample
from spacemind_ros.geometry.odometry import OdometryBuffer
from spacemind_ros.geometry.poses import camera_centres, extrinsic_to_world_from_camera
from spacemind_ros.geometry.unproject import unproject_pixels

CAMERA_FRAME = "camera"  # the first sampled frame's camera (OpenCV optical axes), VGGT's world, up to scale
ODOMETRY_FRAME = "odometry"
THIN_FACTOR = 8  # confident pixels kept before voxelisation: at most this many per point of the budget


@dataclass
class GeometrySettings:
    max_points: int = 50_000  # cloud budget after voxel downsampling
    voxel_size: float = 0.0  # starting voxel edge (world units); 0 = 1/500 of the cloud's extent
    min_confidence: float = 1.0  # VGGT confidences are >= 1
    drop_fraction: float = 0.5  # drop the least confident half of the pixels, as the official demo does
    min_aligned_frames: int = 3  # frames with odometry needed for a similarity fit


@dataclass
class WindowGeometry:
    """Poses, depth and cloud of S sampled frames, in ``frame`` (CAMERA_FRAME or ODOMETRY_FRAME)."""

    frame_stamps: list[int]
    world_from_camera: np.ndarray  # [S, 4, 4] camera (OpenCV axes) -> frame
    intrinsic: np.ndarray  # [S, 3, 3] pixels of the depth image (the VGGT input without its padding)
    image_size: tuple[int, int]  # (H, W) of the depth image
    depth: np.ndarray | None  # [S, H, W] float32 along the optical axis (metres when metric)
    depth_conf: np.ndarray | None  # [S, H, W]
    cloud: PointCloud
    frame: str = CAMERA_FRAME
    odometry_frame_id: str = ""  # header frame of the odometry when frame == ODOMETRY_FRAME
    alignment: Similarity | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> bool:
        return self.frame == ODOMETRY_FRAME

    @property
    def note(self) -> str:
        return " ".join(self.notes)


def valid_intrinsics(intrinsic: np.ndarray) -> np.ndarray:
    """``[S, 3, 3]`` -> ``[S]`` bool: finite, positive focal lengths (a FoV of 0, which VGGT's ReLU allows, gives an
    infinite focal length and no unprojection)."""
    f = np.asarray(intrinsic)[:, [0, 1], [0, 1]]
    return np.isfinite(f).all(1) & (f > 0).all(1)


def predict(vggt, images: torch.Tensor, autocast_dtype: torch.dtype | None = None) -> dict[str, np.ndarray]:
    """VGGT over one window: images ``[S, 3, H, W]`` in [0, 1] -> numpy ``extrinsic [S,3,4]``, ``intrinsic
    [S,3,3]``, and where the heads are built ``depth [S,H,W]``, ``depth_conf``, ``world_points [S,H,W,3]``,
    ``world_points_conf``."""
    from spacemind_ros.model.vggt.pose_encoding import pose_encoding_to_extri_intri

    device = next(vggt.parameters()).device
    images = images.to(device=device, dtype=torch.float32)
    with torch.no_grad():
        out = vggt(images[None], dense=True, autocast_dtype=autocast_dtype)
        extrinsic, intrinsic = pose_encoding_to_extri_intri(out.pose_enc, images.shape[-2:])
    result = {"extrinsic": extrinsic[0], "intrinsic": intrinsic[0]}
    if out.depth is not None:
        result.update(depth=out.depth[0, ..., 0], depth_conf=out.depth_conf[0])
    if out.world_points is not None:
        result.update(world_points=out.world_points[0], world_points_conf=out.world_points_conf[0])
    return {k: v.float().cpu().numpy() for k, v in result.items()}


def crop_to_content(prediction: dict[str, np.ndarray], colors: np.ndarray,
                    boxes: list[tuple[int, int, int, int]]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Keep the pixels that show the frames: ``boxes`` (top, left, height, width) per frame in the VGGT input (see
    ``preprocessing.content_box``). Every map is cropped to the boxes' union and the principal points move with it;
    a pixel outside its own frame's box (mixed sizes) gets NaN depth, points and confidences, so it is in no cloud."""
    b = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    S, H, W = np.asarray(colors).shape[:3]
    if len(b) != S:
        raise ValueError(f"{len(b)} content boxes for {S} frames")
    top, left = int(b[:, 0].min()), int(b[:, 1].min())
    bottom, right = int((b[:, 0] + b[:, 2]).max()), int((b[:, 1] + b[:, 3]).max())
    if not (0 <= top < bottom <= H and 0 <= left < right <= W):
        raise ValueError(f"content boxes {b.tolist()} do not fit the {H}x{W} VGGT images")
    outside = np.ones((S, bottom - top, right - left), dtype=bool)
    for i, (t, l, h, w) in enumerate(b):
        outside[i, t - top:t - top + h, l - left:l - left + w] = False
    if (top, left, bottom, right) == (0, 0, H, W) and not outside.any():
        return prediction, colors
    out = dict(prediction)
    intrinsic = np.array(prediction["intrinsic"], dtype=np.float64, copy=True)
    intrinsic[:, 0, 2] -= left
    intrinsic[:, 1, 2] -= top
    out["intrinsic"] = intrinsic
    for key in ("depth", "depth_conf", "world_points", "world_points_conf"):
        if prediction.get(key) is not None:
            a = np.array(prediction[key][:, top:bottom, left:right], dtype=np.float32, copy=True)
            a[outside] = np.nan
            out[key] = a
    return out, np.ascontiguousarray(np.asarray(colors)[:, top:bottom, left:right])


def build_geometry(prediction: dict[str, np.ndarray], colors: np.ndarray, frame_stamps: list[int],
                   settings: GeometrySettings | None = None,
                   content: list[tuple[int, int, int, int]] | None = None) -> WindowGeometry:
    """A VGGT prediction (see ``predict``) and the frames' colours ``[S, H, W, 3]`` uint8 -> WindowGeometry in the
    first camera's frame, up to scale. The cloud is the depth unprojected with the predicted intrinsics and poses
    (the point head's map where there is no depth head), filtered by confidence and downsampled to the budget.
    ``content``: each frame's box in the VGGT input (``crop_to_content``); depth, intrinsics and cloud then cover
    the frames' pixels only, never the padding."""
    settings = settings or GeometrySettings()
    if content is not None:
        prediction, colors = crop_to_content(prediction, colors, content)
    world_from_camera = extrinsic_to_world_from_camera(prediction["extrinsic"])
    intrinsic = np.asarray(prediction["intrinsic"], dtype=np.float64)
    S = len(world_from_camera)
    if len(frame_stamps) != S or len(colors) != S:
        raise ValueError(f"{S} poses but {len(frame_stamps)} stamps and {len(colors)} colour images")
    notes = ["Up to scale, in the first sampled camera's frame (OpenCV optical axes): no odometry alignment."]
    depth, depth_conf = prediction.get("depth"), prediction.get("depth_conf")
    world_points = prediction.get("world_points")
    usable = valid_intrinsics(intrinsic)
    conf = None
    if depth is not None:
        conf = np.array(depth_conf, copy=True)
        if not usable.all():
            bad = [int(i) + 1 for i in np.flatnonzero(~usable)]
            if world_points is not None:
                conf[~usable] = prediction["world_points_conf"][~usable]
                notes.append(f"Frames {bad} have a degenerate predicted field of view: their cloud comes from the "
                             "point head instead of depth + intrinsics.")
            else:
                conf[~usable] = -np.inf
                notes.append(f"Frames {bad} have a degenerate predicted field of view: left out of the cloud.")
    elif world_points is not None:
        conf = prediction["world_points_conf"]
    else:
        notes.append("No depth or point head is built (geometry_dense_heads off): poses only, empty cloud.")
    cloud = PointCloud.empty()
    if conf is not None:
        # Select and thin pixels first, then unproject only those: a 32-frame 518-px window is 6.5 M pixels.
        f, v, u = np.nonzero(confidence_mask(conf, settings.min_confidence, settings.drop_fraction))
        limit = THIN_FACTOR * settings.max_points
        if len(f) > limit:
            stride = -(-len(f) // limit)
            f, v, u = f[::stride], v[::stride], u[::stride]
        if depth is not None:
            points = unproject_pixels(f, v, u, np.asarray(depth)[f, v, u], intrinsic, world_from_camera)
            if world_points is not None and not usable.all():
                from_head = ~usable[f]
                points[from_head] = world_points[f[from_head], v[from_head], u[from_head]]
        else:
            points = world_points[f, v, u]
        cloud, _ = voxel_downsample(PointCloud(points, np.asarray(colors)[f, v, u]), settings.voxel_size,
                                    settings.max_points, thin_factor=THIN_FACTOR)
    H, W = np.asarray(colors).shape[1:3]
    return WindowGeometry(list(frame_stamps), world_from_camera, intrinsic, (H, W),
                          None if depth is None else np.asarray(depth, np.float32),
                          None if depth_conf is None else np.asarray(depth_conf, np.float32), cloud, notes=notes)


def align_to_odometry(geometry: WindowGeometry, odometry: OdometryBuffer | None,
                      settings: GeometrySettings | None = None) -> WindowGeometry:
    """Map poses, depth and cloud into the odometry frame (metres) by a least-squares similarity from the camera
    centres to the odometry positions at the frame stamps. Leaves the geometry as it is, with a note saying why,
    when there is too little odometry or the path is degenerate."""
    settings = settings or GeometrySettings()
    if geometry.metric:
        return geometry
    if odometry is None or len(odometry) == 0:
        geometry.notes.append("No odometry received.")
        return geometry
    positions, found = odometry.positions_at(geometry.frame_stamps)
    if found.sum() < settings.min_aligned_frames:
        geometry.notes.append(f"Odometry matched {int(found.sum())} of {len(found)} frame stamps; "
                              f"{settings.min_aligned_frames} are needed to align.")
        return geometry
    try:
        sim = umeyama(camera_centres(geometry.world_from_camera)[found], positions[found])
    except ValueError as exc:
        geometry.notes.append(f"Odometry alignment failed: {exc}.")
        return geometry
    geometry.world_from_camera = sim.apply_pose(geometry.world_from_camera)
    if geometry.depth is not None:
        geometry.depth = (geometry.depth * sim.scale).astype(np.float32)
    geometry.cloud = PointCloud(sim.apply(geometry.cloud.points), geometry.cloud.colors)
    geometry.frame, geometry.odometry_frame_id, geometry.alignment = ODOMETRY_FRAME, odometry.frame_id, sim
    geometry.notes = [f"Metric, in the odometry frame {odometry.frame_id or '(unnamed)'}: similarity fit to "
                      f"{sim.count} odometry positions, scale {sim.scale:.4g}, residual RMS {sim.rmse:.3g} m "
                      f"(max {sim.max_error:.3g} m; includes the camera's offset from the odometry frame's child)."]
    return geometry


def compute_window_geometry(vggt, images: torch.Tensor, frame_stamps: list[int],
                            settings: GeometrySettings | None = None, odometry: OdometryBuffer | None = None,
                            autocast_dtype: torch.dtype | None = None,
                            content: list[tuple[int, int, int, int]] | None = None) -> WindowGeometry:
    """images ``[S, 3, H, W]`` in [0, 1] (VGGT input) -> WindowGeometry, aligned to ``odometry`` where it can be;
    ``content`` as ``build_geometry``'s."""
    colors = (images.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    geometry = build_geometry(predict(vggt, images, autocast_dtype), colors, frame_stamps, settings, content)
    return align_to_odometry(geometry, odometry, settings)


def geometry_of_frames(vggt, processor, frames, settings: GeometrySettings | None = None,
                       odometry: OdometryBuffer | None = None,
                       autocast_dtype: torch.dtype | None = None) -> WindowGeometry:
    """Window frames (``stamp_ns``, ``image``, cached ``vggt_input``) -> WindowGeometry, with the same VGGT
    preprocessing as a query (``processor.vggt_frame`` / ``vggt_batch``); depth, intrinsics and cloud cover the
    frames' own pixels (pad mode's white bands cropped off)."""
    from spacemind_ros.model.vggt.preprocessing import content_box

    if len(frames) < 2:
        raise ValueError(f"geometry needs at least 2 frames, got {len(frames)}")
    inputs = [f.vggt_input if f.vggt_input is not None else processor.vggt_frame(f.image) for f in frames]
    images = processor.vggt_batch(inputs)
    mode, size = processor.config.vggt_preprocess_mode, processor.config.vggt_image_size
    content = [content_box(f.image.shape[1], f.image.shape[0], mode, size, tuple(images.shape[-2:])) for f in frames]
    return compute_window_geometry(vggt, images, [f.stamp_ns for f in frames], settings, odometry, autocast_dtype,
                                   content)
