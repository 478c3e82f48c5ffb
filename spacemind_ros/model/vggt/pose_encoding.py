"""Pose encoding (absT_quaR_FoV) -> OpenCV camera-from-world extrinsics and pinhole intrinsics."""
from __future__ import annotations

import torch


def quat_to_mat(quat: torch.Tensor) -> torch.Tensor:
    """Quaternions ``[..., 4]`` (x, y, z, w; need not be unit) -> rotation matrices ``[..., 3, 3]``."""
    i, j, k, r = torch.unbind(quat, -1)
    two_s = 2.0 / (quat * quat).sum(-1)
    m = torch.stack(
        (
            1 - two_s * (j * j + k * k), two_s * (i * j - k * r), two_s * (i * k + j * r),
            two_s * (i * j + k * r), 1 - two_s * (i * i + k * k), two_s * (j * k - i * r),
            two_s * (i * k - j * r), two_s * (j * k + i * r), 1 - two_s * (i * i + j * j),
        ),
        -1,
    )
    return m.reshape(quat.shape[:-1] + (3, 3))


def pose_encoding_to_extri_intri(pose_enc: torch.Tensor, image_size_hw: tuple[int, int]):
    """pose_enc ``[B, S, 9]`` -> (extrinsic ``[B, S, 3, 4]`` = [R | T], intrinsic ``[B, S, 3, 3]`` in pixels).

    fy = (H/2) / tan(fov_h/2), fx = (W/2) / tan(fov_w/2); the principal point is the image centre.
    """
    T, quat, fov_h, fov_w = pose_enc[..., :3], pose_enc[..., 3:7], pose_enc[..., 7], pose_enc[..., 8]
    extrinsic = torch.cat([quat_to_mat(quat), T[..., None]], dim=-1)
    H, W = image_size_hw
    fy = (H / 2.0) / torch.tan(fov_h / 2.0)
    fx = (W / 2.0) / torch.tan(fov_w / 2.0)
    intrinsic = torch.zeros(pose_enc.shape[:-1] + (3, 3), device=pose_enc.device)
    intrinsic[..., 0, 0] = fx
    intrinsic[..., 1, 1] = fy
    intrinsic[..., 0, 2] = W / 2
    intrinsic[..., 1, 2] = H / 2
    intrinsic[..., 2, 2] = 1.0
    return extrinsic, intrinsic
