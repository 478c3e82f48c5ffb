"""Ground-truth questions in VSI-Bench form, computed from a scene's geometry and what the walk saw.

Definitions follow VSI-Bench (../shared/spec/vsibench.md): absolute distance between the closest points of two
objects (m, one decimal); object size as the longest dimension (cm, integer); room size as floor area (m^2, one
decimal); counting; relative distance, direction and route planning as multiple choice; appearance order by the
frame each category is first seen in. Only objects seen in the walk are asked about, objects named by category
alone are the only one of their category in the room, and every multiple-choice answer wins by a margin (no ties,
no answer that a small error in position could flip).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from spacemind_ros.scenes.scene import Scene, SceneObject
from spacemind_ros.scenes.shapes import closest_distance

NUMERICAL = ("object_counting", "object_abs_distance", "object_size_estimation", "room_size_estimation")
MULTIPLE_CHOICE = ("object_rel_distance", "object_rel_direction_easy", "object_rel_direction_medium",
                   "object_rel_direction_hard", "route_planning", "obj_appearance_order")
QUESTION_TYPES = NUMERICAL + MULTIPLE_CHOICE
PER_TYPE = {"object_counting": 3, "object_abs_distance": 3, "object_size_estimation": 3, "room_size_estimation": 1,
            "object_rel_distance": 3, "object_rel_direction_easy": 2, "object_rel_direction_medium": 2,
            "object_rel_direction_hard": 2, "route_planning": 2, "obj_appearance_order": 2}

# Margins that keep multiple-choice answers clear of ties (degrees, metres).
ANGLE_MARGIN = 15.0
CLOSEST_MARGIN_M, CLOSEST_MARGIN_REL = 0.15, 0.15
MIN_DISTANCE_M = 0.3  # absolute-distance questions about objects (nearly) touching are left out
DIRECTIONS = {
    "easy": ("left", "right"),
    "medium": ("left", "right", "back"),
    "hard": ("front-left", "front-right", "back-left", "back-right"),
}
TURNS = ("Turn Left", "Turn Right", "Turn Back")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Question:
    """One question: VSI-Bench ``question_type``, text, lettered ``options`` ([] for numerical), ``ground_truth``
    (a letter for multiple choice, a number as text for numerical), and the scene object indices it is about."""

    question_type: str
    question: str
    options: list[str]
    ground_truth: str
    objects: tuple[int, ...] = field(default=())

    def record(self, id: int, scene_name: str, bag: str, dataset: str = "spacemind-synthetic",
               image_topic: str = "/camera/image_raw", stamp_ns: int | None = None) -> dict:
        """The JSONL record (docs/scenes.md, "Question records"): VSI-Bench fields plus ``bag``, ``image_topic``
        and optionally ``stamp_ns``."""
        rec = {"id": id, "dataset": dataset, "scene_name": scene_name, "question_type": self.question_type,
               "question": self.question, "options": list(self.options), "ground_truth": self.ground_truth,
               "bag": bag, "image_topic": image_topic}
        if stamp_ns is not None:
            rec["stamp_ns"] = int(stamp_ns)
        return rec


def lettered(options) -> list[str]:
    return [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]


def fmt(value: float, decimals: int) -> str:
    return f"{round(value, decimals):.{decimals}f}" if decimals else str(int(round(value)))


# -- geometry -------------------------------------------------------------------------------------------------------

def footprint_center(obj: SceneObject) -> np.ndarray:
    return np.asarray(obj.prism.center, float)


def bearing(stand, facing, target) -> float:
    """Angle in degrees of ``target`` seen from ``stand`` while facing ``facing`` (floor-plane points):
    0 ahead, positive to the left (counter-clockwise), in (-180, 180]."""
    f = np.asarray(facing, float) - np.asarray(stand, float)
    g = np.asarray(target, float) - np.asarray(stand, float)
    return math.degrees(math.atan2(f[0] * g[1] - f[1] * g[0], f[0] * g[0] + f[1] * g[1]))


def _clear(angle: float, boundaries) -> bool:
    return all(abs((angle - b + 180.0) % 360.0 - 180.0) >= ANGLE_MARGIN for b in boundaries)


def direction_label(angle: float, difficulty: str) -> str | None:
    """The answer for a bearing (``bearing``) at ``difficulty``; None when it is within ANGLE_MARGIN of a boundary.

    easy: left / right, only for objects in the front half (beyond 110 degrees "left of the X" stops making sense);
    medium: back when at least 135 degrees round (VSI-Bench's wording), else left / right;
    hard: the quadrant, front-left (0..90), back-left (90..180), front-right, back-right.
    """
    a = abs(angle)
    side = "left" if angle > 0 else "right"
    if difficulty == "easy":
        return side if _clear(angle, (0.0,)) and a <= 110.0 else None
    if difficulty == "medium":
        if not _clear(angle, (0.0, 135.0, -135.0)):
            return None
        return "back" if a >= 135.0 else side
    if difficulty == "hard":
        if not _clear(angle, (0.0, 90.0, -90.0, 180.0)):
            return None
        return ("front-" if a < 90.0 else "back-") + side
    raise ValueError(f"unknown difficulty {difficulty!r}")


def turn_label(heading_in, heading_out) -> str | None:
    """"Turn Left" (55-125 degrees counter-clockwise), "Turn Right", "Turn Back" (at least 150 degrees); None in
    between or for nearly straight on (route steps are "go forward until X" then a turn)."""
    angle = bearing((0.0, 0.0), heading_in, heading_out)
    a = abs(angle)
    if 55.0 <= a <= 125.0:
        return "Turn Left" if angle > 0 else "Turn Right"
    return "Turn Back" if a >= 150.0 else None


def route_turns(points) -> list[str] | None:
    """Turns at each inner point of the polyline ``points`` [k, 2] (the first leg is walked facing forward)."""
    p = np.asarray(points, float)
    turns = [turn_label(p[i] - p[i - 1], p[i + 1] - p[i]) for i in range(1, len(p) - 1)]
    return None if any(t is None for t in turns) else turns


def first_seen_order(first_seen: dict[str, int]) -> list[str]:
    """Categories sorted by the frame they are first seen in."""
    return sorted(first_seen, key=lambda c: (first_seen[c], c))


# -- question builders (deterministic given their inputs) --------------------------------------------------------

def counting(scene: Scene, category: str) -> Question:
    idx = tuple(o.index for o in scene.objects if o.category == category)
    return Question("object_counting", f"How many {category}(s) are in this room?", [], str(len(idx)), idx)


def abs_distance(a: SceneObject, b: SceneObject) -> Question:
    d = closest_distance(a.prism, b.prism)
    return Question("object_abs_distance",
                    f"Measuring from the closest point of each object, what is the direct distance between the "
                    f"{a.category} and the {b.category} (in meters)?", [], fmt(d, 1), (a.index, b.index))


def size(a: SceneObject) -> Question:
    return Question("object_size_estimation",
                    f"What is the length of the longest dimension (length, width, or height) of the {a.category}, "
                    f"measured in centimeters?", [], fmt(a.prism.longest_dimension * 100.0, 0), (a.index,))


def room_size(scene: Scene) -> Question:
    return Question("room_size_estimation",
                    "What is the size of this room (in square meters)? If multiple rooms are shown, estimate the "
                    "size of the combined space.", [], fmt(scene.room.area, 1))


def rel_distance(target: SceneObject, candidates: list[SceneObject]) -> Question | None:
    """Which of ``candidates`` (in option order) is closest to ``target``; None without a clear winner."""
    d = np.array([closest_distance(target.prism, c.prism) for c in candidates])
    order = np.argsort(d)
    best, second = d[order[0]], d[order[1]]
    if second - best < max(CLOSEST_MARGIN_M, CLOSEST_MARGIN_REL * best):
        return None
    names = ", ".join(c.category for c in candidates)
    return Question("object_rel_distance",
                    f"Measuring from the closest point of each object, which of these objects ({names}) is the "
                    f"closest to the {target.category}?", lettered(c.category for c in candidates),
                    LETTERS[int(order[0])], (target.index, *(c.index for c in candidates)))


def rel_direction(stand: SceneObject, facing: SceneObject, target: SceneObject, difficulty: str) -> Question | None:
    angle = bearing(footprint_center(stand), footprint_center(facing), footprint_center(target))
    label = direction_label(angle, difficulty)
    if label is None:
        return None
    s, f, t = stand.category, facing.category, target.category
    head = f"If I am standing by the {s} and facing the {f}, "
    if difficulty == "easy":
        text = head + f"is the {t} to the left or the right of the {f}?"
    elif difficulty == "medium":
        text = head + (f"is the {t} to my left, right, or back? An object is to my back if I would have to turn "
                       f"at least 135 degrees in order to face it.")
    else:
        text = head + (f"is the {t} to my front-left, front-right, back-left, or back-right? The directions refer "
                       f"to the quadrants of a Cartesian plane (if I am standing at the origin and facing along the "
                       f"positive y-axis).")
    choices = DIRECTIONS[difficulty]
    return Question(f"object_rel_direction_{difficulty}", text, lettered(choices), LETTERS[choices.index(label)],
                    (stand.index, facing.index, target.index))


def route(stops: list[SceneObject], distractors: list[tuple[str, ...]]) -> Question | None:
    """Start at ``stops[0]`` facing ``stops[1]``, then on to each next stop; None if a turn is unclear.

    ``distractors``: other turn sequences of the same length, in the order to mix them into the options.
    """
    turns = route_turns([footprint_center(o) for o in stops])
    if turns is None:
        return None
    steps, n = [], 1
    for k, stop in enumerate(stops[1:]):
        if k:
            steps.append(f"{n}. [please fill in]")
            n += 1
        steps.append(f"{n}. Go forward until the {stop.category}")
        n += 1
    text = (f"You are a robot beginning at the {stops[0].category} facing the {stops[1].category}. You want to "
            f"navigate to the {stops[-1].category}. You will perform the following actions (Note: for each "
            f"[please fill in], choose either 'turn back,' 'turn left,' or 'turn right.'): " + " ".join(steps)
            + ". You have reached the final destination.")
    answer = ", ".join(turns)
    options = [answer] + [", ".join(d) for d in distractors if ", ".join(d) != answer][:3]
    return Question("route_planning", text, options, "", tuple(o.index for o in stops))


def route_advice(stops: list[SceneObject], scene_name: str, bag: str, id: int,
                 dataset: str = "spacemind-synthetic", image_topic: str = "/camera/image_raw") -> dict | None:
    """A ``/route_advice`` ground-truth record for the route through ``stops`` (start at ``stops[0]`` facing
    ``stops[1]``): the node's own prompt (``route_question(goal, start)``) and output format (numbered steps that
    parse into FORWARD / TURN_* / STOP actions with their landmarks). None if a turn is unclear."""
    from spacemind_ros.pipeline.prompting import route_question

    turns = route_turns([footprint_center(o) for o in stops])
    if turns is None:
        return None
    steps, actions, landmarks = [], [], []
    for k, stop in enumerate(stops[1:]):
        if k:
            steps.append(turns[k - 1].capitalize())
            actions.append({"Turn Left": "TURN_LEFT", "Turn Right": "TURN_RIGHT", "Turn Back": "TURN_BACK"}[
                turns[k - 1]])
            landmarks.append("")
        steps.append(f"Go forward until the {stop.category}")
        actions.append("FORWARD")
        landmarks.append(stop.category)
    steps.append(f"Stop at the {stops[-1].category}")
    actions.append("STOP")
    landmarks.append(stops[-1].category)
    goal, start = f"the {stops[-1].category}", f"standing by the {stops[0].category}, facing the {stops[1].category}"
    return {"id": id, "dataset": dataset, "scene_name": scene_name, "question_type": "route_advice",
            "question": route_question(goal, start), "options": [],
            "ground_truth": "\n".join(f"{n}. {step}" for n, step in enumerate(steps, 1)),
            "goal": goal, "start": start, "actions": actions, "landmarks": landmarks, "bag": bag,
            "image_topic": image_topic}


def appearance_order(categories: list[str], first_seen: dict[str, int], distractors) -> Question:
    """``categories`` in the question's order; options: the true order and up to three ``distractors``."""
    truth = first_seen_order({c: first_seen[c] for c in categories})
    answer = ", ".join(truth)
    options = [answer] + [", ".join(d) for d in distractors if ", ".join(d) != answer][:3]
    return Question("obj_appearance_order",
                    f"What will be the first-time appearance order of the following categories in the video: "
                    f"{', '.join(categories)}?", options, "")


def shuffled(q: Question, rng: np.random.Generator) -> Question:
    """``q`` (whose options list the answer first, unlettered) with its options shuffled and lettered."""
    order = rng.permutation(len(q.options))
    opts = [q.options[i] for i in order]
    return Question(q.question_type, q.question, lettered(opts), LETTERS[int(np.argmax(order == 0))], q.objects)


# -- sampling a scene's questions -----------------------------------------------------------------------------------

def _segment_clear(scene: Scene, a: np.ndarray, b: np.ndarray, skip: set[int]) -> bool:
    """Whether the floor-plane segment a-b stays in the room and off other objects' footprints."""
    s = np.linspace(0.0, 1.0, max(2, int(np.linalg.norm(b - a) / 0.05)))[:, None]
    pts = a + s * (b - a)
    if not scene.room.contains(pts).all():
        return False
    return all(o.prism.footprint_distance(pts).min() > 0.05 for o in scene.objects
               if o.index not in skip and o.prism.z[0] < 1.0)


def make_questions(scene: Scene, seen_frame: dict[int, int], rng: np.random.Generator,
                   num_frames: int, per_type: dict[str, int] | None = None) -> list[Question]:
    """Questions of every type the scene supports, at most ``per_type[t]`` each.

    ``seen_frame``: object index -> first frame it is visible in (objects never seen are absent).
    """
    per_type = dict(PER_TYPE if per_type is None else per_type)
    seen = [o for o in scene.objects if o.index in seen_frame]
    unique = [o for o in seen if scene.count(o.category) == 1]
    out: list[Question] = []

    def take(kind: str, candidates, build):
        made = 0
        for c in candidates:
            if made >= per_type.get(kind, 0):
                break
            q = build(c)
            if q is not None:
                out.append(q)
                made += 1

    def sample(items, k: int, limit: int = 400):
        """Up to ``limit`` random ordered k-tuples of distinct ``items`` (deterministic under ``rng``)."""
        items = list(items)
        if len(items) < k:
            return []
        return [tuple(items[i] for i in rng.choice(len(items), size=k, replace=False)) for _ in range(limit)]

    # Counting: categories whose every instance was seen; repeated ones first.
    cats = sorted({o.category for o in seen})
    fully_seen = [c for c in cats if all(o.index in seen_frame for o in scene.objects if o.category == c)]
    fully_seen = [fully_seen[i] for i in rng.permutation(len(fully_seen))]
    fully_seen.sort(key=lambda c: -min(scene.count(c), 2))
    take("object_counting", fully_seen, lambda c: counting(scene, c))

    pairs = [p for p in sample(unique, 2) if p[0].index < p[1].index]
    used: set[tuple[int, int]] = set()

    def distance_q(p):
        key = (p[0].index, p[1].index)
        if key in used or closest_distance(p[0].prism, p[1].prism) < MIN_DISTANCE_M:
            return None
        used.add(key)
        return abs_distance(*p)

    take("object_abs_distance", pairs, distance_q)
    take("object_size_estimation", [unique[i] for i in rng.permutation(len(unique))], size)
    take("room_size_estimation", [scene], room_size)

    asked: set[tuple] = set()

    def once(key, q):
        if q is None or key in asked:
            return None
        asked.add(key)
        return q

    take("object_rel_distance", sample(unique, 5),
         lambda t: once(("d", t[0].index), rel_distance(t[0], list(t[1:]))))

    def direction(t, difficulty):
        s, f, g = t
        if np.linalg.norm(footprint_center(f) - footprint_center(s)) < 1.0:
            return None
        if np.linalg.norm(footprint_center(g) - footprint_center(s)) < 0.8:
            return None
        return once((difficulty, s.index, f.index, g.index), rel_direction(s, f, g, difficulty))

    for difficulty in DIRECTIONS:
        take(f"object_rel_direction_{difficulty}", sample(unique, 3),
             lambda t, d=difficulty: direction(t, d))

    def route_q(stops):
        centers = [footprint_center(o) for o in stops]
        if any(np.linalg.norm(b - a) < 1.0 for a, b in zip(centers, centers[1:])):
            return None
        for a, b, oa, ob in zip(centers, centers[1:], stops, stops[1:]):
            if not _segment_clear(scene, a, b, {oa.index, ob.index}):
                return None
        k = len(stops) - 2
        seqs = list(itertools.product(TURNS, repeat=k))
        distractors = [seqs[i] for i in rng.permutation(len(seqs))]
        q = route(list(stops), distractors)
        return once(("r", *(o.index for o in stops)), q and shuffled(q, rng))

    routes = [s for n in (4, 3) for s in sample(unique, n, limit=200)]
    routes = [routes[i] for i in rng.permutation(len(routes))]
    take("route_planning", routes, route_q)

    first_cat: dict[str, int] = {}
    for o in seen:
        first_cat[o.category] = min(first_cat.get(o.category, 1 << 30), seen_frame[o.index])
    gap = max(2, int(0.01 * num_frames))

    def order_q(cs):
        frames = sorted(first_cat[c] for c in cs)
        if any(b - a < gap for a, b in zip(frames, frames[1:])):
            return None
        perms = list(itertools.permutations(cs))
        distractors = [perms[i] for i in rng.permutation(len(perms))]
        return once(("o", *sorted(cs)), shuffled(appearance_order(list(cs), first_cat, distractors), rng))

    combos = list(itertools.combinations(sorted(first_cat), 4))  # at most C(15, 4) = 1365: try them all
    combos = [tuple(combos[i][j] for j in rng.permutation(4)) for i in rng.permutation(len(combos))]
    take("obj_appearance_order", combos, order_q)
    return out
