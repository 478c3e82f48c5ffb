"""Writing scenes to disk: per scene a bag, questions, scene.json, map and contact sheet; per dataset an index.

Layout of ``spacemind-scenes generate --out DIR``::

    DIR/dataset.json                  settings, seeds of each split, question counts
    DIR/questions.jsonl               every question of every scene (bag paths relative to DIR)
    DIR/train.jsonl, heldout.jsonl    the same records split by seed
    DIR/routes.jsonl                  /route_advice ground truth (the routes of the route-planning questions);
    DIR/routes_train.jsonl, routes_heldout.jsonl   split the same way
    DIR/inventory_train.jsonl, inventory_heldout.jsonl   what each walk showed, in order and counted (training only)
    DIR/synth_000042/bag/             ROS 2 bag (metadata.yaml + .mcap or .db3)
    DIR/synth_000042/questions.jsonl  this scene's questions (bag path "bag")
    DIR/synth_000042/routes.jsonl     this scene's route-advice ground truth
    DIR/synth_000042/scene.json       room, objects, camera, walk, what was seen when
    DIR/synth_000042/map.png          top-down map       DIR/synth_000042/contact_sheet.png  frames
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from spacemind_ros.scenes.bag import IMAGE_TOPIC, SceneBagWriter
from spacemind_ros.scenes.camera import Intrinsics
from spacemind_ros.scenes.catalog import SEMANTIC_CLASSES, semantic_class
from spacemind_ros.scenes.generator import generate
from spacemind_ros.scenes.inventory import write_inventory
from spacemind_ros.scenes.preview import contact_sheet, thumbnail, top_down_map
from spacemind_ros.scenes.questions import QUESTION_TYPES, make_questions, route_advice
from spacemind_ros.scenes.renderer import Frame, Renderer
from spacemind_ros.scenes.scene import Scene
from spacemind_ros.scenes.walk import WALK_STYLES, Walk

START_NS = 1_767_225_600 * 1_000_000_000  # 2026-01-01T00:00:00Z: the first frame's stamp
VISIBLE_FRACTION = 0.002  # an object counts as seen in a frame when it covers this share of the pixels
DATASET_NAME = "spacemind-synthetic"
GENERATOR_VERSION = 2  # 2: /camera/semantic in the bag, routes*.jsonl
SHEET_FRAMES = 12


@dataclass(frozen=True)
class SceneSettings:
    """Rendering and output settings shared by every scene of a dataset."""

    width: int = 640
    height: int = 480
    frames: int = 300
    fps: float = 10.0
    hfov_deg: float = 70.0
    storage: str = "mcap"
    compress: bool = False
    walk: str = "tour"  # the camera's walk, one of walk.WALK_STYLES

    def __post_init__(self):
        if self.frames < 2:
            raise ValueError(f"a walk needs at least 2 frames, not {self.frames}")
        if not 16 <= self.width <= 4096 or not 16 <= self.height <= 4096:
            raise ValueError(f"image size {self.width}x{self.height} is outside 16..4096 pixels a side")
        if not 0 < self.fps <= 1000:
            raise ValueError(f"fps {self.fps} is outside (0, 1000]")
        if not 20.0 <= self.hfov_deg <= 150.0:
            raise ValueError(f"horizontal field of view {self.hfov_deg} is outside 20-150 degrees")
        if self.walk not in WALK_STYLES:
            raise ValueError(f"walk {self.walk!r} is not one of {', '.join(WALK_STYLES)}")

    @property
    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_fov(self.width, self.height, self.hfov_deg)


def render_walk(scene: Scene, walk: Walk, intrinsics: Intrinsics) -> Iterator[tuple[int, Frame]]:
    """``(frame index, Frame)`` for every pose of the walk, one at a time."""
    renderer = Renderer(scene, intrinsics)
    for i in range(len(walk)):
        yield i, renderer.render(walk.pose(i))


_worker: dict = {}


def _start_worker(scene: Scene, walk: Walk, intrinsics: Intrinsics) -> None:
    _worker.update(renderer=Renderer(scene, intrinsics), walk=walk, n=len(scene.objects),
                   classes=object_classes(scene))


def _render_in_worker(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    frame = _worker["renderer"].render(_worker["walk"].pose(i))
    return frame.rgb, frame.depth, frame.object_pixels(_worker["n"]), frame.semantic(_worker["classes"])


def object_classes(scene: Scene) -> np.ndarray:
    """``[objects]`` each object's SEMANTIC_CLASSES id."""
    return np.array([semantic_class(o.category) for o in scene.objects], np.uint8)


def render_walk_parallel(scene: Scene, walk: Walk, intrinsics: Intrinsics, workers: int):
    """``(frame index, rgb, depth, object pixel counts, semantic)`` in order, rendered by ``workers`` processes.

    The same renderer in each process gives the same bytes as :func:`render_walk`; at most 2 frames per worker are
    in flight, so memory does not grow with the walk's length.
    """
    import multiprocessing
    from collections import deque

    ctx = multiprocessing.get_context("spawn")  # no fork: the caller may hold threads (rclpy, torch)
    with ctx.Pool(workers, initializer=_start_worker, initargs=(scene, walk, intrinsics)) as pool:
        pending: deque = deque()
        for i in range(len(walk)):
            pending.append(pool.apply_async(_render_in_worker, (i,)))
            if len(pending) >= 2 * workers:
                yield (i - len(pending) + 1, *pending.popleft().get())
        first = len(walk) - len(pending)
        for k, job in enumerate(pending):
            yield (first + k, *job.get())


def first_seen(pixels: np.ndarray, image_pixels: int) -> dict[int, int]:
    """Object index -> first frame it covers at least VISIBLE_FRACTION of the image in.

    ``pixels`` [frames, objects]: pixel counts per frame (Frame.object_pixels)."""
    need = max(1, int(np.ceil(VISIBLE_FRACTION * image_pixels)))
    seen = pixels >= need
    return {int(j): int(np.argmax(seen[:, j])) for j in range(pixels.shape[1]) if seen[:, j].any()}


def is_heldout(seed: int, fraction: float) -> bool:
    """The split of ``seed``: held out when a hash of the seed falls in the first ``fraction`` of its range
    (stable whatever the dataset's size or first seed)."""
    h = int.from_bytes(hashlib.sha256(f"spacemind-scenes:{seed}".encode()).digest()[:8], "big")
    return h / 2.0 ** 64 < fraction


def scene_name(seed: int) -> str:
    return f"synth_{seed:06d}"


def write_scene(seed: int, folder: str | Path, settings: SceneSettings = SceneSettings(),
                progress: Callable[[int, int], None] | None = None, workers: int = 1) -> dict:
    """Generate scene ``seed`` into ``folder`` (replaced if it exists); returns its summary.

    ``workers`` > 1 renders in that many processes (same output, byte for byte)."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    scene, walk = generate(seed, settings.frames, settings.fps, start_ns=START_NS, walk_style=settings.walk)
    intrinsics = settings.intrinsics
    pixels = np.zeros((settings.frames, len(scene.objects)), np.int64)
    sheet_at = set(np.linspace(0, settings.frames - 1, SHEET_FRAMES).round().astype(int).tolist())
    thumbs = []
    if workers > 1:
        frames = render_walk_parallel(scene, walk, intrinsics, workers)
    else:
        classes = object_classes(scene)
        frames = ((i, f.rgb, f.depth, f.object_pixels(len(scene.objects)), f.semantic(classes)) for i, f in
                  render_walk(scene, walk, intrinsics))
    with SceneBagWriter(folder / "bag", settings.storage, settings.compress) as bag:
        for i, rgb, depth, counts, semantic in frames:
            bag.write(int(walk.stamps_ns[i]), rgb, depth, intrinsics, walk.pose(i), semantic)
            pixels[i] = counts
            if i in sheet_at:
                thumbs.append((i, (walk.stamps_ns[i] - START_NS) / 1e9, thumbnail(rgb)))
            if progress:
                progress(i + 1, settings.frames)
    seen = first_seen(pixels, settings.width * settings.height)
    questions = make_questions(scene, seen, np.random.default_rng([seed, 1]), settings.frames)
    records = [q.record(seed * 1000 + k, scene.name, "bag") for k, q in enumerate(questions)]
    _write_jsonl(folder / "questions.jsonl", records)
    # The routes of the route-planning questions, as /route_advice would be asked about them (no new randomness:
    # the questions stay what they were).
    routes = [route_advice([scene.objects[i] for i in q.objects], scene.name, "bag", seed * 1000 + 500 + k)
              for k, q in enumerate(q for q in questions if q.question_type == "route_planning")]
    routes = [r for r in routes if r is not None]
    _write_jsonl(folder / "routes.jsonl", routes)
    info = scene.to_dict() | {
        "generator_version": GENERATOR_VERSION, "settings": asdict(settings),
        "camera": {"frame": "camera_optical (x right, y down, z forward); poses are camera-to-world in map "
                            "(x, y on the floor, z up)", "intrinsics": asdict(intrinsics)},
        "walk": walk.to_dict(),
        "seen": {str(k): {"first_frame": v, "max_pixels": int(pixels[:, k].max())} for k, v in sorted(seen.items())},
        "unseen": [o.index for o in scene.objects if o.index not in seen],
        "question_objects": [list(q.objects) for q in questions],
    }
    (folder / "scene.json").write_text(json.dumps(info, indent=1) + "\n")
    top_down_map(scene, walk, seen).save(folder / "map.png")
    contact_sheet(thumbs, title=f"{scene.name}: {settings.frames} frames at {settings.fps:g} fps, "
                                f"{settings.width}x{settings.height}").save(folder / "contact_sheet.png")
    return {"scene_name": scene.name, "seed": seed, "folder": folder.name, "questions": len(records),
            "question_types": dict(Counter(r["question_type"] for r in records)), "records": records,
            "routes": routes}


def _write_jsonl(path: Path, records) -> None:
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=True) + "\n")


def write_dataset(seed: int, count: int, out: str | Path, settings: SceneSettings = SceneSettings(),
                  heldout_fraction: float = 0.2,
                  progress: Callable[[int, int, int, int], None] | None = None, workers: int = 1) -> dict:
    """Scenes ``seed .. seed + count - 1`` into ``out`` with a joint index and a train / held-out split."""
    if count < 1:
        raise ValueError(f"count must be at least 1, not {count}")
    if not 0.0 <= heldout_fraction <= 1.0:
        raise ValueError(f"heldout fraction {heldout_fraction} is outside [0, 1]")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    index, splits, types = [], {"train": [], "heldout": []}, Counter()
    split_records: dict[str, list] = {"train": [], "heldout": []}
    split_routes: dict[str, list] = {"train": [], "heldout": []}
    for k in range(count):
        s = seed + k
        summary = write_scene(s, out / scene_name(s), settings,
                              progress and (lambda i, n, k=k: progress(k + 1, count, i, n)), workers=workers)
        records = [r | {"bag": f"{summary['folder']}/{r['bag']}"} for r in summary["records"]]
        split = "heldout" if is_heldout(s, heldout_fraction) else "train"
        splits[split].append(s)
        split_records[split] += records
        split_routes[split] += [r | {"bag": f"{summary['folder']}/{r['bag']}"} for r in summary["routes"]]
        index += records
        types.update(summary["question_types"])
    _write_jsonl(out / "questions.jsonl", index)
    for split, records in split_records.items():
        _write_jsonl(out / f"{split}.jsonl", records)
    _write_jsonl(out / "routes.jsonl", split_routes["train"] + split_routes["heldout"])
    for split, routes in split_routes.items():
        _write_jsonl(out / f"routes_{split}.jsonl", routes)
    manifest = {"dataset": DATASET_NAME, "generator_version": GENERATOR_VERSION, "first_seed": seed,
                "count": count, "settings": asdict(settings), "heldout_fraction": heldout_fraction,
                "splits": splits, "questions": len(index),
                "question_types": {t: types.get(t, 0) for t in QUESTION_TYPES}, "image_topic": IMAGE_TOPIC,
                "routes": {split: len(r) for split, r in split_routes.items()},
                "semantic_classes": list(SEMANTIC_CLASSES)}
    (out / "dataset.json").write_text(json.dumps(manifest, indent=1) + "\n")
    write_inventory(out)
    return manifest


def walkthrough_frames(num_frames: int = 48, height: int = 240, width: int = 320, fps: float = 10.0,
                       start_ns: int = 0, seed: int = 0) -> list[tuple[int, np.ndarray]]:
    """``[(stamp_ns, [H, W, 3] uint8 RGB)]``: a short walk through generated scene ``seed`` (demo, tests)."""
    scene, walk = generate(seed, num_frames, fps, start_ns=start_ns)
    intrinsics = SceneSettings(width=width, height=height, frames=max(2, num_frames), fps=fps).intrinsics
    return [(int(walk.stamps_ns[i]), frame.rgb) for i, frame in render_walk(scene, walk, intrinsics)]
