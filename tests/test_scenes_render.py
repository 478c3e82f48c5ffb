"""The ray caster against the camera model: projection, occlusion, depth along the optical axis."""
import math

import numpy as np
import pytest

from spacemind_ros.scenes import Intrinsics, Pose, Prism, Renderer, Room, make_scene
from spacemind_ros.scenes import questions as Q
from spacemind_ros.scenes.dataset import first_seen, render_walk
from spacemind_ros.scenes.generator import generate
from spacemind_ros.scenes.renderer import CEILING, FLOOR, OBJECT, WALL, WALL_NORMALS
from spacemind_ros.scenes.walk import Walk

K = Intrinsics.from_fov(160, 120, 70.0)


def test_camera_model_axes_and_principal_point():
    pose = Pose.look((1.0, 2.0, 1.5), yaw=0.0)  # looking along +x
    assert np.allclose(pose.rotation[:, 2], [1, 0, 0]) and np.allclose(pose.rotation[:, 0], [0, -1, 0])
    assert np.allclose(pose.rotation[:, 1], [0, 0, -1])  # optical y points down
    uv = K.project(pose.world_to_camera([[6.0, 2.0, 1.5], [6.0, 1.0, 1.5], [6.0, 2.0, 1.0]]))
    assert np.allclose(uv[0], [K.cx, K.cy]) and K.cx == 79.5
    assert np.allclose(uv[1], [K.cx + K.fx * 1 / 5, K.cy])  # -y is to the right
    assert np.allclose(uv[2], [K.cx, K.cy + K.fy * 0.5 / 5])  # lower is further down the image
    q = Pose.look((0, 0, 0), yaw=0.7, pitch=-0.3).quaternion()
    x, y, z, w = q
    r = np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                  [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                  [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    assert np.allclose(r, Pose.look((0, 0, 0), yaw=0.7, pitch=-0.3).rotation)


@pytest.mark.parametrize("yaw,pitch,point", [(0.3, -0.25, (5.2, 4.1, 0.7)), (2.5, 0.1, (0.9, 4.3, 1.9)),
                                             (-1.2, -0.5, (3.7, 0.6, 0.2))])
def test_a_point_lands_on_the_pixel_the_camera_model_says(yaw, pitch, point):
    # A 4 cm cube centred on the point: the pixel the model projects the point to must show the cube.
    cube = Prism("box", point[:2], (0.02, 0.02), (point[2] - 0.02, point[2] + 0.02))
    scene = make_scene(Room.rectangle(7, 6, 3), [("stool", cube)])
    pose = Pose.look((3.0, 2.5, 1.4), yaw, pitch)
    # aim the camera at the point so it is in view, then move the look off-centre by the given angles
    d = np.asarray(point) - pose.position
    pose = Pose.look(pose.position, math.atan2(d[1], d[0]) + 0.2, math.atan2(d[2], math.hypot(d[0], d[1])) - 0.1)
    u, v = K.project(pose.world_to_camera(point))
    assert 0 <= u < K.width and 0 <= v < K.height
    frame = Renderer(scene, K).render(pose)
    assert frame.surface[int(round(v)), int(round(u))] == OBJECT
    assert frame.object_pixels(1)[0] <= 16  # and only a few pixels round it


def sample_pixels(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, K.height, n), rng.integers(0, K.width, n)


def unproject(pose, frame, vs, us):
    """World points of pixels (v, u) from the rendered depth, by the camera model alone."""
    z = frame.depth[vs, us].astype(float)
    cam = np.stack([(us - K.cx) / K.fx * z, (vs - K.cy) / K.fy * z, z], 1)
    return cam @ pose.rotation.T + pose.position


def test_depth_is_distance_along_the_optical_axis():
    scene, walk = generate(3, num_frames=20)
    renderer = Renderer(scene, K)
    room = scene.room
    for i in (0, 7, 13):
        pose = walk.pose(i)
        frame = renderer.render(pose)
        vs, us = sample_pixels(seed=i)
        p = unproject(pose, frame, vs, us)
        s = frame.surface[vs, us]
        assert np.allclose(p[s == FLOOR, 2], 0.0, atol=1e-3)
        assert np.allclose(p[s == CEILING, 2], room.height, atol=1e-3)
        walls = (s >= WALL) & (s < OBJECT)
        assert np.allclose(room.wall_distance(p[walls, :2]), 0.0, atol=2e-3)
        for k in range(4):  # the wall id says which way the wall faces: into the room
            on = s == WALL + k
            normal = np.asarray(WALL_NORMALS[k][:2])
            assert room.contains(p[on, :2] + 0.05 * normal).all() and not room.contains(p[on, :2] - 0.05 * normal).any()
        for j, o in enumerate(scene.objects):  # object pixels lie on the object's surface
            on = s == OBJECT + j
            if on.any():
                lo, hi = o.prism.lo, o.prism.hi
                assert ((p[on] >= lo - 2e-3) & (p[on] <= hi + 2e-3)).all()
                assert np.allclose(o.prism.footprint_distance(p[on, :2]) *
                                   ((p[on, 2] > lo[2] + 2e-3) & (p[on, 2] < hi[2] - 2e-3)), 0.0, atol=2e-3)
        assert ((s == FLOOR) | (s == CEILING) | walls | (s >= OBJECT)).all()


def test_depth_facing_a_wall_straight_on_is_constant():
    scene = make_scene(Room.rectangle(6, 12, 3), [])
    pose = Pose.look((2.0, 6.0, 1.5), yaw=0.0)  # the x = 6 wall is 4 m ahead and fills the view
    frame = Renderer(scene, K).render(pose)
    wall = frame.surface == WALL + 1
    assert wall[K.height // 2].all() and np.allclose(frame.depth[wall], 4.0, atol=1e-5)


def test_an_occluded_object_is_not_seen_and_not_asked_about():
    # A tall cabinet stands between the walk and a small trash can; the walk only looks towards them.
    n = 24
    walk = Walk(np.column_stack([np.linspace(1.0, 2.0, n), np.full(n, 3.0), np.full(n, 1.5)]),
                np.linspace(-0.3, 0.3, n), np.full(n, -0.2), np.arange(n, dtype=np.int64) * 100_000_000)
    objs = [("cabinet", Prism("box", (4.0, 3.0), (0.3, 2.0), (0.0, 2.2))),
            ("trash can", Prism("cylinder", (5.2, 3.0), (0.18, 0.18), (0.0, 0.45))),
            ("sofa", Prism("box", (5.0, 1.0), (1.0, 0.45), (0.0, 0.85)))]
    room = Room.rectangle(6, 6, 3)
    pixels = np.stack([f.object_pixels(3) for _, f in render_walk(make_scene(room, objs), walk, K)])
    assert pixels[:, 1].sum() == 0 and 1 not in first_seen(pixels, K.width * K.height)
    assert set(first_seen(pixels, K.width * K.height)) == {0, 2}
    # Without the cabinet the same walk does see it: the occlusion is what hides it.
    open_pixels = np.stack([f.object_pixels(2) for _, f in render_walk(make_scene(room, objs[1:]), walk, K)])
    assert 0 in first_seen(open_pixels, K.width * K.height)
    seen = first_seen(pixels, K.width * K.height)
    qs = Q.make_questions(make_scene(room, objs), seen, np.random.default_rng(0), num_frames=n)
    assert qs and all(1 not in q.objects for q in qs) and not any("trash can" in q.question for q in qs)


def test_l_shaped_room_renders_its_inner_corner():
    room = Room.l_shape(6.0, 6.0, 3.0, 3.0, 2.8)  # the corner (3, 3) pokes into the room
    pose = Pose.look((1.5, 4.5, 1.4), yaw=-math.pi / 4)  # looking towards the corner and the far leg
    frame = Renderer(make_scene(room, []), K).render(pose)
    vs, us = sample_pixels(seed=3)
    p = unproject(pose, frame, vs, us)
    walls = (frame.surface[vs, us] >= WALL) & (frame.surface[vs, us] < OBJECT)
    assert walls.any() and (~walls).any()
    assert np.allclose(room.wall_distance(p[walls, :2]), 0.0, atol=2e-3)
    flat = p[~walls, :2]  # floor and ceiling hits lie inside the L, never in the cut-out square
    assert ((flat > -1e-3) & (flat < 6 + 1e-3)).all() and not ((flat[:, 0] > 3.001) & (flat[:, 1] > 3.001)).any()


def test_rendering_is_deterministic_and_bounded():
    scene, walk = generate(11, num_frames=6)
    a = [f.rgb for _, f in render_walk(scene, walk, K)]
    b = [f.rgb for _, f in render_walk(scene, walk, K)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].dtype == np.uint8 and a[0].shape == (120, 160, 3) and a[0].std() > 10  # not a flat image
