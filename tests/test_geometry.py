"""Window geometry (ROS-free): poses, unprojection, confidence filter, voxel budget, similarity alignment."""
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from spacemind_ros.geometry import (
    PointCloud,
    camera_centres,
    confidence_mask,
    extrinsic_to_world_from_camera,
    matrix_to_quaternion,
    umeyama,
    unproject_depth,
    voxel_downsample,
)
from spacemind_ros.geometry.odometry import OdometryBuffer
from spacemind_ros.geometry.poses import quaternion_to_matrix
from spacemind_ros.geometry.window_geometry import (
    CAMERA_FRAME,
    ODOMETRY_FRAME,
    GeometrySettings,
    align_to_odometry,
    build_geometry,
    compute_window_geometry,
)
from spacemind_ros.model.vggt import VGGT, VGGTConfig

DATA = Path(__file__).parent / "data" / "vggt"


def random_rotation(rng):
    q = rng.normal(size=4)
    return quaternion_to_matrix(q / np.linalg.norm(q))


def test_quaternion_round_trip_and_ros_order():
    rng = np.random.default_rng(0)
    for _ in range(50):
        R = random_rotation(rng)
        q = matrix_to_quaternion(R)
        assert q[3] >= 0 and np.isclose(np.linalg.norm(q), 1)
        np.testing.assert_allclose(quaternion_to_matrix(q), R, atol=1e-12)
    # 90 degrees about z: (x, y, z, w) = (0, 0, sin 45, cos 45)
    Rz = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    np.testing.assert_allclose(matrix_to_quaternion(Rz), [0, 0, np.sqrt(0.5), np.sqrt(0.5)], atol=1e-12)
    # 180 degrees about x: the trace is -1, the branch that avoids a zero divisor
    np.testing.assert_allclose(matrix_to_quaternion(np.diag([1.0, -1, -1])), [1, 0, 0, 0], atol=1e-12)


def test_world_from_camera_inverts_the_extrinsic():
    rng = np.random.default_rng(1)
    R, t = random_rotation(rng), rng.normal(size=3)
    extrinsic = np.concatenate([R, t[:, None]], 1)[None]
    T = extrinsic_to_world_from_camera(extrinsic)
    p_world = rng.normal(size=3)
    p_cam = R @ p_world + t
    np.testing.assert_allclose(T[0, :3, :3] @ p_cam + T[0, :3, 3], p_world, atol=1e-12)
    np.testing.assert_allclose(camera_centres(T)[0], -R.T @ t, atol=1e-12)


def test_unproject_known_pixels():
    K = np.array([[[100.0, 0, 20], [0, 50, 10], [0, 0, 1]]])
    depth = np.full((1, 21, 41), 2.0)
    pts = unproject_depth(depth, K)
    np.testing.assert_allclose(pts[0, 10, 20], [0, 0, 2])  # the principal point lies on the optical axis
    np.testing.assert_allclose(pts[0, 0, 40], [(40 - 20) / 100 * 2, (0 - 10) / 50 * 2, 2])
    # Project back: K p / z is the pixel again
    uvw = np.einsum("ij,hwj->hwi", K[0], pts[0])
    np.testing.assert_allclose(uvw[..., 0] / uvw[..., 2], np.broadcast_to(np.arange(41), (21, 41)), atol=1e-12)
    # With a pose: a camera 1 m along world x, turned 90 degrees about y, sees its optical axis along world +x
    T = np.eye(4)
    T[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]
    T[:3, 3] = [1, 0, 0]
    np.testing.assert_allclose(unproject_depth(depth, K, T[None])[0, 10, 20], [3, 0, 0], atol=1e-12)
    with pytest.raises(ValueError, match="intrinsic must be"):
        unproject_depth(depth, np.eye(3))


def test_covisible_share_by_hand():
    """A camera facing a wall 2 m away, 40x20 px, 90-degree horizontal field of view (fx = 20)."""
    from spacemind_ros.geometry.covisibility import covisible_share

    K = np.array([[20.0, 0, 19.5], [0, 20, 9.5], [0, 0, 1]])  # principal point at the image's centre
    wall = np.full((20, 40), 2.0)
    eye = np.eye(4)
    assert covisible_share(wall, K, eye, wall, K, eye) == 1.0  # the same view
    behind = np.diag([-1.0, 1, -1, 1])  # turned 180 degrees about the vertical: the wall is behind it
    assert covisible_share(wall, K, eye, wall, K, behind) == 0.0
    # 1 m to the right, facing the same wall: its image starts 10 columns into ours, so our right 30 columns land in it
    right = np.eye(4)
    right[0, 3] = 1.0
    assert covisible_share(wall, K, eye, wall, K, right) == pytest.approx(30 / 40)
    # 1 m closer to the wall: our image covers twice its width and height, so its middle 20x10 pixels of ours remain
    closer = np.eye(4)
    closer[2, 3] = 1.0
    assert covisible_share(wall, K, eye, np.full((20, 40), 1.0), K, closer) == pytest.approx(0.25)
    # Turned 30 degrees towards the half of our view that has depth: it sees nearly all of it (the corners nearest our
    # axis leave its image at the top and bottom); turned away, at most the 5 columns within 15 degrees of our axis
    half = wall.copy()
    half[:, :20] = 0.0
    far = np.full((20, 40), 100.0)  # nothing in front of the wall from the turned cameras
    turns = {}
    for name, angle in (("towards", np.radians(30)), ("away", -np.radians(30))):
        turned = np.eye(4)  # OpenCV axes: x right, y down, z ahead; a positive angle turns the view right
        turned[:3, :3] = [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]]
        turns[name] = covisible_share(half, K, eye, far, K, turned)
    assert turns["towards"] > 0.9 and 0.1 < turns["away"] <= 5 / 20
    # The same camera with a box 1 m away filling its left half: the wall behind the box is hidden
    boxed = wall.copy()
    boxed[:, :20] = 1.0
    assert covisible_share(wall, K, eye, boxed, K, eye) == pytest.approx(0.5)
    assert covisible_share(np.zeros((20, 40)), K, eye, wall, K, eye) == 0.0  # no depth, nothing to share


def test_unprojection_round_trips_through_the_reference_cameras():
    """Depth unprojected into the first camera's frame with the reference cameras, then moved back into each
    camera by its extrinsic, has z equal to the depth (float32 rotations are orthonormal to ~1e-7)."""
    ref = load_file(str(DATA / "tiny_vggt_io.safetensors"))
    depth = ref["case_b.depth"][0, ..., 0].double().numpy()
    extrinsic = ref["case_b.extrinsic"][0].double().numpy()
    K = ref["case_b.intrinsic"][0].double().numpy()
    pts = unproject_depth(depth, K, extrinsic_to_world_from_camera(extrinsic))
    cam = np.einsum("sij,shwj->shwi", extrinsic[:, :, :3], pts) + extrinsic[:, None, None, :, 3]
    np.testing.assert_allclose(cam[..., 2], depth, rtol=1e-5)  # back in each camera, z is the depth


def test_confidence_mask():
    conf = np.array([1.0, 1.5, 2.0, 3.0, np.nan, 10.0])
    assert confidence_mask(conf, 1.0).tolist() == [True, True, True, True, False, True]
    assert confidence_mask(conf, 2.0).tolist() == [False, False, True, True, False, True]
    assert confidence_mask(conf, 1.0, drop_fraction=0.5).tolist() == [False, False, True, True, False, True]
    with pytest.raises(ValueError):
        confidence_mask(conf, drop_fraction=1.0)


def test_voxel_downsample_averages_and_meets_the_budget():
    pts = np.array([[0.1, 0.1, 0.1], [0.3, 0.3, 0.3], [1.5, 0.2, 0.2], [1.7, 0.2, 0.2]])
    cols = np.array([[0, 0, 0], [100, 100, 100], [255, 0, 0], [255, 0, 10]])
    out, size = voxel_downsample(PointCloud(pts, cols), voxel_size=1.0, max_points=10)
    assert size == 1.0 and len(out) == 2
    np.testing.assert_allclose(out.points, [[0.2, 0.2, 0.2], [1.6, 0.2, 0.2]], atol=1e-6)
    assert out.colors.tolist() == [[50, 50, 50], [255, 0, 5]]
    rng = np.random.default_rng(2)
    big = PointCloud(rng.uniform(-5, 5, (20000, 3)), rng.integers(0, 255, (20000, 3)))
    for budget in (1, 50, 1000):
        small, size = voxel_downsample(big, voxel_size=0.01, max_points=budget)
        assert 0 < len(small) <= budget
        assert small.points.min() >= -5 and small.points.max() <= 5
    assert len(voxel_downsample(PointCloud.empty(), 0.1, 10)[0]) == 0


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(3)
    src = rng.normal(size=(30, 3))
    R, s, t = random_rotation(rng), 2.5, np.array([1.0, -2.0, 0.5])
    sim = umeyama(src, s * src @ R.T + t)
    assert sim.scale == pytest.approx(s, rel=1e-10)
    np.testing.assert_allclose(sim.rotation, R, atol=1e-10)
    np.testing.assert_allclose(sim.translation, t, atol=1e-10)
    assert sim.rmse < 1e-10 and sim.count == 30


def test_umeyama_planar_path_and_noise_residual():
    """A ground robot moves in a plane (rank-2 covariance): still a unique proper rotation. Isotropic noise of
    sigma per axis on the targets leaves an RMS residual near sigma*sqrt(3*(N-7)/N) (7 fitted parameters)."""
    rng = np.random.default_rng(4)
    n, sigma = 400, 0.05
    src = np.c_[rng.uniform(-3, 3, (n, 2)), np.zeros(n)]
    R, s, t = random_rotation(rng), 0.7, np.array([3.0, 1.0, -1.0])
    clean = s * src @ R.T + t
    exact = umeyama(src, clean)
    np.testing.assert_allclose(exact.rotation, R, atol=1e-9)
    sim = umeyama(src, clean + rng.normal(scale=sigma, size=clean.shape))
    expected = sigma * np.sqrt(3 * (n - 7) / n)
    assert sim.rmse == pytest.approx(expected, rel=0.1)
    assert sim.scale == pytest.approx(s, rel=0.02)
    assert np.degrees(np.arccos(np.clip((np.trace(sim.rotation.T @ R) - 1) / 2, -1, 1))) < 2.0


def test_umeyama_refuses_degenerate_paths():
    line = np.c_[np.arange(5.0), np.zeros(5), np.zeros(5)]
    with pytest.raises(ValueError, match="collinear"):
        umeyama(line, line * 2)
    with pytest.raises(ValueError, match="at least 3"):
        umeyama(line[:2], line[:2])


def test_odometry_buffer_interpolates_and_bounds():
    odo = OdometryBuffer(max_samples=3, max_gap_s=0.5)
    for i in range(5):
        odo.add(i * 1_000_000_000, (i, 2 * i, 0), "odom")
    odo.add(1, (9, 9, 9))  # out of order: dropped
    assert len(odo) == 3 and odo.frame_id == "odom"  # bounded: the oldest went
    pos, found = odo.positions_at([2_500_000_000, 4_200_000_000, 1_000_000_000, 9_000_000_000])
    assert found.tolist() == [True, True, False, False]
    np.testing.assert_allclose(pos[0], [2.5, 5, 0])
    np.testing.assert_allclose(pos[1], [4, 8, 0])  # past the newest sample but within the gap: nearest


def synthetic_window(rng, n=6):
    """Cameras on a planar arc looking inwards, a known world-from-camera per frame; depth of a flat wall."""
    poses = []
    for i in range(n):
        a = 0.3 * i
        R = quaternion_to_matrix([0, np.sin(a / 2), 0, np.cos(a / 2)])  # yaw about the camera's y (down) axis
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, [np.sin(a), 0.1 * i, 1 - np.cos(a)]
        poses.append(T)
    poses = np.stack(poses)
    extrinsic = np.linalg.inv(poses)[:, :3, :]
    H, W = 14, 28
    K = np.tile(np.array([[20.0, 0, W / 2], [0, 20, H / 2], [0, 0, 1]]), (n, 1, 1))
    depth = np.full((n, H, W), 2.0) + rng.uniform(0, 0.1, (n, H, W))
    conf = np.ones((n, H, W)) * 5
    conf[:, :, : W // 2] = 1.0  # left halves unconfident
    prediction = dict(extrinsic=extrinsic, intrinsic=K, depth=depth, depth_conf=conf)
    colors = rng.integers(0, 255, (n, H, W, 3)).astype(np.uint8)
    return prediction, colors, poses


def test_build_geometry_and_align_to_odometry():
    rng = np.random.default_rng(5)
    prediction, colors, poses = synthetic_window(rng)
    stamps = [int(1e9) + i * 200_000_000 for i in range(len(poses))]
    settings = GeometrySettings(max_points=300, drop_fraction=0.0, min_confidence=2.0)
    geo = build_geometry(prediction, colors, stamps, settings)
    assert geo.frame == CAMERA_FRAME and not geo.metric and "Up to scale" in geo.note
    np.testing.assert_allclose(geo.world_from_camera, poses, atol=1e-12)
    assert 0 < len(geo.cloud) <= 300
    # Only the confident right halves survive: every point is on the +x side of its camera
    raw = unproject_depth(prediction["depth"], prediction["intrinsic"])
    assert (raw[:, :, prediction["intrinsic"][0, 0, 2].astype(int):, 0] >= 0).all()

    # Odometry: the same path in metres, scaled by 3, rotated and shifted; positions published at 50 Hz
    R, s, t = random_rotation(rng), 3.0, np.array([10.0, -4.0, 0.2])
    odo = OdometryBuffer()
    for k in range(0, 70):
        ts = int(1e9) + k * 20_000_000
        frame = min(int(round((ts - 1e9) / 200_000_000)), len(poses) - 1)
        if (ts - 1e9) % 200_000_000 == 0:
            odo.add(ts, s * R @ poses[frame, :3, 3] + t, "odom")
    before = geo.cloud.points.copy()
    aligned = align_to_odometry(geo, odo, settings)
    assert aligned.metric and aligned.odometry_frame_id == "odom"
    assert aligned.alignment.scale == pytest.approx(s, rel=1e-9) and aligned.alignment.rmse < 1e-9
    np.testing.assert_allclose(aligned.world_from_camera[:, :3, :3], R @ poses[:, :3, :3], atol=1e-9)
    np.testing.assert_allclose(aligned.cloud.points, s * before.astype(np.float64) @ R.T + t, atol=1e-3)
    assert aligned.depth.max() > 2.0 * s * 0.99
    assert "Metric, in the odometry frame odom" in aligned.note and "residual RMS" in aligned.note


def test_alignment_explains_why_it_did_not_happen():
    rng = np.random.default_rng(6)
    prediction, colors, poses = synthetic_window(rng, n=4)
    stamps = [i * 1_000_000_000 for i in range(4)]
    geo = align_to_odometry(build_geometry(prediction, colors, stamps), None)
    assert not geo.metric and "No odometry received" in geo.note
    odo = OdometryBuffer(max_gap_s=0.1)
    odo.add(0, (0, 0, 0), "odom")
    odo.add(1_000_000_000, (1, 0, 0), "odom")
    geo = align_to_odometry(build_geometry(prediction, colors, stamps), odo)
    assert not geo.metric and "matched 2 of 4" in geo.note
    straight = OdometryBuffer()
    for i in range(4):
        straight.add(i * 1_000_000_000, (i, 0, 0), "odom")
    geo = align_to_odometry(build_geometry(prediction, colors, stamps), straight)
    assert not geo.metric and "collinear" in geo.note


def test_poses_only_without_heads():
    rng = np.random.default_rng(7)
    prediction, colors, poses = synthetic_window(rng, n=3)
    del prediction["depth"], prediction["depth_conf"]
    geo = build_geometry(prediction, colors, [1, 2, 3])
    assert len(geo.cloud) == 0 and geo.depth is None and "poses only" in geo.note


def test_compute_window_geometry_with_the_tiny_reference_model():
    ref = load_file(str(DATA / "tiny_vggt_io.safetensors"))
    model = VGGT.from_pretrained(DATA / "tiny_vggt.safetensors",
                                 config=VGGTConfig.tiny(enable_depth=True, enable_point=True))
    images = ref["case_a.images"][0]
    geo = compute_window_geometry(model, images, [10, 20, 30], GeometrySettings(max_points=100))
    assert geo.world_from_camera.shape == (3, 4, 4) and geo.depth.shape == (3, 56, 56)
    np.testing.assert_allclose(geo.depth, ref["case_a.depth"][0, ..., 0].numpy(), rtol=1e-4, atol=1e-4)
    expected_T = extrinsic_to_world_from_camera(ref["case_a.extrinsic"][0].double().numpy())
    np.testing.assert_allclose(geo.world_from_camera, expected_T, atol=1e-4)
    assert 0 < len(geo.cloud) <= 100 and geo.cloud.colors.dtype == np.uint8
    assert geo.image_size == (56, 56)
    torch.testing.assert_close(torch.from_numpy(geo.intrinsic).float(), ref["case_a.intrinsic"][0], rtol=1e-4,
                               atol=1e-4)


def test_content_box_is_where_the_frame_lies_in_the_vggt_input():
    from spacemind_ros.model.vggt.preprocessing import content_box, preprocess_image, stack_images

    def outside(img, box):
        t, l, h, w = box
        mask = torch.ones(img.shape, dtype=torch.bool)
        mask[:, t:t + h, l:l + w] = False
        return img[:, t:t + h, l:l + w], img[mask]

    for mode in ("pad", "crop"):
        for w, h in ((640, 480), (480, 640), (1280, 400)):
            img = preprocess_image(np.zeros((h, w, 3), np.uint8), mode, 518)  # a black frame
            inside, rest = outside(img, content_box(w, h, mode, 518))
            assert (inside == 0).all() and (rest == 255).all(), (mode, w, h)
    assert content_box(640, 480, "pad", 518) == (63, 0, 392, 518)  # the 8B default: 63 white rows above
    assert content_box(640, 480, "crop", 518) == (0, 0, 392, 518)
    # a batch of mixed sizes: stack_images pads the landscape frame below the portrait one's height
    sizes = ((640, 480), (480, 640))
    batch = stack_images([preprocess_image(np.zeros((h, w, 3), np.uint8), "crop", 518) for w, h in sizes])
    for i, (w, h) in enumerate(sizes):
        inside, rest = outside(batch[i], content_box(w, h, "crop", 518, canvas=tuple(batch.shape[-2:])))
        assert (inside == 0).all() and (rest == 1).all()


def test_pad_mode_geometry_covers_the_frames_pixels_only():
    """With vggt_preprocess_mode pad (the 8B default) depth, intrinsics and cloud lose the white bands; crop mode,
    where there are none, is unchanged."""
    import dataclasses

    from spacemind_ros.geometry.window_geometry import geometry_of_frames
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.pipeline.frame_window import Frame

    model, processor = load_model(preset="tiny")
    model.vggt.add_dense_heads()
    rng = np.random.default_rng(3)
    frames = [Frame(10 + i, rng.integers(0, 250, (48, 64, 3), dtype=np.uint8)) for i in range(3)]
    every = GeometrySettings(max_points=10**6, voxel_size=1e-9, drop_fraction=0.0)  # every pixel, none merged
    assert processor.config.vggt_preprocess_mode == "pad" and processor.config.vggt_image_size == 56
    geo = geometry_of_frames(model.vggt, processor, frames, every)
    images = processor.vggt_batch([processor.vggt_frame(f.image) for f in frames])
    full = compute_window_geometry(model.vggt, images, [f.stamp_ns for f in frames], every)  # uncropped
    assert full.depth.shape == (3, 56, 56) and geo.depth.shape == (3, 42, 56) and geo.image_size == (42, 56)
    np.testing.assert_array_equal(geo.depth, full.depth[:, 7:49])
    np.testing.assert_allclose(geo.intrinsic[:, 1, 2], full.intrinsic[:, 1, 2] - 7)
    np.testing.assert_allclose(geo.intrinsic[:, 0], full.intrinsic[:, 0])
    np.testing.assert_allclose(unproject_depth(geo.depth, geo.intrinsic, geo.world_from_camera),
                               unproject_depth(full.depth, full.intrinsic, full.world_from_camera)[:, 7:49],
                               rtol=1e-5, atol=1e-5)
    white = lambda cloud: int((cloud.colors == 255).all(1).sum())  # noqa: E731
    assert white(full.cloud) >= 3 * 14 * 56 * 0.9 and white(geo.cloud) == 0  # the bands were in it, and now not
    assert len(geo.cloud) == 3 * 42 * 56

    processor.config = dataclasses.replace(processor.config, vggt_preprocess_mode="crop")
    geo = geometry_of_frames(model.vggt, processor, frames, every)
    images = processor.vggt_batch([processor.vggt_frame(f.image) for f in frames])
    assert images.shape[-2:] == (42, 56) and geo.depth.shape == (3, 42, 56)
    full = compute_window_geometry(model.vggt, images, [f.stamp_ns for f in frames], every)
    np.testing.assert_array_equal(geo.depth, full.depth)
    np.testing.assert_array_equal(geo.intrinsic, full.intrinsic)


def test_frames_of_other_sizes_keep_only_their_own_pixels():
    from spacemind_ros.geometry.window_geometry import crop_to_content

    rng = np.random.default_rng(9)
    prediction, colors, _ = synthetic_window(rng, n=3)  # 14 x 28 maps
    boxes = [(2, 0, 10, 28), (0, 4, 14, 20), (2, 4, 10, 20)]  # union rows 0-13, columns 0-27
    cropped, cols = crop_to_content(prediction, colors, boxes)
    assert cropped["depth"].shape == (3, 14, 28) and cols.shape == (3, 14, 28, 3)
    assert np.isnan(cropped["depth"][0, :2]).all() and np.isfinite(cropped["depth"][0, 2:12]).all()
    assert np.isnan(cropped["depth"][1, :, :4]).all() and np.isnan(cropped["depth_conf"][2, :, 24:]).all()
    geo = build_geometry(prediction, colors, [1, 2, 3], GeometrySettings(drop_fraction=0.0, max_points=10**6,
                                                                       voxel_size=1e-9), content=boxes)
    assert np.isfinite(geo.cloud.points).all() and len(geo.cloud) == 10 * 28 + 14 * 20 + 10 * 20
    with pytest.raises(ValueError, match="do not fit"):
        crop_to_content(prediction, colors, [(0, 0, 15, 28)] * 3)


def test_route_path_to_the_frame_the_model_names():
    from spacemind_ros.geometry.route import STANDOFF_M, parse_frame_number, route_path, straight_path

    assert parse_frame_number("Frame 3", 4) == 2 and parse_frame_number("7", 4) is None
    assert parse_frame_number("the sofa", 4) is None
    rng = np.random.default_rng(8)
    prediction, colors, poses = synthetic_window(rng, n=4)
    prediction["depth_conf"][:] = 5.0
    stamps = [i * 1_000_000_000 for i in range(4)]
    geo = build_geometry(prediction, colors, stamps)
    route = route_path(geo, "the wall", "Frame 2")
    assert len(route.poses) == 11 and "up to scale" in route.note and "frame 2" in route.note
    np.testing.assert_allclose(route.poses[0, :3, 3], poses[-1, :3, 3])  # starts at the newest camera
    np.testing.assert_allclose(route.poses[-1, :3, 3], route.goal)
    # The goal is on the wall seen by frame 2 (index 1): 2.0-2.1 along that camera's optical axis
    in_cam = np.linalg.inv(poses[1]) @ np.append(route.goal, 1.0)
    assert 2.0 <= in_cam[2] <= 2.1 and abs(in_cam[0]) < 1.0
    x_axis = route.poses[0, :3, 0]
    np.testing.assert_allclose(x_axis, (route.goal - poses[-1, :3, 3]) / np.linalg.norm(route.goal - poses[-1, :3, 3]))
    assert "did not name a frame" in route_path(geo, "the wall", "no idea").note
    assert len(route_path(geo, "the wall", "no idea").poses) == 0
    no_depth = build_geometry({k: v for k, v in prediction.items() if not k.startswith("depth")}, colors, stamps)
    assert "no depth head" in route_path(no_depth, "the wall", "1").note

    metric = straight_path(np.zeros(3), np.array([3.0, 4.0, 0.0]), metric=True, step_m=0.5)
    steps = np.linalg.norm(np.diff(metric[:, :3, 3], axis=0), axis=1)
    assert np.allclose(steps[:-1], 0.5) and np.linalg.norm(metric[-1, :3, 3]) == pytest.approx(5.0 - STANDOFF_M)
    np.testing.assert_allclose(metric[0, :3, 2], [0, 0, 1], atol=1e-12)  # z up in the odometry frame


def test_degenerate_field_of_view_uses_the_point_head_or_is_left_out():
    rng = np.random.default_rng(9)
    prediction, colors, poses = synthetic_window(rng, n=3)
    prediction["depth_conf"][:] = 5.0
    prediction["intrinsic"][1, 0, 0] = np.inf  # FoV 0 after VGGT's ReLU: tan(0) = 0
    geo = build_geometry(prediction, colors, [1, 2, 3], GeometrySettings(drop_fraction=0.0, max_points=10**6))
    assert "Frames [2] have a degenerate" in geo.note and "left out" in geo.note
    assert len(geo.cloud) <= 2 * 14 * 28 and np.isfinite(geo.cloud.points).all()
    prediction["world_points"] = np.full((3, 14, 28, 3), 50.0)
    prediction["world_points_conf"] = np.full((3, 14, 28), 5.0)
    geo = build_geometry(prediction, colors, [1, 2, 3], GeometrySettings(drop_fraction=0.0, max_points=10**6))
    assert "from the point head" in geo.note and (geo.cloud.points == 50.0).all(1).any()
    from spacemind_ros.geometry.route import route_path

    assert "degenerate" in route_path(geo, "x", "2").note


def test_unproject_pixels_equals_indexing_the_full_unprojection():
    from spacemind_ros.geometry.unproject import unproject_pixels

    rng = np.random.default_rng(10)
    prediction, _, poses = synthetic_window(rng, n=3)
    full = unproject_depth(prediction["depth"], prediction["intrinsic"], poses)
    f, v, u = rng.integers(0, 3, 50), rng.integers(0, 14, 50), rng.integers(0, 28, 50)
    picked = unproject_pixels(f, v, u, prediction["depth"][f, v, u], prediction["intrinsic"], poses)
    np.testing.assert_allclose(picked, full[f, v, u], atol=1e-12)
