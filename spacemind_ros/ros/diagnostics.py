"""The node's /diagnostics statuses, named as diagnostic_updater names them: ``"<node>: intake"``, ``"<node>: model"``.

Levels: intake is WARN when frames were dropped since the last report or, while active, no frame arrived for
``stale_after_s``; model is ERROR after a failed configure (the reason is the message) and WARN while not active.
The node builds one key-value dict per part; anything may add keys to those dicts without touching the levels.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
STALE_AFTER_S = 3.0  # no frame for this long while active reads as a stale input


def intake_level(active: bool, dropped_since_last: int, last_frame_age_s: float,
                 stale_after_s: float = STALE_AFTER_S) -> tuple[bytes, str]:
    """(level, message) of the image intake; ``last_frame_age_s`` counts from activation until a frame arrives."""
    if not active:
        return OK, "not subscribed (node inactive)"
    if dropped_since_last > 0:
        return WARN, f"{dropped_since_last} frame(s) dropped since the last report (see last_drop)"
    if last_frame_age_s > stale_after_s:
        return WARN, f"stale input: no frame for {last_frame_age_s:.1f} s"
    return OK, "receiving frames"


def model_level(active: bool, configured: bool, configure_error: str, untrained: bool) -> tuple[bytes, str]:
    """(level, message) of the model: ERROR names why configure failed; an untrained model says so."""
    if configure_error:
        return ERROR, configure_error
    if not configured:
        return WARN, "unconfigured: model not loaded"
    if not active:
        return WARN, "inactive: model loaded, not answering"
    return OK, "active" + (" (untrained model: random answers)" if untrained else "")


def status(node_name: str, part: str, level: bytes, message: str, hardware_id: str, values: dict) -> DiagnosticStatus:
    return DiagnosticStatus(level=level, name=f"{node_name}: {part}", message=message, hardware_id=hardware_id,
                            values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()])
