"""Pipeline answers <-> ROS messages (the only place that knows both)."""
from __future__ import annotations

from builtin_interfaces.msg import Time


def time_to_ns(t: Time) -> int:
    return int(t.sec) * 1_000_000_000 + int(t.nanosec)


def ns_to_time(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))


def fill_response(msg, answer):
    """Copy every field an Answer shares with a response, action result or SpatialAnswer message."""
    for name in msg.get_fields_and_field_types():
        if not hasattr(answer, name):
            continue
        value = getattr(answer, name)
        if name == "frame_stamps":
            value = [ns_to_time(s) for s in value]
        elif name in ("latency_s", "value"):
            value = float(value)
        setattr(msg, name, value)
    return msg
