"""Ground truth of the synthetic scenes against hand-built scenes whose answers are known by construction."""
import math

import numpy as np
import pytest

from spacemind_ros.scenes import Prism, Room, closest_distance, make_scene
from spacemind_ros.scenes import questions as Q
from spacemind_ros.scenes.camera import Intrinsics
from spacemind_ros.scenes.dataset import first_seen, render_walk
from spacemind_ros.scenes.inventory import ORDER_QUESTION, TOTALS_QUESTION, inventory_records
from spacemind_ros.scenes.walk import Walk


def box(x, y, hx=0.5, hy=0.5, z=(0.0, 1.0)):
    return Prism("box", (x, y), (hx, hy), z)


def cyl(x, y, r=0.2, z=(0.0, 1.0)):
    return Prism("cylinder", (x, y), (r, r), z)


def test_closest_faces_three_metres_apart():
    scene = make_scene(Room.rectangle(8, 5, 3), [("bed", box(1.0, 2.0)), ("sofa", box(5.0, 2.0))])
    a, b = scene.objects
    assert closest_distance(a.prism, b.prism) == pytest.approx(3.0)
    q = Q.abs_distance(a, b)
    assert q.question_type == "object_abs_distance" and q.ground_truth == "3.0" and q.options == []
    assert "bed" in q.question and "sofa" in q.question and "closest point" in q.question


@pytest.mark.parametrize("a,b,expected", [
    (box(0, 0), box(3, 4), math.hypot(2, 3)),  # corner to corner in the floor plane
    (box(0, 0, z=(0, 1)), box(0.5, 0, z=(1.5, 2)), 0.5),  # stacked: only the height gap
    (box(0, 0), box(1.5, 0, z=(2, 3)), math.hypot(0.5, 1.0)),
    (box(0, 0), cyl(2.0, 0), 1.3),  # 2 - 0.5 half width - 0.2 radius
    (cyl(0, 0), cyl(0, 3, r=0.5), 2.3),
    (box(0, 0), box(0.9, 0), 0.0),  # overlapping footprints at the same height
])
def test_closest_distance_between_prisms(a, b, expected):
    assert closest_distance(a, b) == pytest.approx(expected)
    assert closest_distance(b, a) == pytest.approx(expected)


def test_size_is_longest_dimension_in_cm():
    scene = make_scene(Room.rectangle(5, 5, 3), [("sofa", Prism("box", (2, 2), (1.05, 0.45), (0, 0.85)))])
    assert Q.size(scene.objects[0]).ground_truth == "210"


def test_counts():
    objs = [("chair", box(1, 1, 0.25, 0.25)), ("chair", box(2, 1, 0.25, 0.25)), ("table", box(3, 3)),
            ("chair", box(4, 1, 0.25, 0.25))]
    scene = make_scene(Room.rectangle(6, 5, 3), objs)
    assert Q.counting(scene, "chair").ground_truth == "3"
    assert Q.counting(scene, "table").ground_truth == "1"
    assert Q.counting(scene, "chair").question == "How many chair(s) are in this room?"


def test_room_area_of_an_l_shaped_room():
    room = Room.l_shape(6.0, 5.0, 2.0, 2.5, 2.8)
    assert room.area == pytest.approx(6 * 5 - 2 * 2.5)
    assert Q.room_size(make_scene(room, [])).ground_truth == "25.0"
    assert room.contains([[1, 1], [5, 4], [3, 4.9]]).tolist() == [True, False, True]
    assert sorted(room.rectangles()) == [(0.0, 0.0, 4.0, 5.0), (0.0, 0.0, 6.0, 2.5)]


def test_bad_rooms_are_refused():
    with pytest.raises(ValueError, match="counter-clockwise"):
        Room(((0, 0), (0, 4), (4, 4), (4, 0)), 3.0)
    with pytest.raises(ValueError, match="axis-aligned"):
        Room(((0, 0), (4, 1), (4, 4), (0, 4)), 3.0)
    with pytest.raises(ValueError, match="4 or 6 vertices"):
        Room(((0, 0), (4, 0), (0, 4)), 3.0)


def direction_scene(target_xy):
    # Standing by the sofa at the origin, facing the tv straight along +y.
    return make_scene(Room.rectangle(10, 10, 3),
                      [("sofa", box(0, 0, 0.3, 0.3)), ("tv", box(0, 3, 0.3, 0.1)), ("lamp", cyl(*target_xy))])


@pytest.mark.parametrize("target,easy,medium,hard", [
    ((-2.0, 1.0), "A", "A", "A"),  # ahead on the left: left, left, front-left
    ((2.0, 1.0), "B", "B", "B"),  # ahead on the right
    ((-2.0, -1.0), None, "A", "C"),  # behind on the left (about 117 degrees round)
    ((1.5, -3.0), None, "C", "D"),  # well behind, a little right (153 degrees): back, back-right
])
def test_relative_direction_from_a_stated_viewpoint(target, easy, medium, hard):
    sofa, tv, lamp = direction_scene(target).objects
    for difficulty, want in (("easy", easy), ("medium", medium), ("hard", hard)):
        q = Q.rel_direction(sofa, tv, lamp, difficulty)
        if want is None:
            assert q is None
            continue
        assert q.question_type == f"object_rel_direction_{difficulty}" and q.ground_truth == want
        assert q.question.startswith("If I am standing by the sofa and facing the tv, is the lamp")
    q = Q.rel_direction(sofa, tv, lamp, "easy") or Q.rel_direction(sofa, tv, lamp, "medium")
    label = q.options[ord(q.ground_truth) - ord("A")]
    assert ("left" in label) == (target[0] < 0) or label.endswith("back")


def test_direction_near_a_boundary_is_not_asked():
    sofa, tv, lamp = direction_scene((0.1, 3.0)).objects  # almost straight ahead: left or right is a coin toss
    assert Q.rel_direction(sofa, tv, lamp, "easy") is None
    assert Q.rel_direction(sofa, tv, lamp, "hard") is None
    assert Q.direction_label(134.0, "medium") is None and Q.direction_label(150.0, "medium") == "back"
    assert Q.direction_label(-60.0, "hard") == "front-right" and Q.direction_label(-120.0, "hard") == "back-right"


def test_relative_distance_answer_and_ties():
    target = ("bed", box(0, 0))
    objs = [target, ("sofa", box(3, 0)), ("lamp", cyl(0, 1.2)), ("tv", box(0, -4)), ("door", box(-5, 0))]
    scene = make_scene(Room.rectangle(20, 20, 3), objs)
    q = Q.rel_distance(scene.objects[0], list(scene.objects[1:]))
    assert q.options == ["A. sofa", "B. lamp", "C. tv", "D. door"] and q.ground_truth == "B"  # lamp: 0.5 m
    tie = make_scene(Room.rectangle(20, 20, 3),
                     [target, ("sofa", box(2, 0)), ("lamp", cyl(0, 1.7)), ("tv", box(0, -4)), ("door", box(-5, 0))])
    assert Q.rel_distance(tie.objects[0], list(tie.objects[1:])) is None  # sofa and lamp both 1.0 m away


def test_route_turns():
    assert Q.route_turns([(0, 0), (0, 2), (-2, 2), (-2, 0)]) == ["Turn Left", "Turn Left"]
    assert Q.route_turns([(0, 0), (0, 2), (2, 2)]) == ["Turn Right"]
    assert Q.route_turns([(0, 0), (0, 2), (0.2, 0)]) == ["Turn Back"]
    assert Q.route_turns([(0, 0), (0, 2), (0.3, 4)]) is None  # straight on is not a turn
    objs = [("bed", box(0, 0, 0.2, 0.2)), ("tv", box(0, 2, 0.2, 0.2)), ("sofa", box(2, 2, 0.2, 0.2))]
    scene = make_scene(Room.rectangle(5, 5, 3), objs)
    q = Q.shuffled(Q.route(list(scene.objects), [("Turn Back",), ("Turn Left",), ("Turn Right",)]),
                   np.random.default_rng(0))
    assert len(q.options) == 3 and q.options[ord(q.ground_truth) - 65].endswith("Turn Right")
    assert "beginning at the bed facing the tv" in q.question and "navigate to the sofa" in q.question
    assert "2. [please fill in] 3. Go forward until the sofa." in q.question


def test_route_advice_ground_truth_by_hand():
    """bed (0, 0) -> tv (0, 2) -> sofa (2, 2) -> lamp (2, 4): walk +y to the tv, a right turn to +x, a left turn back
    to +y; the steps are the node's /route_advice format and parse into exactly these actions and landmarks."""
    from spacemind_ros.pipeline.answer_parsing import parse_route
    from spacemind_ros.pipeline.prompting import route_question

    objs = [("bed", box(0, 0, 0.2, 0.2)), ("tv", box(0, 2, 0.2, 0.2)), ("sofa", box(2, 2, 0.2, 0.2)),
            ("lamp", box(2, 4, 0.2, 0.2))]
    scene = make_scene(Room.rectangle(5, 5, 3), objs)
    rec = Q.route_advice(list(scene.objects), scene.name, "bag", 7)
    assert rec["question_type"] == "route_advice" and rec["options"] == []
    assert rec["start"] == "standing by the bed, facing the tv" and rec["goal"] == "the lamp"
    assert rec["question"] == route_question("the lamp", "standing by the bed, facing the tv") == \
        "I am standing by the bed, facing the tv. How do I get to the lamp?"
    assert rec["ground_truth"] == ("1. Go forward until the tv\n2. Turn right\n3. Go forward until the sofa\n"
                                   "4. Turn left\n5. Go forward until the lamp\n6. Stop at the lamp")
    assert rec["actions"] == ["FORWARD", "TURN_RIGHT", "FORWARD", "TURN_LEFT", "FORWARD", "STOP"]
    assert rec["landmarks"] == ["tv", "", "sofa", "", "lamp", "lamp"]
    steps, actions, landmarks = parse_route(rec["ground_truth"])
    assert actions == rec["actions"] and landmarks == rec["landmarks"] and len(steps) == 6
    straight = make_scene(Room.rectangle(5, 5, 3), [("bed", box(0, 0, 0.2, 0.2)), ("tv", box(0, 2, 0.2, 0.2)),
                                                     ("sofa", box(0.3, 4, 0.2, 0.2))])
    assert Q.route_advice(list(straight.objects), "s", "bag", 1) is None  # straight on: no clear turn


def turning_walk(num_frames=72, height=1.5):
    """The camera stands in the middle of a 10 m room and turns once, counter-clockwise from +x."""
    yaw = np.linspace(0.0, 2 * math.pi, num_frames, endpoint=False)
    pos = np.tile([5.0, 5.0, height], (num_frames, 1))
    return Walk(pos, yaw, np.full(num_frames, -0.2), np.arange(num_frames, dtype=np.int64) * 100_000_000)


def test_appearance_order_follows_the_walk():
    # Bearings from the camera: table 70, lamp 160, bed 250, sofa 315 degrees; the turn from 0 meets them in order.
    def at(deg, r=3.0):
        return 5 + r * math.cos(math.radians(deg)), 5 + r * math.sin(math.radians(deg))
    objs = [("sofa", box(*at(315), 0.4, 0.4)), ("bed", box(*at(250), 0.4, 0.4)), ("lamp", cyl(*at(160))),
            ("table", box(*at(70), 0.4, 0.4))]
    scene = make_scene(Room.rectangle(10, 10, 3), objs)
    walk = turning_walk()
    k = Intrinsics.from_fov(96, 72, 60.0)
    pixels = np.stack([f.object_pixels(4) for _, f in render_walk(scene, walk, k)])
    seen = first_seen(pixels, 96 * 72)
    assert [o.category for o in sorted(scene.objects, key=lambda o: seen[o.index])] == ["table", "lamp", "bed",
                                                                                           "sofa"]
    first = {o.category: seen[o.index] for o in scene.objects}
    perms = [("sofa", "bed", "lamp", "table"), ("lamp", "sofa", "table", "bed"), ("bed", "table", "sofa", "lamp")]
    q = Q.shuffled(Q.appearance_order(["sofa", "bed", "lamp", "table"], first, perms), np.random.default_rng(1))
    assert q.options[ord(q.ground_truth) - 65][3:] == "table, lamp, bed, sofa"
    assert len(set(q.options)) == 4


def test_make_questions_covers_every_type_and_only_seen_objects():
    objs = [("bed", box(1.5, 1.2, 0.8, 1.0, (0, 0.5))), ("sofa", box(8.0, 1.0, 1.0, 0.45, (0, 0.85))),
            ("tv", box(5.0, 7.9, 0.6, 0.05, (1.0, 1.7))), ("table", box(2.0, 6.5, 0.6, 0.4, (0, 0.75))),
            ("refrigerator", box(8.5, 7.5, 0.35, 0.35, (0, 1.8))), ("lamp", cyl(0.5, 4.0)),
            ("chair", box(3.5, 4.0, 0.25, 0.25)), ("chair", box(6.5, 4.0, 0.25, 0.25)),
            ("plant", cyl(8.5, 4.5, 0.25)), ("sink", box(5.0, 0.3, 0.3, 0.25, (0, 0.9)))]
    scene = make_scene(Room.rectangle(9, 8, 3), objs)
    hidden = 9  # the sink, never seen
    seen = {i: 3 * i for i in range(len(objs)) if i != hidden}
    qs = Q.make_questions(scene, seen, np.random.default_rng(0), num_frames=40)
    assert {q.question_type for q in qs} == set(Q.QUESTION_TYPES)
    assert all(hidden not in q.objects for q in qs) and not any("sink" in q.question for q in qs)
    for q in qs:
        if q.question_type in Q.MULTIPLE_CHOICE:
            assert len(q.options) >= 2 and len(set(q.options)) == len(q.options)
            assert q.options[ord(q.ground_truth) - 65].startswith(q.ground_truth + ". ")
        else:
            assert q.options == [] and float(q.ground_truth) > 0
        if q.question_type == "object_rel_distance":  # the answer wins by the margin
            target, *cands = (scene.objects[i] for i in q.objects)
            d = sorted(closest_distance(target.prism, c.prism) for c in cands)
            assert d[1] - d[0] >= Q.CLOSEST_MARGIN_M


@pytest.mark.parametrize("seed", range(8))
def test_generated_scenes_follow_the_rules(seed):
    from spacemind_ros.scenes import generate
    from spacemind_ros.scenes.catalog import CATEGORIES
    from spacemind_ros.scenes.generator import GAP_BETWEEN_OBJECTS, GAP_TO_WALK
    from spacemind_ros.scenes.shapes import footprint_gap
    from spacemind_ros.scenes.walk import walk_loop

    scene, walk = generate(seed, num_frames=50)
    room = scene.room
    x0, y0, x1, y1 = room.bounds()
    assert 3.0 <= x1 - x0 <= 8.0 and 3.0 <= y1 - y0 <= 8.0 and 2.6 <= room.height <= 3.0
    assert 5 <= len(scene.objects) <= 15
    loop = walk_loop(room)
    for o in scene.objects:
        cat = CATEGORIES[o.category]
        p = o.prism
        lo, hi = p.lo, p.hi
        assert room.contains(np.array([[lo[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]], [hi[0], lo[1]]])
                             + np.sign(np.asarray(p.center) - [[lo[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]],
                                                                [hi[0], lo[1]]]) * 1e-6).all()
        assert p.footprint_distance(loop).min() >= GAP_TO_WALK
        assert cat.height[0] - 1e-3 <= p.size[2] <= cat.height[1] + 1e-3  # sizes typical of the real thing
        assert cat.width[0] - 1e-3 <= max(p.size[:2]) and min(p.size[:2]) <= max(cat.width[1], cat.depth[1]) + 1e-3
        assert scene.count(o.category) <= cat.max_count
        for other in scene.objects[o.index + 1:]:
            assert footprint_gap(p, other.prism) >= GAP_BETWEEN_OBJECTS - 1e-9
    # The walk stays inside, at eye height, and moves smoothly (no jumps between frames).
    assert room.contains(walk.positions[:, :2], margin=0.5).all()
    assert np.all((walk.positions[:, 2] >= 1.4) & (walk.positions[:, 2] <= 1.6))
    step = np.linalg.norm(np.diff(walk.positions[:, :2], axis=0), axis=1)
    assert step.max() < 1.0


def test_inventory_by_hand():
    """Categories in order of their first clearly seen object (ties by name), counted; faint and unseen objects left
    out."""
    categories = ["chair", "table", "chair", "lamp", "sofa", "chair"]
    scene = {"name": "synth_000005", "settings": {"width": 160, "height": 120},
             "objects": [{"index": i, "category": c} for i, c in enumerate(categories)],
             "seen": {"0": {"first_frame": 5, "max_pixels": 900}, "1": {"first_frame": 2, "max_pixels": 3000},
                      "2": {"first_frame": 9, "max_pixels": 500}, "3": {"first_frame": 2, "max_pixels": 450},
                      "5": {"first_frame": 1, "max_pixels": 100}}}  # object 4 (sofa) unseen, 5 too faint
    order, totals = inventory_records(scene, "synth_000005/bag", 5900)
    assert (order["question"], order["ground_truth"]) == (ORDER_QUESTION, "lamp, table, chair")
    assert (totals["question"], totals["ground_truth"]) == (TOTALS_QUESTION, "lamp 1, table 1, chair 2")
    assert [r["id"] for r in (order, totals)] == [5900, 5901]
    assert order["question_type"] == "open" and order["bag"] == "synth_000005/bag"
    scene["seen"] = {"5": {"first_frame": 1, "max_pixels": 100}}
    assert inventory_records(scene, "bag", 0) == []
