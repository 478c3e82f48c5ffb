"""How spacemind_node is launched, described once for launch/spacemind.launch.py and ``spacemind_launch``.

Arguments: ``params_file`` (default: the installed config/spacemind.yaml), ``namespace`` (default: none),
``robots`` (a fleet: one process, one model, a node per namespace) and one per node parameter. A parameter
argument left at :data:`UNSET` keeps the params file's value, so editing the YAML always takes effect; only the
arguments the user sets override it. ROS-free (no rclpy, no launch).
"""
from __future__ import annotations

from collections.abc import Mapping

from spacemind_ros.ros import names
from spacemind_ros.ros.parameters import PARAMS

PACKAGE = "spacemind_ros"
EXECUTABLE = "spacemind_node"
NODE_NAME = names.NODE
UNSET = "<params_file>"  # default of every parameter argument: keep the params file's value
ARGUMENTS: dict[str, str] = {
    "params_file": "parameters YAML (default: the installed config/spacemind.yaml)",
    "namespace": "namespace of the node and its names, e.g. robot1 (default: none)",
    "robots": "robot namespaces served by one process and one loaded model, comma-separated, e.g. "
              "robot1,robot2,robot3 (one node per robot; replaces namespace; default: one robot)",
    **{name: f"{p.description} (default: the params file's)" for name, p in PARAMS.items()},
}


def parse_value(name: str, text: str):
    """A parameter argument's text as the parameter's type (an integer is accepted for a double)."""
    default = PARAMS[name].default
    if isinstance(default, str):
        return text
    word = text.strip().lower()
    try:
        if isinstance(default, bool):
            return {"true": True, "false": False}[word]
        return float(word) if isinstance(default, float) else int(word)
    except (KeyError, ValueError):
        kind = "true or false" if isinstance(default, bool) else "a number" if isinstance(default, float) \
            else "an integer"
        raise ValueError(f"{name}:={text!r}: expected {kind}") from None


def parameter_overrides(given: Mapping[str, str]) -> dict[str, object]:
    """Typed overrides from the arguments the user set (``UNSET`` and non-parameter arguments skipped)."""
    return {name: parse_value(name, text) for name, text in given.items() if name in PARAMS and text != UNSET}


def normalize_namespace(namespace: str) -> str:
    namespace = namespace.strip().strip("/")
    return f"/{namespace}" if namespace else ""


def robot_namespaces(text: str) -> list[str]:
    """``"robot1, /robot2"`` -> ``["/robot1", "/robot2"]``; a bad or repeated name raises ValueError."""
    spaces = [normalize_namespace(r) for r in text.split(",") if r.strip()]
    if not spaces:
        raise ValueError(f"robots {text!r}: give one or more namespaces, e.g. robot1,robot2")
    for ns in spaces:
        if not all(part.isascii() and part.isidentifier() for part in ns.strip("/").split("/")):
            raise ValueError(f"robots: {ns!r} is not a valid ROS namespace (letters, digits, _ and /)")
    if len(set(spaces)) != len(spaces):
        raise ValueError(f"robots: a namespace is repeated in {text!r}")
    return spaces


def fleet_arguments(robots: str) -> list[str]:
    """The node executable's arguments for ``robots:=...`` (empty: one robot)."""
    return ["--robots", robots] if robots.strip() else []


def split_arguments(tokens) -> dict[str, str]:
    """``["model_path:=/m", ...]`` (the ``ros2 launch`` syntax) -> ``{"model_path": "/m"}``; unknown names raise."""
    given = {}
    for token in tokens:
        name, sep, value = token.partition(":=")
        if not sep:
            raise ValueError(f"{token!r}: arguments are NAME:=VALUE")
        if name not in ARGUMENTS:
            raise ValueError(f"unknown argument {name!r}; accepted: {', '.join(ARGUMENTS)}")
        given[name] = value
    return given
