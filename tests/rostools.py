"""Helpers for tests that start rclpy: a per-test Context with a spinning executor, and child processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

from spacemind_ros.ros.environment import loopback_environment


@contextmanager
def ros_node(name: str):
    """A node in its own Context, spun by a MultiThreadedExecutor in a daemon thread; torn down in the safe order."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(name, context=context)
    executor = MultiThreadedExecutor(num_threads=4, context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        thread.join(timeout=10)


def spawn(args: list[str], **kwargs) -> subprocess.Popen:
    """Start a Python child on this test run's ROS domain, loopback-only."""
    env = loopback_environment(int(os.environ["ROS_DOMAIN_ID"]))
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **kwargs)


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> str:
    """SIGTERM, wait, then SIGKILL; returns what the child printed."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)
    return proc.stdout.read() if proc.stdout else ""


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def start_node(**params) -> subprocess.Popen:
    """spacemind_node in a child process with config/spacemind.yaml plus ``params`` (the tiny preset unless
    ``preset`` or ``model_path`` says otherwise: fast, and what the tests' frame counts assume)."""
    from spacemind_ros.ros.runner import DEFAULT_PARAMS, node_command

    params = {"preset": "tiny", **params}
    values = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    return spawn(node_command(DEFAULT_PARAMS, values)[1:])


def call(node, client, request, timeout: float = 60.0):
    """Service call from a node spun by ros_node's executor."""
    future = client.call_async(request)
    deadline = time.monotonic() + timeout
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert future.done(), f"no answer from {client.srv_name} in {timeout} s"
    return future.result()
