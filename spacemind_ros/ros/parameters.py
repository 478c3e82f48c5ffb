"""The node's parameters, declared once: this table drives declaration, descriptors, validation and the YAML."""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class Param:
    default: object
    description: str
    min: float | None = None
    max: float | None = None
    read_only: bool = False


PARAMS: dict[str, Param] = {
    "image_topic": Param("image", "sensor_msgs/Image topic (rgb8, bgr8, rgba8, bgra8, mono8, yuv422, yuyv, bayer_*8)",
                         read_only=True),
    "compressed_topic": Param("", "sensor_msgs/CompressedImage topic (jpeg/png); empty = off", read_only=True),
    "camera_info_topic": Param("", "sensor_msgs/CameraInfo topic recorded with each frame; empty = off",
                               read_only=True),
    "window_max_frames": Param(300, "keyframes held at most (memory bound)", 8, 4096),
    "window_max_bytes": Param(1 << 30, "pixel bytes the window holds at most; the oldest frames go first", 1 << 20,
                              1 << 40),
    "image_max_pixels": Param(1920 * 1080, "larger frames are downscaled on intake by an integer factor (0 = never)",
                              0, 1 << 30),
    "image_max_aspect": Param(8.0, "frames wider or taller than this ratio are dropped (0 = any)", 0.0, 1000.0),
    "window_duration_s": Param(300.0, "frames older than newest minus this are evicted (s)", 1.0, 3600.0),
    "keyframe_gap_s": Param(1.0, "minimum time between kept keyframes (s)", 0.0, 10.0),
    "min_frames": Param(4, "fewer frames answer NOT_ENOUGH_FRAMES", 1, 64),
    "query_frames": Param(0, "frames a query samples uniformly over the window (2 more, ends dropped); 0 = what "
                             "the model was trained with (small: 16, SpaceMind: 32)", 0, 256),
    "preset": Param("small", "model preset when model_path is empty (small = trained on synthetic rooms only, "
                             "tiny = random weights, untrained)",
                    read_only=True),
    "model_path": Param("", "SpaceMind folder (spacemind_config.json, cgmf.safetensors, lora/); changeable while "
                            "unconfigured"),
    "backend": Param("auto", "encoder backend: auto, torch, onnxruntime, tensorrt (pytorch = torch)",
                     read_only=True),
    "engine_dir": Param("", "ONNX/TensorRT engine cache; empty = $SPACEMIND_ENGINE_DIR or engine/", read_only=True),
    "device": Param("auto", "torch device for the model (auto = cuda when present, cpu, cuda, cuda:1)",
                    read_only=True),
    "dtype": Param("auto", "model dtype: auto (bfloat16 on CUDA, float32 on CPU), float32, bfloat16, float16",
                   read_only=True),
    "llm_backend": Param("torch", "where the language model runs: torch (in this process) or vllm (a server "
                                  "started on spacemind-engine export-llm's folder; see llm_url)", read_only=True),
    "llm_url": Param("http://localhost:8000/v1", "llm_backend vllm: the OpenAI-compatible API base URL",
                     read_only=True),
    "llm_model": Param("", "llm_backend vllm: the served model name; empty = the server's first", read_only=True),
    "batch_max": Param(4, "queries of different robots on one model that may run as one batch (1 = one at a "
                          "time); batched answers equal one-by-one answers in the CPU float32 tests", 1, 64,
                       read_only=True),
    "queue_limit": Param(2, "queries that may wait behind the running one; more answer BUSY", 0, 64),
    "default_timeout_s": Param(60.0, "timeout of a query that asks for 0 (s)", 0.01, 3600.0),
    "max_new_tokens": Param(16, "decoded tokens at most for questions", 1, 4096),
    "route_max_new_tokens": Param(96, "decoded tokens at most for route advice", 1, 4096),
    "min_new_tokens": Param(0, "decode at least this many tokens (fixed-length runs for benchmarks)", 0, 4096),
    "compute_nice": Param(10, "model threads run this much nicer than image intake (Linux niceness)", 0, 19,
                          read_only=True),
    "autostart": Param(True, "configure and activate at start-up; false leaves it to a lifecycle manager",
                       read_only=True),
    "diagnostics_period_s": Param(1.0, "period of /diagnostics status (s)", 0.1, 60.0, read_only=True),
    "geometry_dense_heads": Param(False, "build VGGT's depth and point heads for ~/window_cloud and ~/depth "
                                  "(official checkpoint keys load strictly); off = poses only", read_only=True),
    "geometry_max_points": Param(50000, "~/window_cloud point budget (voxel-downsampled to fit)", 1, 5_000_000,
                                 read_only=True),
    "geometry_confidence_drop": Param(0.5, "drop this fraction of least confident pixels from the cloud", 0.0, 0.99,
                                      read_only=True),
    "geometry_camera_frame": Param("camera_optical_frame", "frame of the camera images (REP-103 optical axes)",
                                   read_only=True),
    "publish_tf": Param(True, "publish the newest window camera's pose on /tf (window frame -> tf_camera_frame) "
                        "whenever window geometry is computed; a /tf listener counts as a geometry subscriber",
                        read_only=True),
    "tf_camera_frame": Param("spacemind_camera", "child frame of that /tf transform: the newest sampled camera",
                             read_only=True),
    "route_path": Param(True, "route advice also returns a nav_msgs/Path (one more follow-up question and VGGT run)",
                        read_only=True),
    "odometry_topic": Param("", "nav_msgs/Odometry topic for metric window geometry; empty = up to scale",
                            read_only=True),
    "eval_perturbation": Param("", "evaluation only: perturb what each query samples (shuffle, single, single:last, "
                                   "camera_noise:DEG; several joined with +); empty = off", read_only=True),
    "eval_seed": Param(0, "seed of eval_perturbation's random choices", 0, 2**31 - 1, read_only=True),
    "odometry_max_gap_s": Param(0.5, "odometry farther than this from a frame stamp is not matched (s)", 0.001,
                                10.0, read_only=True),
}


@dataclass
class NodeSettings:
    """Typed view of the parameters, built from the node's values."""

    image_topic: str
    compressed_topic: str
    camera_info_topic: str
    window_max_frames: int
    window_max_bytes: int
    image_max_pixels: int
    image_max_aspect: float
    window_duration_s: float
    keyframe_gap_s: float
    min_frames: int
    query_frames: int
    preset: str
    model_path: str
    backend: str
    engine_dir: str
    device: str
    dtype: str
    llm_backend: str
    llm_url: str
    llm_model: str
    batch_max: int
    queue_limit: int
    default_timeout_s: float
    max_new_tokens: int
    route_max_new_tokens: int
    min_new_tokens: int
    compute_nice: int
    autostart: bool
    diagnostics_period_s: float
    geometry_dense_heads: bool
    geometry_max_points: int
    geometry_confidence_drop: float
    geometry_camera_frame: str
    publish_tf: bool
    tf_camera_frame: str
    route_path: bool
    odometry_topic: str
    eval_perturbation: str
    eval_seed: int
    odometry_max_gap_s: float


assert {f.name for f in fields(NodeSettings)} == set(PARAMS)


def descriptor(name: str):
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    p = PARAMS[name]
    d = ParameterDescriptor(name=name, description=p.description, read_only=p.read_only)
    if p.min is not None:
        if isinstance(p.default, int) and not isinstance(p.default, bool):
            d.integer_range = [IntegerRange(from_value=int(p.min), to_value=int(p.max), step=1)]
        else:
            d.floating_point_range = [FloatingPointRange(from_value=float(p.min), to_value=float(p.max), step=0.0)]
    return d


def is_double(name: str) -> bool:
    return isinstance(PARAMS[name].default, float)


def as_double(parameters):
    """INTEGER values of double parameters as DOUBLE (``-p window_duration_s:=60`` or ``60`` in YAML)."""
    from rclpy.parameter import Parameter

    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value))
            if p.name in PARAMS and is_double(p.name) and p.type_ == Parameter.Type.INTEGER else p
            for p in parameters]


def declare_all(node) -> None:
    # rclpy has no int -> double promotion; overrides (command line, params file) are only reachable through
    # _parameter_overrides before declaring, and later sets through a pre-set callback.
    overrides = getattr(node, "_parameter_overrides", None)
    if isinstance(overrides, dict):
        overrides.update({p.name: p for p in as_double(overrides.values())})
    node.add_pre_set_parameters_callback(as_double)
    for name, p in PARAMS.items():
        node.declare_parameter(name, p.default, descriptor(name))


def read_settings(node) -> NodeSettings:
    return NodeSettings(**{name: node.get_parameter(name).value for name in PARAMS})


def to_yaml(node_name: str = "/**") -> str:
    """The config/spacemind.yaml text (kept in sync by a test); ``/**`` applies under any namespace and node name."""
    lines = [f"{node_name}:", "  ros__parameters:"]
    for name, p in PARAMS.items():
        value = p.default
        text = f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else value
        lines.append(f"    {name}: {text}  # {p.description}")
    return "\n".join(lines) + "\n"
