"""Offline answering: the ROS-free pipeline's SpatialReasoner over frames read from the bag (deterministic)."""
from __future__ import annotations

from pathlib import Path

from spacemind_ros.eval.questions import Question


class OfflineBackend:
    """Feeds frames straight into a SpatialReasoner's window and asks it. One reasoner for the whole run."""

    mode = "offline"

    def __init__(self, settings, model=None, processor=None):
        from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner

        if model is None:
            model, processor = load_settings_model(settings)
        # The node's defaults (feature worker, KV cache, merged LoRA), at VSI-Bench's 16 tokens: the same
        # computation as a node started by the live mode.
        # compute_nice 0: no image intake to protect here, and a niced query crawls on a busy machine.
        from spacemind_ros.eval.perturbations import QueryPerturbation

        # Perturbations of what a query sampled run in the reasoner, as a live node's eval_perturbation does.
        perturbation = QueryPerturbation(settings.parsed_perturbations(), settings.perturb_seed)
        config = ReasonerConfig(default_timeout_s=settings.timeout_s, max_new_tokens=16, min_new_tokens=0,
                                compute_nice=0, perturbation=perturbation or None)
        self.reasoner = SpatialReasoner(model, processor, settings.window_config(), config)

    def feed(self, stamp_ns: int, image) -> None:
        try:
            self.reasoner.add_frame(stamp_ns, image, copy=False)  # the bag reader made this array for us
        except ValueError:
            pass  # a frame the window refuses (the node drops it too)

    def ask(self, q: Question, until_ns: int) -> dict:
        # Like a node that took frames at a steady rate: the per-keyframe worker has finished before the question.
        self.reasoner.wait_features()
        answer = self.reasoner.ask(q.question, options=q.options, task=q.question_type, until=until_ns)
        d = answer.to_dict()
        d["extra"] = {"window_frames": len(self.reasoner.window), "stage_times_s": answer.stage_times_s}
        noise = self.reasoner.config.perturbation and self.reasoner.config.perturbation.last_camera_noise
        if noise:
            d["extra"]["camera_noise"] = noise  # sigma used and the rotation it caused, measured
        return d

    def close(self) -> None:
        self.reasoner.close()


def load_settings_model(settings):
    """(model, processor) that ``settings`` name (folder or preset) on its device."""
    from spacemind_ros.model.presets import load_model
    from spacemind_ros.runtime import RuntimeSettings

    runtime = RuntimeSettings.resolve(settings.device, "auto")  # the node's default dtype policy too
    return load_model(settings.model_path or None, preset=settings.preset, runtime=runtime)


def offline_model(model_path: str, preset: str, device: str):
    """(EvalSettings at the model's own frame count, model, processor) for the offline tools beside ``run``."""
    from spacemind_ros.eval.settings import EvalSettings, model_frames

    settings = EvalSettings(model_path=model_path, preset=preset, device=device,
                            frames=model_frames(model_path, preset))
    return (settings, *load_settings_model(settings))


def watched_bags(records: list[dict], folder, settings, model, processor, max_new_tokens: int | None = None):
    """Per bag of ``records`` (each with ``bag`` relative to ``folder``, in first-seen order): ``(its records, a
    SpatialReasoner that watched the whole bag)``, as a node that watched that walk; closed before the next bag."""
    from spacemind_ros.eval.bags import bag_frames
    from spacemind_ros.pipeline import ReasonerConfig, SpatialReasoner

    by_bag: dict[str, list[dict]] = {}
    for r in records:
        by_bag.setdefault(r["bag"], []).append(r)
    extra = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
    for bag, group in by_bag.items():
        reasoner = SpatialReasoner(model, processor, settings.window_config(),
                                   ReasonerConfig(compute_nice=0, default_timeout_s=600.0, **extra))
        try:
            for stamp, image in bag_frames(Path(folder) / bag, group[0].get("image_topic", "/camera/image_raw")):
                reasoner.add_frame(stamp, image, copy=False)
            reasoner.wait_features()
            yield group, reasoner
        finally:
            reasoner.close()
