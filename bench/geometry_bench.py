"""Cost of the window-geometry post-processing at VGGT-1B sizes (no model): 32 frames of 392x518 depth ->
unprojection, confidence filter, voxel downsampling to the budget. Usage: .venv/bin/python bench/geometry_bench.py"""
import time

import numpy as np

from spacemind_ros.geometry.window_geometry import GeometrySettings, build_geometry


def main(S: int = 32, H: int = 392, W: int = 518, repeats: int = 3) -> None:
    rng = np.random.default_rng(0)
    yaw = np.linspace(0, 1.5, S)
    extrinsic = np.zeros((S, 3, 4), np.float32)
    extrinsic[:, 0, 0] = extrinsic[:, 2, 2] = np.cos(yaw)
    extrinsic[:, 0, 2], extrinsic[:, 2, 0] = np.sin(yaw), -np.sin(yaw)
    extrinsic[:, 1, 1] = 1
    extrinsic[:, :, 3] = rng.normal(size=(S, 3)) * 0.3
    K = np.tile(np.array([[400, 0, W / 2], [0, 400, H / 2], [0, 0, 1]], np.float32), (S, 1, 1))
    prediction = dict(extrinsic=extrinsic, intrinsic=K,
                      depth=rng.uniform(1, 5, (S, H, W)).astype(np.float32),
                      depth_conf=rng.uniform(1, 10, (S, H, W)).astype(np.float32))
    colors = rng.integers(0, 255, (S, H, W, 3), dtype=np.uint8)
    for budget in (50_000, 200_000):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            geo = build_geometry(prediction, colors, list(range(S)), GeometrySettings(max_points=budget))
            times.append(time.perf_counter() - t)
        print(f"S={S} {H}x{W} ({S * H * W / 1e6:.1f} M pixels) budget {budget}: {len(geo.cloud)} points, "
              f"median {np.median(times):.2f} s over {repeats}")


if __name__ == "__main__":
    main()
