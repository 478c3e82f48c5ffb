"""Shared ROS pieces of the benchmarks: the node in a child process, a camera process, /diagnostics, RSS.

Every process is loopback-only on one ROS_DOMAIN_ID (spacemind_ros.ros.environment), chosen by the caller.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from spacemind_ros.ros.environment import loopback_environment

S = 1_000_000_000
ROOT = Path(__file__).resolve().parents[1]  # children run ``python -m bench.<part>`` from here


def ros_env() -> dict[str, str]:
    """This process's loopback environment (apply_loopback_environment ran first) for a child process."""
    env = loopback_environment(int(os.environ["ROS_DOMAIN_ID"]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def rss_mb(pid: int) -> float:
    """Resident set size of a process (MB), from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_node(**params) -> subprocess.Popen:
    """spacemind_node (config/spacemind.yaml plus ``params``) in a child process."""
    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command

    values = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    return subprocess.Popen(node_command(DEFAULT_PARAMS, values), env=ros_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def start_camera(rate: float, count: int, width: int = 640, height: int = 480, topic: str = "image"
                 ) -> subprocess.Popen:
    """``python -m bench.camera``: ``count`` rgb8 frames at ``rate`` Hz on ``topic``, stamped when published."""
    return subprocess.Popen([sys.executable, "-m", "bench.camera", "--rate", str(rate), "--count", str(count),
                             "--width", str(width), "--height", str(height), "--topic", topic], env=ros_env(),
                            cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> float:
    """SIGTERM, wait (then SIGKILL); returns the seconds it took to exit."""
    t = time.monotonic()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return time.monotonic() - t


class Client:
    """A client node of our own (own Context), spun by hand: service calls and the node's /diagnostics."""

    def __init__(self, name: str, namespace: str = ""):
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from spacemind_interfaces.srv import SpatialQuery

        from spacemind_ros.ros.qos import SERVICE_QOS

        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.query = self.node.create_client(SpatialQuery, f"{namespace}/spatial_query", qos_profile=SERVICE_QOS)
        self.Request = SpatialQuery.Request
        self.diagnostics = []
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self.diagnostics.append, 50)

    def spin(self, seconds: float = 0.05) -> None:
        deadline = time.monotonic() + seconds
        while True:
            self.executor.spin_once(timeout_sec=max(0.0, min(0.05, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                return

    def ask(self, question: str = "How many boxes?", timeout: float = 120.0, **fields):
        future = self.query.call_async(self.Request(question=question, **fields))
        deadline = time.monotonic() + timeout
        while not future.done() and time.monotonic() < deadline:
            self.spin(0.02)
        return future.result() if future.done() else None

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the node answers something other than NOT_READY."""
        from spacemind_ros.ros.client import wait_until_answering

        if not wait_until_answering(self.query, self.spin, timeout):
            raise RuntimeError("/spatial_query did not appear or does not answer")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            res = self.ask("ready?", timeout=30)
            if res is not None and res.error_code != "NOT_READY":
                return
            time.sleep(0.2)
        raise RuntimeError("the node did not become active")

    def values(self, timeout: float = 10.0) -> dict[str, str]:
        """Key-values of a /diagnostics message the node sent after now."""
        from rclpy.time import Time

        now = self.node.get_clock().now()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.spin(0.1)
            fresh = [d for d in self.diagnostics if Time.from_msg(d.header.stamp) > now]
            if fresh:
                self.diagnostics.clear()
                return {kv.key: kv.value for s in fresh[-1].status for kv in s.values}
        raise RuntimeError("no fresh /diagnostics from the node")

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@contextmanager
def client(name: str):
    c = Client(name)
    try:
        yield c
    finally:
        c.close()
