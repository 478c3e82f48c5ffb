"""Structured answers: the fields of the SpatialQuery / RouteAdvice responses."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from spacemind_ros.errors import ErrorCode


@dataclass
class Answer:
    success: bool = False
    error_code: str = ErrorCode.OK.value
    error_message: str = ""
    answer: str = ""  # the model's raw text
    choice: str = ""  # option letter, or ""
    value: float = math.nan  # parsed number, or NaN
    unit: str = ""  # "m", "cm", "m^2", "count" or ""
    task: str = ""
    frame_stamps: list[int] = field(default_factory=list)  # nanoseconds, oldest first
    latency_s: float = 0.0
    stage_times_s: dict[str, float] = field(default_factory=dict)  # preprocess, internvit, vggt, cgmf, prefill, decode
    cached_prefix: bool = False  # the visual prefix came from the KV cache
    batch_size: int = 1  # queries (of any robots on this model) encoded and decoded together with this one

    def to_dict(self) -> dict:
        d = asdict(self)
        d["value"] = None if math.isnan(self.value) else self.value
        return d


@dataclass
class RouteAnswer(Answer):
    steps: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)  # FORWARD, TURN_LEFT, TURN_RIGHT, TURN_BACK, STOP
    landmarks: list[str] = field(default_factory=list)
