"""The one JSON schema that ``spacemind ask/route`` (local pipeline) and ``spacemind query/route-advice`` (ROS) print.

Keys, always present and in this order (``value`` is null when no number was parsed)::

    success, error_code, error_message, task, answer,
    choice, value, unit                      (questions)   |  steps, actions, landmarks   (routes)
    path, path_note                          (route advice from the node: nav_msgs/Path waypoints or why none)
    frame_stamps_ns (int), frame_stamps_s (float), latency_s,
    trained (true, false, or null when a ROS client cannot read the node's model_path),
    warning ("" or why not to trust the answer),
    via: {"pipeline": model, "frames_read", "frames_kept", "frames_skipped"}
         or {"service": name, "round_trip_s"}
"""
from __future__ import annotations

import math
from collections.abc import Mapping

QUESTION_KEYS = ("success", "error_code", "error_message", "task", "answer", "choice", "value", "unit")
ROUTE_KEYS = ("success", "error_code", "error_message", "task", "answer", "steps", "actions", "landmarks")
UNTRAINED_WARNING = ("untrained model (random weights): the answer is random text, not a measurement; "
                     "load a trained SpaceMind folder for real answers")
SMALL_WARNING = ("small model trained only on synthetic rooms (spacemind-scenes: 15 furniture categories, plain "
                 "walls): outside such rooms its answers mean little; load a SpaceMind folder for real scenes")


def model_status(model_path: str | None, preset: str | None) -> tuple[bool, str]:
    """(trained, warning) of the model a node or tool loads: a SpaceMind folder, else the preset (default small)."""
    if model_path:
        return True, ""
    if preset == "tiny":
        return False, UNTRAINED_WARNING
    return True, SMALL_WARNING if preset in (None, "", "small") else ""


def answer_json(fields: Mapping, route: bool, trained: bool | None, via: dict, warning: str | None = None) -> dict:
    """``fields``: an Answer's or a response's fields with ``frame_stamps`` in ns; ``warning`` None = the
    untrained warning when ``trained`` is False."""
    out = {}
    for key in ROUTE_KEYS if route else QUESTION_KEYS:
        value = fields.get(key, "route_advice" if key == "task" else "")
        if key == "value":
            value = None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)
        elif key in ("steps", "actions", "landmarks"):
            value = list(value)
        out[key] = value
    if route and "path" in fields:
        out["path"], out["path_note"] = fields["path"], fields.get("path_note", "")
    stamps = [int(s) for s in fields.get("frame_stamps", ())]
    out["frame_stamps_ns"] = stamps
    out["frame_stamps_s"] = [s / 1e9 for s in stamps]
    out["latency_s"] = round(float(fields.get("latency_s", 0.0)), 4)
    out["trained"] = trained
    out["warning"] = warning if warning is not None else (UNTRAINED_WARNING if trained is False else "")
    out["via"] = via
    return out
