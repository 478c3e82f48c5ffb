"""Window geometry to files: the cloud as PLY, poses as JSON, a top-down PNG of trajectory and cloud."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from spacemind_ros.geometry.cloud import PointCloud
from spacemind_ros.geometry.poses import matrix_to_quaternion
from spacemind_ros.geometry.window_geometry import WindowGeometry


def write_ply(cloud: PointCloud, path: str | Path) -> None:
    """Binary little-endian PLY: float x y z, uchar red green blue (MeshLab, CloudCompare, Open3D read it)."""
    records = np.zeros(len(cloud), dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"),
                                          ("red", "u1"), ("green", "u1"), ("blue", "u1")])
    for k, name in enumerate("xyz"):
        records[name] = cloud.points[:, k]
    for k, name in enumerate(("red", "green", "blue")):
        records[name] = cloud.colors[:, k]
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(cloud)}\n"
              "property float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(records.tobytes())


def read_ply(path: str | Path) -> PointCloud:
    """Reads what write_ply writes (tests, tools)."""
    blob = Path(path).read_bytes()
    end = blob.index(b"end_header\n") + len(b"end_header\n")
    n = int(next(line for line in blob[:end].decode().splitlines() if line.startswith("element vertex")).split()[-1])
    records = np.frombuffer(blob, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"),
                                         ("blue", "u1")], count=n, offset=end)
    return PointCloud(np.stack([records[c] for c in "xyz"], 1), np.stack([records[c] for c in ("red", "green", "blue")], 1))


def poses_dict(geometry: WindowGeometry) -> dict:
    """JSON-ready poses: per frame the stamp, position, quaternion (x, y, z, w) and intrinsics; frame and scale."""
    quats = matrix_to_quaternion(geometry.world_from_camera[:, :3, :3])
    frames = [{"stamp_ns": int(s), "position": T[:3, 3].tolist(), "orientation_xyzw": q.tolist(),
               "fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2])}
              for s, T, q, K in zip(geometry.frame_stamps, geometry.world_from_camera, quats, geometry.intrinsic)]
    sim = geometry.alignment
    return {
        "frame": geometry.odometry_frame_id if geometry.metric else "first sampled camera (OpenCV optical axes)",
        "metric": geometry.metric,
        "scale": sim.scale if sim else 1.0,
        "residual_rms_m": sim.rmse if sim else None,
        "image_size_hw": list(geometry.image_size),
        "points": len(geometry.cloud),
        "note": geometry.note,
        "frames": frames,
    }


def topdown_png(geometry: WindowGeometry, path: str | Path, size: int = 800) -> None:
    """Cloud and camera trajectory seen from above: the odometry x-y plane (metric), or the first camera's x-z
    plane (y points down in OpenCV axes). Start in green, end in red."""
    from PIL import Image, ImageDraw

    axes = (0, 1) if geometry.metric else (0, 2)
    centres = geometry.world_from_camera[:, :3, 3][:, axes]
    pts = geometry.cloud.points[:, axes].astype(np.float64)
    everything = np.concatenate([centres, pts]) if len(pts) else centres
    lo, hi = np.percentile(everything, 1, axis=0), np.percentile(everything, 99, axis=0)
    lo, hi = np.minimum(lo, centres.min(0)), np.maximum(hi, centres.max(0))
    span = max(float((hi - lo).max()), 1e-9)
    margin = 20

    def px(xy):
        uv = (np.asarray(xy) - lo) / span * (size - 2 * margin) + margin
        return np.stack([uv[:, 0], size - uv[:, 1]], 1)  # image rows grow downwards: flip the second axis

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if len(pts):
        uv = np.rint(px(pts)).astype(int)
        keep = (uv >= 0).all(1) & (uv < size).all(1)
        canvas = np.asarray(img).copy()
        canvas[uv[keep, 1], uv[keep, 0]] = geometry.cloud.colors[keep]
        img = Image.fromarray(canvas)
        draw = ImageDraw.Draw(img)
    track = [tuple(p) for p in px(centres)]
    if len(track) > 1:
        draw.line(track, fill=(0, 0, 0), width=2)
    for i, (u, v) in enumerate(track):
        colour = (0, 160, 0) if i == 0 else (200, 0, 0) if i == len(track) - 1 else (0, 0, 0)
        draw.ellipse([u - 4, v - 4, u + 4, v + 4], outline=colour, width=2)
    unit = "m" if geometry.metric else "VGGT units (up to scale)"
    draw.text((8, 6), f"{'odometry x-y' if geometry.metric else 'camera x-z'}; {span:.3g} {unit} across; "
              f"{len(pts)} points, {len(centres)} cameras", fill=(0, 0, 0))
    img.save(path)


def write_all(geometry: WindowGeometry, out: str | Path) -> dict[str, Path]:
    """cloud.ply, poses.json, topdown.png in ``out`` (created)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"cloud": out / "cloud.ply", "poses": out / "poses.json", "topdown": out / "topdown.png"}
    write_ply(geometry.cloud, paths["cloud"])
    paths["poses"].write_text(json.dumps(poses_dict(geometry), indent=1))
    topdown_png(geometry, paths["topdown"])
    return paths
