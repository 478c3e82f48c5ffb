"""A short synthetic image sequence for the demo and tests: a camera panning across coloured boxes in a room."""
from __future__ import annotations

import numpy as np


def panning_room(num_frames: int = 48, height: int = 240, width: int = 320, fps: float = 10.0, start_ns: int = 0):
    """``[(stamp_ns, [H, W, 3] uint8 RGB)]``: a floor, a wall and three boxes drifting left as the camera pans."""
    frames = []
    yy, xx = np.mgrid[0:height, 0:width]
    for i in range(num_frames):
        img = np.empty((height, width, 3), np.uint8)
        img[:] = (200, 190, 170)  # wall
        img[yy > height * 0.6] = (120, 90, 60)  # floor
        shift = int(i * width / num_frames)
        for cx, color, size in ((0.3, (200, 40, 40), 40), (0.7, (40, 160, 60), 30), (1.2, (40, 60, 200), 50)):
            x0 = int(cx * width) - shift
            mask = (np.abs(xx - x0) < size) & (np.abs(yy - height * 0.55) < size * 0.8)
            img[mask] = color
        frames.append((start_ns + int(i * 1e9 / fps), img))
    return frames
