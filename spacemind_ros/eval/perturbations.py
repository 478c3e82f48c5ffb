"""Perturbed evaluation runs: what a reviewer asks of a spatial model (does it use the video, the order, VGGT's
cameras?). ``spacemind-eval run --perturb NAME[:LEVEL]`` (repeatable) selects them.

Two places apply them, so offline and live runs see the same thing:

- on the frame stream, by the replaying player (offline: before the pipeline's window; live: before publishing,
  so the node is tested as deployed): ``blind`` (every frame a constant grey image, VSI-Bench's blind test),
  ``image_noise:SIGMA`` (Gaussian pixel noise, SIGMA in 0-255 grey levels), ``blur:PX`` (Gaussian blur, sigma in
  pixels), ``drop:FRACTION`` (that fraction of the frames lost, chosen per stamp);
- on the frames a query sampled, in the reasoner (offline directly; live through the node's ``eval_perturbation``
  parameter, since no player can know which frames a node will sample): ``shuffle`` (the sampled frames in a
  seeded random order; same stamps), ``single`` / ``single:middle`` / ``single:last`` (one sampled frame),
  ``camera_noise:DEG`` (Gaussian noise on VGGT's camera tokens before CGMF, scaled until VGGT's own camera head,
  decoding the noisy tokens, turns each camera by DEG degrees on average: the noise is measured in what it does to
  the pose path, not in token units).

Every random choice is seeded from the run's seed and the frame stamps, so a rerun, and the offline and live
modes, perturb identically.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

STREAM = ("blind", "image_noise", "blur", "drop")
QUERY = ("shuffle", "single", "camera_noise")
NAMES = STREAM + QUERY
GREY = 128
SINGLE_CHOICES = ("middle", "last")


@dataclass(frozen=True)
class Perturbation:
    name: str
    level: float | str | None = None

    @classmethod
    def parse(cls, spec: str) -> "Perturbation":
        """``NAME[:LEVEL]`` -> a checked Perturbation; ValueError says what is wrong."""
        name, _, raw = str(spec).strip().partition(":")
        if name not in NAMES:
            raise ValueError(f"unknown perturbation {spec!r}; expected one of: {', '.join(NAMES)} "
                             "(NAME or NAME:LEVEL)")
        if name in ("blind", "shuffle"):
            if raw:
                raise ValueError(f"{name} takes no level (got {spec!r})")
            return cls(name)
        if name == "single":
            raw = raw or "middle"
            if raw not in SINGLE_CHOICES:
                raise ValueError(f"single takes {' or '.join(SINGLE_CHOICES)} (got {spec!r})")
            return cls(name, raw)
        if not raw:
            raise ValueError(f"{name} needs a level: {name}:LEVEL")
        try:
            level = float(raw)
        except ValueError:
            raise ValueError(f"the level of {spec!r} is not a number") from None
        if not math.isfinite(level) or level < 0:
            raise ValueError(f"the level of {spec!r} must be a finite number >= 0")
        if name == "drop" and level >= 1:
            raise ValueError(f"drop:FRACTION needs 0 <= FRACTION < 1 (got {spec!r}): some frames must arrive")
        return cls(name, level)

    @property
    def spec(self) -> str:
        if self.level is None:
            return self.name
        return f"{self.name}:{self.level:g}" if isinstance(self.level, float) else f"{self.name}:{self.level}"

    @property
    def on_stream(self) -> bool:
        return self.name in STREAM


def parse_all(specs: Iterable[str] | None) -> list[Perturbation]:
    """Each spec parsed; a name given twice is refused (one level per perturbation and run)."""
    out = [Perturbation.parse(s) for s in specs or ()]
    names = [p.name for p in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"perturbation given more than once: {', '.join(twice)}")
    return out


def query_perturbation(spec: str, seed: int = 0) -> "QueryPerturbation | None":
    """The node's ``eval_perturbation`` parameter (``shuffle+camera_noise:2``) -> a QueryPerturbation, None where
    empty. Stream perturbations are refused: the player applies those to what it publishes."""
    perturbations = parse_all(s for s in str(spec).split("+") if s.strip())
    stream = [p.spec for p in perturbations if p.on_stream]
    if stream:
        raise ValueError(f"eval_perturbation takes {', '.join(QUERY)}; {', '.join(stream)} act on the frames "
                         "themselves and are applied by the replaying player (spacemind-eval run --perturb)")
    return QueryPerturbation(perturbations, seed) if perturbations else None


def label(perturbations: Sequence[Perturbation]) -> str:
    """``clean`` or the specs joined with ``+`` (a run's name in reports)."""
    return "+".join(p.spec for p in perturbations) or "clean"


def _rng(seed: int, *parts) -> np.random.Generator:
    digest = hashlib.sha256(repr((int(seed), *parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class StreamPerturbation:
    """Applied by the replaying player to each (stamp, RGB frame ``[H, W, 3]`` uint8) before it is fed or published."""

    def __init__(self, perturbations: Sequence[Perturbation], seed: int = 0):
        self.steps = [p for p in perturbations if p.on_stream]
        self.seed = int(seed)
        self.dropped = 0

    def __bool__(self) -> bool:
        return bool(self.steps)

    def frame(self, stamp_ns: int, image: np.ndarray) -> np.ndarray | None:
        """The perturbed frame (a new array), or None where ``drop`` loses it. ``stamp_ns``: the bag's own stamp."""
        for p in self.steps:
            if p.name == "drop":
                if _rng(self.seed, "drop", int(stamp_ns)).random() < p.level:
                    self.dropped += 1
                    return None
            elif p.name == "blind":
                image = np.full_like(image, GREY)
            elif p.name == "image_noise" and p.level > 0:
                noise = _rng(self.seed, "image_noise", int(stamp_ns)).normal(0.0, p.level, image.shape)
                image = np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)  # unbiased
            elif p.name == "blur" and p.level > 0:
                image = gaussian_blur(image, float(p.level))
        return image


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of ``[H, W, C]`` uint8, sigma in pixels (kernel radius 3 sigma, edges reflected)."""
    radius = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    out = image.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect")
        out = sum(w * np.take(padded, np.arange(i, i + out.shape[axis]), axis=axis) for i, w in enumerate(kernel))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class QueryPerturbation:
    """Applied by the reasoner to what one query sampled: its frames (``frames``) and VGGT's tokens (``spatial``)."""

    def __init__(self, perturbations: Sequence[Perturbation], seed: int = 0):
        self.steps = [p for p in perturbations if not p.on_stream]
        self.seed = int(seed)
        self.last_camera_noise: dict | None = None  # what the last camera_noise did (sigma, measured degrees)

    def __bool__(self) -> bool:
        return bool(self.steps)

    @property
    def spec(self) -> str:
        return label(self.steps)

    def frames(self, frames: list) -> list:
        """The sampled frames (oldest first) -> the frames the model sees, in that order."""
        stamps = tuple(int(f.stamp_ns) for f in frames)
        for p in self.steps:
            if p.name == "shuffle" and len(frames) > 1:
                order = _rng(self.seed, "shuffle", stamps).permutation(len(frames))
                frames = [frames[i] for i in order]
            elif p.name == "single" and frames:
                frames = [frames[-1] if p.level == "last" else frames[len(frames) // 2]]
        return frames

    def spatial(self, spatial, vggt, stamps: Sequence[int] = ()):
        """SpatialFeatures -> the same with camera_noise applied to ``camera_tokens`` (``vggt``: the model's VGGT,
        whose camera head measures the noise; ``stamps``: the query's frames, which seed the noise)."""
        for p in self.steps:
            if p.name == "camera_noise" and p.level > 0:
                rng = _rng(self.seed, "camera_noise", tuple(int(s) for s in stamps))
                noisy, info = camera_noise(spatial.camera_tokens, float(p.level), vggt, rng)
                self.last_camera_noise = info
                spatial = dataclasses.replace(spatial, camera_tokens=noisy)
        return spatial


def rotation_change_deg(vggt, clean, noisy) -> float:
    """Mean angle (degrees) between the rotations VGGT's camera head decodes from two camera-token tensors
    ``[B, S, 1, 2C]``."""
    import torch

    from spacemind_ros.model.vggt.pose_encoding import quat_to_mat

    head = vggt.camera_head
    dtype = vggt.head_dtype
    with torch.no_grad(), torch.autocast(clean.device.type, enabled=False):
        both = torch.cat([clean, noisy]).to(dtype)
        pose = head(both, vggt.config.camera_num_iterations)[-1]
        r = quat_to_mat(pose[..., 3:7].float())
        r_clean, r_noisy = r[: clean.shape[0]], r[clean.shape[0]:]
        cos = ((r_clean.transpose(-1, -2) @ r_noisy).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
        return float(torch.rad2deg(torch.arccos(cos.clamp(-1.0, 1.0))).mean())


def camera_noise(tokens, degrees: float, vggt, rng: np.random.Generator, steps: int = 24):
    """``tokens + sigma * rms(tokens) * z`` with z ~ N(0, I) fixed by ``rng`` and sigma found by bisection (in log
    space) so that the camera head's decoded rotations move by ``degrees`` on average. Returns (noisy tokens, info);
    info records sigma (relative to the tokens' RMS) and the degrees measured. Where even sigma = 10 RMS moves them
    less (an untrained head can be that flat), that largest noise is used and the shortfall recorded."""
    import torch

    z = torch.from_numpy(rng.standard_normal(tuple(tokens.shape)).astype(np.float32)).to(tokens.device)
    rms = tokens.float().pow(2).mean().sqrt().clamp_min(1e-12)

    def noisy(sigma: float):
        return (tokens.float() + sigma * rms * z).to(tokens.dtype)

    lo, hi = 1e-5, 10.0
    reached = rotation_change_deg(vggt, tokens, noisy(hi))
    if reached < degrees:
        return noisy(hi), {"degrees": degrees, "sigma_rel": hi, "measured_deg": reached, "reached": False}
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        if rotation_change_deg(vggt, tokens, noisy(mid)) < degrees:
            lo = mid
        else:
            hi = mid
    sigma = math.sqrt(lo * hi)
    out = noisy(sigma)
    return out, {"degrees": degrees, "sigma_rel": sigma, "measured_deg": rotation_change_deg(vggt, tokens, out),
                 "reached": True}
