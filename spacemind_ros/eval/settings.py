"""One place that decides what an evaluation runs with: model, frames per query and the frame window.

Offline builds its SpatialReasoner from these, and live hands the same values to the node it starts as parameters,
so both modes sample the same frames and decode the same way (greedy, at most 16 tokens, as VSI-Bench does).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

FRAME_CHOICES = (8, 16, 32, 64)
MAX_NEW_TOKENS = 16  # VSI-Bench decodes at most 16 new tokens


@dataclass
class EvalSettings:
    model_path: str = ""  # SpaceMind folder; empty = preset
    preset: str = "small"
    device: str = "cpu"
    backend: str = "pytorch"
    frames: int = 32  # frames a query uses (sampled uniformly over the window, ends dropped)
    window_max_frames: int = 1024  # memory bound: the window holds at most this many frames
    window_duration_s: float = 3600.0
    keyframe_gap_s: float = 0.0  # every frame of the bag is a keyframe candidate (the bag's rate decides)
    min_frames: int = 4
    timeout_s: float = 600.0  # per question
    perturbations: list[str] = field(default_factory=list)  # NAME[:LEVEL] specs (spacemind_ros.eval.perturbations)
    perturb_seed: int = 0

    def parsed_perturbations(self):
        from spacemind_ros.eval.perturbations import parse_all

        return parse_all(self.perturbations)

    @property
    def perturbation_label(self) -> str:
        from spacemind_ros.eval.perturbations import label

        return label(self.parsed_perturbations())

    @property
    def model_label(self) -> str:
        return self.model_path or f"preset:{self.preset}"

    def window_config(self):
        """The pipeline's WindowConfig for these settings (imported here: the scorer never needs torch)."""
        from spacemind_ros.pipeline.frame_window import WindowConfig

        return WindowConfig(max_frames=self.window_max_frames, duration_s=self.window_duration_s,
                            min_gap_s=self.keyframe_gap_s, sample_frames=self.frames + 2, drop_ends=1,
                            min_frames=self.min_frames)

    def node_parameters(self) -> dict[str, str]:
        """``-p name:=value`` overrides for a spacemind_node that answers like the offline pipeline."""
        values = dict(autostart=True, preset=self.preset, model_path=self.model_path, device=self.device,
                      backend=self.backend, query_frames=self.frames, window_max_frames=self.window_max_frames,
                      window_duration_s=float(self.window_duration_s), keyframe_gap_s=float(self.keyframe_gap_s),
                      min_frames=self.min_frames, max_new_tokens=MAX_NEW_TOKENS, min_new_tokens=0,
                      default_timeout_s=float(self.timeout_s), diagnostics_period_s=0.1,
                      eval_perturbation="+".join(p.spec for p in self.parsed_perturbations() if not p.on_stream),
                      eval_seed=self.perturb_seed)
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in values.items() if v != ""}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model_label
        d["perturbation"] = self.perturbation_label
        return d


def model_frames(model: str | None, preset: str) -> int:
    """Frames per question the model was trained with (its config's query_frames; a preset's own)."""
    from spacemind_ros.model.presets import SMALL_QUERY_FRAMES

    if model:
        from spacemind_ros.model.configuration_spacemind import SpaceMindConfig

        return SpaceMindConfig.load(model).query_frames
    return SMALL_QUERY_FRAMES if preset == "small" else 32
