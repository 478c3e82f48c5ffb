"""Loopback-only DDS settings for every process of ours that starts rclpy.

Default ROS 2 discovery sends multicast out of the machine's network interface. Tests, benchmarks and the demo call
:func:`apply_loopback_environment` (or pass :func:`loopback_environment` to a child process) before rclpy creates a
context, so discovery and data stay on this host, on a random domain of their own. ``spacemind_launch`` and the
``spacemind`` client use :func:`shell_environment`: the shell's ROS_DOMAIN_ID, loopback unless ``--network``.
The node itself honours whatever environment it is started with, like any ROS node.
"""
from __future__ import annotations

import os
import random
from pathlib import Path

FASTDDS_PROFILE = Path(__file__).with_name("fastdds_localhost.xml")


def loopback_environment(domain_id: int | None = None, base: dict | None = None) -> dict[str, str]:
    """Environment for a process that starts rclpy: loopback discovery, loopback Fast DDS profile, own domain.

    ``domain_id`` None picks one at random in [1, 100] (keeps clear of the default domain 0).
    """
    env = dict(os.environ if base is None else base)
    if domain_id is None:
        domain_id = int(env.get("SPACEMIND_ROS_DOMAIN_ID") or random.randint(1, 100))
    if not 0 <= int(domain_id) <= 101:
        raise ValueError(f"ROS_DOMAIN_ID {domain_id} is outside 0..101 (Fast DDS port range on Linux)")
    env.update(
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_STATIC_PEERS="",
        FASTDDS_DEFAULT_PROFILES_FILE=str(FASTDDS_PROFILE),
        RMW_IMPLEMENTATION="rmw_fastrtps_cpp",
        ROS_DOMAIN_ID=str(int(domain_id)),
    )
    return env


def apply_loopback_environment(domain_id: int | None = None) -> int:
    """Apply :func:`loopback_environment` to this process; returns the domain id used.

    Must run before the first ``rclpy.init``. An explicit ROS_DOMAIN_ID already set by the caller is kept only if
    discovery is already restricted to loopback (so a test harness can choose the domain).
    """
    if domain_id is None and os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE") == "LOCALHOST":
        current = os.environ.get("ROS_DOMAIN_ID")
        domain_id = int(current) if current else None
    os.environ.update(loopback_environment(domain_id))
    return int(os.environ["ROS_DOMAIN_ID"])


def shell_environment(network: bool = False, domain_id: int | None = None, base: dict | None = None) -> dict[str, str]:
    """Environment for ``spacemind_launch`` and the ``spacemind`` client: the shell's ROS_DOMAIN_ID (0 when unset,
    as for any ROS process), loopback-only discovery unless ``network`` (then discovery is left as the shell has it).
    """
    env = dict(os.environ if base is None else base)
    if domain_id is None:
        text = env.get("ROS_DOMAIN_ID", "").strip()
        if text and not text.isdigit():
            raise ValueError(f"ROS_DOMAIN_ID={text!r} is not a number")
        domain_id = int(text or 0)
    if network:
        if not 0 <= domain_id <= 232:
            raise ValueError(f"ROS_DOMAIN_ID {domain_id} is outside 0..232")
        env["ROS_DOMAIN_ID"] = str(domain_id)
        return env
    return loopback_environment(domain_id, env)


def describe_environment(env: dict | None = None) -> str:
    """"ROS_DOMAIN_ID=7, discovery LOCALHOST (loopback only)" for messages that say where a process looked."""
    env = os.environ if env is None else env
    scope = env.get("ROS_AUTOMATIC_DISCOVERY_RANGE") or "SUBNET"  # ROS 2's default when unset
    what = {"LOCALHOST": "loopback only", "SUBNET": "this network", "OFF": "this process only",
            "SYSTEM_DEFAULT": "middleware default"}.get(scope, scope)
    return f"ROS_DOMAIN_ID={env.get('ROS_DOMAIN_ID') or 0}, discovery {scope} ({what})"
