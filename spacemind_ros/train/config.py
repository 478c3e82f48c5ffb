"""Training configuration: nested dataclasses, every field documented (``help``), loaded from YAML with dotted
command-line overrides (``train.lr=1e-4``). ``render_yaml`` writes the documented file (config/train/*.yaml)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

CGMF_VARIANTS = ("none", "shallow", "token_weight", "geometric_bias", "full")
TRAINABLE_PARTS = ("cgmf", "lora", "vision", "llm", "vggt")
OBJECTIVES = ("answer", "geometry", "category", "position")
CATEGORY_HEADS = ("linear", "words")
QUATERNION_SIGNS = ("fixed", "either")


def _f(default, help: str, **kw):
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help}, **kw)
    return field(default=default, metadata={"help": help}, **kw)


@dataclass
class ModelSection:
    preset: str = _f("tiny", "tiny (random weights, CPU tests), small (random weights, the small recipe's start) or "
                             "spacemind-8b (needs internvl_path and vggt_path, or init_from)")
    init_from: str | None = _f(None, "SpaceMind folder to start from (its CGMF and LoRA weights); null = fresh CGMF "
                                     "(identity) and fresh LoRA")
    internvl_path: str | None = _f(None, "InternVL3-8B-hf checkpoint folder (spacemind-8b)")
    vggt_path: str | None = _f(None, "VGGT-1B checkpoint folder (spacemind-8b)")
    seed: int = _f(0, "seed of the tiny preset's random base weights")
    cgmf_variant: str = _f("full", "ablation ladder: none (base InternVL3 + LoRA, CGMF kept at identity), shallow, "
                                   "token_weight, geometric_bias, full")
    lora_r: int | None = _f(None, "LoRA rank (null = the preset's: 256 for spacemind-8b, 8 for tiny)")
    lora_alpha: int | None = _f(None, "LoRA alpha (null = the preset's: 2 * rank)")
    lora_dropout: float | None = _f(None, "LoRA dropout (null = the preset's)")
    lora_targets: str | None = _f(None, "LLM layers LoRA adapts: attention (q/k/v/o) or all_linear (also the MLP's "
                                        "gate/up/down, as InternVL's own LoRA fine-tuning of Qwen2); null = the "
                                        "preset's (attention)")
    save_encoders: bool | None = _f(None, "also write InternVL and VGGT into each checkpoint (null = for tiny and "
                                          "small, whose weights exist nowhere else, and whenever they train)")
    trainable: list = _f(["cgmf", "lora"], "what trains (the paper: cgmf, lora); also vision (InternViT + projector), "
                                           "llm (the LLM's own weights, embeddings and head), vggt (aggregator and "
                                           "heads) for the small recipe's earlier stages")


@dataclass
class DataSection:
    train: list = _f([], "training sets: a list of {format: scenes|vsibench|vlm3r|vica|sqa3d, path: FILE, "
                         "media_root: DIR, topic: /camera/image_raw, annotations: FILE (sqa3d), media_pattern: "
                         "'{scene_id}' (sqa3d), limit: N}")
    eval: list = _f([], "held-out sets, same form as train; empty = hold out eval_fraction of train")
    eval_fraction: float = _f(0.0, "fraction of the training records held out for evaluation when eval is empty")
    sample_frames: int = _f(34, "frames sampled uniformly over each video (paper: 34)")
    drop_ends: int = _f(1, "frames dropped at each end of the sample (paper: 1 -> 32 frames)")
    min_frames: int = _f(4, "samples with fewer readable frames are skipped")
    num_workers: int = _f(0, "DataLoader worker processes per rank (decode videos and bags in the background)")
    blank_frames: bool = _f(False, "replace every frame by a constant grey image (the blind twin: the same recipe "
                                   "without the scene)")
    frame_cache_mb: int = _f(0, "keep decoded sampled frames in memory up to this many MB per process (0 = off): the "
                                "questions of one video share them (pays on small models, where decoding dominates)")


@dataclass
class TrainSection:
    epochs: float = _f(2.0, "passes over the training set (paper: 2)")
    max_steps: int = _f(0, "stop after this many optimizer steps (0 = epochs decide)")
    lr: float = _f(2e-5, "peak learning rate (paper: 2e-5)")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    betas: list = _f([0.9, 0.999], "AdamW betas")
    warmup_ratio: float = _f(0.03, "linear warm-up over this fraction of the optimizer steps, then cosine to 0")
    global_batch: int = _f(64, "samples per optimizer step over all ranks (paper: 64) = micro_batch * "
                               "accumulation * world size")
    micro_batch: int = _f(1, "samples per forward pass on one rank")
    max_grad_norm: float = _f(1.0, "gradient clipping (0 = off)")
    seed: int = _f(42, "seed of data order, dropout and every RNG")
    objective: str = _f("answer", "answer (cross-entropy on the answer tokens), geometry (VGGT's camera and depth "
                                  "losses against the scenes' ground truth), category (InternViT's tokens against "
                                  "the scenes' per-pixel classes) or position (CGMF's fused tokens against each "
                                  "token's 3D position from the scenes' depth and poses); geometry, category and "
                                  "position read data.train entries of format scenes")
    geometry_frames: int = _f(8, "views per sample of the geometry, category and position objectives, spread over "
                                 "the walk")
    geometry_span: float = _f(1.0, "share of the walk those views are spread over: a random stretch that long (1 = the "
                                   "whole walk; the held-out evaluation uses it too)")
    depth_weight: float = _f(1.0, "the geometry objective's weight of the depth loss beside the camera loss (0 = "
                                  "cameras alone)")
    point_weight: float = _f(0.0, "the geometry objective's weight of VGGT's point-map loss (each pixel's 3D point in "
                                  "the first view's camera frame, from the scenes' depth and poses); above 0 builds "
                                  "the point head where the model has none")
    quaternion_sign: str = _f("fixed", "the geometry objective's rotation target: fixed (VGGT's, L1 to the quaternion "
                                       "with w >= 0, whose sign flips at a half turn, so two nearly equal rotations "
                                       "get opposite targets) or either (L1 to the nearer of q and -q, the same "
                                       "rotation: for walks that turn past 180 degrees from their first view)")
    category_head: str = _f("linear", "the category objective's head: linear (learnt) or words (the LLM's own input "
                                      "embeddings of the class names, fixed: the tokens learn to point where the LLM "
                                      "keeps each class's word)")
    geometry_span_from: float | None = _f(None, "a curriculum: the span of the first epoch, growing linearly to "
                                                "geometry_span by the last (views close in time overlap, so their "
                                                "relative poses are learnt first); null = geometry_span throughout")
    geometry_span_min: float | None = _f(None, "the geometry objective: each training sample's views spread over its "
                                               "own share of the walk, drawn uniformly between this and geometry_span "
                                               "(the views' spacing then varies, so it must be read from the frames, "
                                               "not learnt as the walks' usual motion); null = geometry_span for every "
                                               "sample; the evaluation uses geometry_span")
    visual_words_weight: float = _f(0.0, "the answer objective's auxiliary loss: at every visual token the LLM names "
                                          "the object its patch shows, through its own LM head, against the scenes' "
                                          "per-pixel classes (spacemind_ros.train.visual_words; scene bags); 0 = off")
    visual_words_layer: int = _f(-1, "the LLM layer whose output that loss reads (1 = the first; -1 = the middle)")
    device: str = _f("auto", "auto (cuda if available), cpu, cuda, cuda:N (under torchrun: the local rank's GPU)")
    precision: str = _f("auto", "auto (bf16 autocast on GPU, fp32 on CPU), bf16, fp32")
    weights_dtype: str = _f("auto", "dtype of the frozen InternVL weights (ViT, projector, LLM): auto (bfloat16 on "
                                    "GPU, float32 on CPU), bfloat16, float32; VGGT stays float32 under autocast "
                                    "like the node")
    gradient_checkpointing: bool = _f(False, "recompute LLM layer activations in backward (less memory, ~30% "
                                             "slower)")
    encoder_cache: str | None = _f(None, "folder for the frozen encoders' outputs per sample (InternViT tokens, "
                                         "VGGT patch and camera tokens); null = compute live every step")
    eval_every: int = _f(0, "evaluate on the held-out set every N optimizer steps (0 = only at the end if there is "
                            "one)")
    eval_max_samples: int = _f(64, "held-out samples per evaluation")
    eval_generate: bool = _f(True, "also answer the held-out VSI-Bench questions greedily and score them with the "
                                   "evaluation tool's official scorer (spacemind_ros.eval), where it is installed")


@dataclass
class OutputSection:
    dir: str = _f("runs/train", "output folder: checkpoints, train_log.csv, tensorboard/, loss_curve.png, "
                                "summary.json, final/")
    save_every: int = _f(500, "write a checkpoint every N optimizer steps (0 = only the final one)")
    keep_last: int = _f(2, "checkpoints kept (older ones are deleted; final/ is always kept)")
    resume: str | None = _f(None, "null, 'auto' (the newest checkpoint in dir) or a checkpoint folder")
    log_every: int = _f(1, "rows in train_log.csv / TensorBoard every N optimizer steps")
    progress_bar: bool = _f(True, "tqdm progress bar on rank 0")
    tensorboard: bool = _f(True, "write TensorBoard event files to dir/tensorboard")


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    train: TrainSection = field(default_factory=TrainSection)
    output: OutputSection = field(default_factory=OutputSection)

    def __post_init__(self):
        unknown = sorted(set(self.model.trainable) - set(TRAINABLE_PARTS))
        if unknown or not self.model.trainable:
            raise ValueError(f"model.trainable {self.model.trainable}: a non-empty list of "
                             f"{', '.join(TRAINABLE_PARTS)}")
        if self.train.objective not in OBJECTIVES:
            raise ValueError(f"train.objective {self.train.objective!r}: choose from {', '.join(OBJECTIVES)}")
        for name, choices in (("category_head", CATEGORY_HEADS), ("quaternion_sign", QUATERNION_SIGNS)):
            if getattr(self.train, name) not in choices:
                raise ValueError(f"train.{name} {getattr(self.train, name)!r}: choose from {', '.join(choices)}")
        for name in ("depth_weight", "point_weight", "visual_words_weight"):
            if getattr(self.train, name) < 0:
                raise ValueError(f"train.{name} {getattr(self.train, name)}: a weight, at least 0")
        if self.train.visual_words_weight and self.train.objective != "answer":
            raise ValueError(f"train.visual_words_weight {self.train.visual_words_weight}: an auxiliary loss of the "
                             f"answer objective, not of {self.train.objective}")
        if self.train.geometry_span_min is not None and (self.train.geometry_span_from is not None or not
                                                          0 < self.train.geometry_span_min <= self.train.geometry_span
                                                          or self.train.objective != "geometry"):
            raise ValueError(f"train.geometry_span_min {self.train.geometry_span_min}: the shortest share of the walk "
                             f"a geometry sample's views cover, in (0, geometry_span], for train.objective geometry "
                             f"and not with geometry_span_from")
        for name in ("geometry_span", "geometry_span_from"):
            value = getattr(self.train, name)
            if value is not None and not 0 < value <= 1:
                raise ValueError(f"train.{name} {value}: the share of the walk a sample's views cover, in (0, 1]")
        if self.train.encoder_cache and set(self.model.trainable) & {"vision", "vggt"}:
            raise ValueError("train.encoder_cache holds frozen encoders' outputs; it cannot be used while "
                             "model.trainable includes vision or vggt")
        if self.model.lora_targets not in (None, "attention", "all_linear"):
            raise ValueError(f"model.lora_targets {self.model.lora_targets!r}: choose attention or all_linear")
        if self.model.cgmf_variant not in CGMF_VARIANTS:
            raise ValueError(f"model.cgmf_variant {self.model.cgmf_variant!r}: choose from {', '.join(CGMF_VARIANTS)}")
        if self.train.precision not in ("auto", "bf16", "fp32"):
            raise ValueError("train.precision must be auto, bf16 or fp32")
        if self.train.weights_dtype not in ("auto", "bfloat16", "float32"):
            raise ValueError("train.weights_dtype must be auto, bfloat16 or float32")
        if self.train.micro_batch < 1 or self.train.global_batch < self.train.micro_batch:
            raise ValueError("train.micro_batch >= 1 and train.global_batch >= micro_batch are required")
        if self.data.sample_frames - 2 * self.data.drop_ends < 1:
            raise ValueError("data.sample_frames - 2 * data.drop_ends must be at least 1")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        sections = {}
        for f in dataclasses.fields(cls):
            values = dict(d.get(f.name) or {})
            known = {x.name for x in dataclasses.fields(f.default_factory)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(f'{f.name}.{u}' for u in unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
            types = {x.name: str(x.type) for x in dataclasses.fields(f.default_factory)}
            sections[f.name] = f.default_factory(**{k: _coerce(v, types[k], f"{f.name}.{k}") for k, v in values.items()})
        extra = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if extra:
            raise ValueError(f"unknown section(s) {', '.join(extra)}; known: model, data, train, output")
        return cls(**sections)


def _coerce(value, annotation: str, name: str):
    """YAML reads 1e-4 as a string (YAML 1.1); numbers are converted by the field's type."""
    if isinstance(value, str) and annotation.split(" |")[0] in ("float", "int"):
        try:
            return float(value) if annotation.startswith("float") else int(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not a number") from None
    if isinstance(value, int) and not isinstance(value, bool) and annotation.startswith("float"):
        return float(value)
    return value


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> TrainConfig:
    """YAML file (optional) + ``section.field=value`` overrides (values parsed as YAML: 1e-4, true, [a, b])."""
    data = yaml.safe_load(Path(path).read_text()) if path else {}
    data = data or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"override {item!r} must look like section.field=value (e.g. train.lr=1e-4)")
        data.setdefault(section, {})
        if data[section] is None:
            data[section] = {}
        data[section][name] = yaml.safe_load(value)
    return TrainConfig.from_dict(data)


def render_yaml(config: TrainConfig | None = None, header: str = "") -> str:
    """The config as YAML with each field's documentation as a comment above it."""
    config = config or TrainConfig()
    lines = [f"# {h}" if h else "#" for h in header.splitlines()] if header else []
    for section in dataclasses.fields(config):
        obj = getattr(config, section.name)
        lines.append(f"{section.name}:")
        for f in dataclasses.fields(obj):
            lines.append(f"  # {f.metadata['help']}")
            value = getattr(obj, f.name)
            if isinstance(value, list) and value and isinstance(value[0], dict):
                lines.append(f"  {f.name}:")
                lines.extend("  - " + yaml.safe_dump(v, default_flow_style=True, width=1000).strip() for v in value)
            else:
                flow = isinstance(value, list)
                dumped = yaml.safe_dump({f.name: value}, default_flow_style=flow, sort_keys=False, width=1000)
                lines.append("  " + dumped.strip().removeprefix("{").removesuffix("}"))
    return "\n".join(lines) + "\n"


# Shipped configs (config/train/NAME.yaml): header and overrides of the defaults. A test keeps the files equal to
# render_shipped(NAME), so every field stays documented in each of them.
_8B = ["model.preset=spacemind-8b", "model.internvl_path=/models/InternVL3-8B-hf", "model.vggt_path=/models/VGGT-1B",
       "model.lora_targets=all_linear",
       "train.gradient_checkpointing=true", "data.num_workers=4",
       "data.train=[{format: vlm3r, path: /data/vlm3r/train.json, media_root: /data/vlm3r/videos}, "
       "{format: vica, path: /data/ViCA-322K/train.json, media_root: /data/ViCA-322K/videos}, "
       "{format: sqa3d, path: /data/sqa3d/v1_balanced_questions_train_scannetv2.json, "
       "annotations: /data/sqa3d/v1_balanced_sqa_annotations_train_scannetv2.json, media_root: /data/scannet/videos, "
       "media_pattern: '{scene_id}.mp4'}]"]
# The small recipe (spacemind_ros.train.small_recipe): scenes at 160x120, 64 frames each, seeds 1000-1399; 16 frames
# per question (18 sampled, ends dropped) in stages 1-3, 8 in stage 4 (twice the steps in the same time: the LLM
# learns slowly, per step, not per frame). Stages 1-2 as first shipped (stage 2 reads the first 4000 training
# questions); stage 3 teaches InternViT the renderer's classes; stage 4 trains the LLM with full CGMF on every
# training question, route and inventory (scenes/inventory.py), encoders frozen and cached.
SMALL_SCENES = "runs/small/scenes"
SMALL_COMMON = ["model.preset=small", "train.warmup_ratio=0.05", "train.weight_decay=0.01", "output.save_every=0",
                "output.keep_last=1", "data.sample_frames=18", "data.frame_cache_mb=1024",
                f"data.train=[{{format: scenes, path: {SMALL_SCENES}/train.jsonl, limit: 4000}}]",
                f"data.eval=[{{format: scenes, path: {SMALL_SCENES}/heldout.jsonl}}]", "train.eval_max_samples=48"]
SMALL_STAGES = [
    ("small-1-geometry", "VGGT learns cameras and depth from the scenes' ground truth",
     ["model.trainable=[vggt]", "model.cgmf_variant=none", "train.objective=geometry", "train.geometry_frames=8",
      "train.lr=1e-3", "train.global_batch=4", "train.epochs=3", "output.dir=runs/small/1-geometry"]),
    ("small-2-vision-llm", "InternViT, projector and LLM learn the scene QA, without CGMF",
     ["model.init_from=runs/small/1-geometry/final", "model.trainable=[vision, llm]", "model.cgmf_variant=none",
      "train.lr=1e-3", "train.global_batch=16", "train.epochs=1", "output.dir=runs/small/2-vision-llm"]),
    ("small-3-category", "InternViT and projector learn each token's classes from the renderer's labels",
     ["model.init_from=runs/small/2-vision-llm/final", "model.trainable=[vision]", "model.cgmf_variant=none",
      "train.objective=category", "train.geometry_frames=8", "train.lr=1e-3", "train.global_batch=4",
      "train.epochs=10", f"data.train=[{{format: scenes, path: {SMALL_SCENES}/train.jsonl}}]",
      "output.dir=runs/small/3-category"]),
    ("small-4-qa", "encoders frozen and cached; LLM and full CGMF learn every training question, route and inventory",
     ["model.init_from=runs/small/3-category/final", "model.trainable=[llm, cgmf]", "model.cgmf_variant=full",
      "train.lr=1e-3", "train.global_batch=16", "train.micro_batch=8", "data.sample_frames=10",
      "train.epochs=5", f"data.train=[{{format: scenes, path: {SMALL_SCENES}/train.jsonl}}, "
      f"{{format: scenes, path: {SMALL_SCENES}/routes_train.jsonl}}, "
      f"{{format: scenes, path: {SMALL_SCENES}/inventory_train.jsonl}}]", "train.eval_max_samples=200",
      "train.encoder_cache=runs/small/encoder_cache", "output.dir=runs/small/4-qa"]),
]
SMALL_POSITION = ["model.init_from=runs/small/3-category/final", "model.trainable=[cgmf]", "model.cgmf_variant=full",
                  "train.objective=position", "train.geometry_frames=8", "train.lr=1e-3", "train.global_batch=4",
                  "train.epochs=10", f"data.train=[{{format: scenes, path: {SMALL_SCENES}/train.jsonl}}]",
                  "train.eval_max_samples=1000", "train.eval_every=89", "output.dir=runs/small/position"]
SHIPPED = {
    "spacemind-8b": ("The paper's recipe (full CGMF): InternVL3-8B + VGGT-1B, 2 epochs, lr 2e-5, global batch 64, "
                     "32 frames.\nspacemind-train --config config/train/spacemind-8b.yaml  (or torchrun "
                     "--nproc_per_node 8 -m spacemind_ros.train.cli --config ...)", _8B + ["output.dir=runs/spacemind-8b"]),
    **{f"ablation-{v}": (f"Ablation ladder rung '{v}' (../shared/spec/cgmf.md, Table 4): the paper recipe with "
                         f"model.cgmf_variant={v}.", _8B + [f"model.cgmf_variant={v}", f"output.dir=runs/ablation-{v}"])
       for v in ("none", "shallow", "token_weight", "geometric_bias")},
    "tiny-scenes": ("CPU smoke run: tiny preset (random base weights) on the synthetic scenes (spacemind-scenes generate "
                    "--out scenes:\nscenes/train.jsonl and scenes/heldout.jsonl, bags relative to them).\n"
                    "spacemind-train --config config/train/tiny-scenes.yaml",
                    ["train.lr=5e-3", "train.global_batch=4", "train.epochs=3", "train.warmup_ratio=0.1",
                     "output.dir=runs/tiny-scenes", "output.save_every=20", "train.eval_every=20",
                     "data.train=[{format: scenes, path: scenes/train.jsonl}]",
                     "data.eval=[{format: scenes, path: scenes/heldout.jsonl}]",
                     "train.encoder_cache=runs/tiny-scenes/encoder_cache"]),
    **{name: (f"The small recipe, stage {i + 1} of {len(SMALL_STAGES)} ({what}); python -m "
              "spacemind_ros.train.small_recipe runs them in order\n(and makes the scenes first): docs/small-model.md."
              "\nspacemind-train --config "
              f"config/train/{name}.yaml", SMALL_COMMON + overrides)
       for i, (name, what, overrides) in enumerate(SMALL_STAGES)},
    "small-position": ("The position experiment of docs/small-model.md (not a stage of the shipped recipe): CGMF alone "
                       "learns each visual token's 3D position from\nthe scenes' depth and poses, starting from the "
                       "small recipe's category stage; its QA stage is small-4-qa with model.init_from=runs/small/"
                       "position/final.\nspacemind-train --config config/train/small-position.yaml",
                       SMALL_COMMON + SMALL_POSITION),
}


def render_shipped(name: str) -> str:
    header, overrides = SHIPPED[name]
    return render_yaml(load_config(None, overrides), header)


if __name__ == "__main__":  # regenerate config/train/*.yaml
    out = Path(__file__).resolve().parents[2] / "config" / "train"
    out.mkdir(parents=True, exist_ok=True)
    for _name in SHIPPED:
        (out / f"{_name}.yaml").write_text(render_shipped(_name))
        print(out / f"{_name}.yaml")
