"""``spacemind geometry``: the window's sampled frames -> cloud.ply, poses.json, topdown.png."""
from __future__ import annotations

import json

from spacemind_ros.geometry.export import poses_dict, write_all
from spacemind_ros.geometry.window_geometry import GeometrySettings, geometry_of_frames


def run_geometry(args, reasoner, progress) -> int:
    """``reasoner`` holds the frames read from the source; its model's VGGT gets the dense heads (from the VGGT
    checkpoint of ``--model``; random with the tiny preset, and the output says so)."""
    model = reasoner.model
    vggt = model.vggt
    if not vggt.has_dense_heads:
        vggt.add_dense_heads(model.config.vggt_path if args.model else None)
    odometry = None
    if args.odom_topic:
        if not args.bag:
            raise ValueError("--odom-topic needs --bag")
        from spacemind_ros.geometry.bag_odometry import odometry_from_bag

        odometry = odometry_from_bag(args.bag, args.odom_topic)
    frames = reasoner.window.sample()
    progress(f"VGGT geometry over {len(frames)} sampled frames")
    geometry = geometry_of_frames(vggt, reasoner.processor, frames, GeometrySettings(max_points=args.max_points),
                                  odometry, getattr(model, "vggt_autocast", None))
    paths = write_all(geometry, args.out)
    summary = {k: v for k, v in poses_dict(geometry).items() if k != "frames"}
    summary["files"] = {k: str(v) for k, v in paths.items()}
    if not args.model and args.preset == "tiny":
        summary["warning"] = "tiny preset: random weights, untrained; the geometry is not meaningful"
    elif not args.model:
        summary["warning"] = "small preset: VGGT trained on synthetic rooms only; elsewhere the geometry is rough"
    print(json.dumps(summary, indent=1))
    return 0
