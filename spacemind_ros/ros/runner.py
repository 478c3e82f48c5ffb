"""Python stand-in for ``ros2 launch spacemind_ros spacemind.launch.py`` where launch is not installed.

    spacemind_launch [params_file:=FILE] [namespace:=robot1 | robots:=robot1,robot2] [model_path:=DIR]
                     [any parameter:=VALUE] [--player]

Takes the launch file's arguments (both come from ros/launch_description.py), starts the same node (and optionally
the image player) as subprocesses, forwards SIGINT/SIGTERM, and stops everything cleanly (SIGTERM, wait, SIGKILL).
DDS: the shell's ROS_DOMAIN_ID (0 when unset, as for any ROS node), loopback-only discovery unless ``--network``.
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from spacemind_ros.ros import launch_description as launch
from spacemind_ros.ros import names
from spacemind_ros.ros.environment import describe_environment, shell_environment
from spacemind_ros.ros.shm_segments import remove_stale_segments


SOURCE_PARAMS = Path(__file__).resolve().parents[2] / "config" / "spacemind.yaml"


def default_params_file(source: Path = SOURCE_PARAMS) -> Path | None:
    """config/spacemind.yaml of a source checkout, else of the installed share dir (colcon or pip), else None."""
    if source.is_file():
        return source
    candidates = []
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory("spacemind_ros")) / "config" / "spacemind.yaml")
    except (ImportError, LookupError, OSError):  # no ament index (plain pip install, AMENT_PREFIX_PATH unset)
        pass
    candidates.append(Path(sys.prefix) / "share" / "spacemind_ros" / "config" / "spacemind.yaml")
    return next((c for c in candidates if c.is_file()), None)


DEFAULT_PARAMS = default_params_file()


def node_command(params_file: str | Path | None, overrides: dict, namespace: str = "", robots: str = "") -> list[str]:
    """The node's command line: params file first, then each override (``-p``), then the namespace; ``robots``
    (comma-separated namespaces) makes it one fleet process with a node per robot."""
    cmd = [sys.executable, "-m", "spacemind_ros.ros.node", *launch.fleet_arguments(robots), "--ros-args"]
    if params_file:
        cmd += ["--params-file", str(params_file)]
    for name, value in overrides.items():
        value = str(value).lower() if isinstance(value, bool) else value
        cmd += ["-p", f"{name}:={value}"]
    if launch.normalize_namespace(namespace):
        cmd += ["-r", f"__ns:={launch.normalize_namespace(namespace)}"]
    return cmd


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to ``timeout``, then SIGKILL; then the Fast DDS shared memory no live process uses (a killed
    child's, or one a child did not close) is removed."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    remove_stale_segments(min_age_s=5.0)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arguments", nargs="*", metavar="NAME:=VALUE",
                    help=f"launch arguments: {', '.join(launch.ARGUMENTS)}")
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="same as a parameter argument NAME:=VALUE")
    ap.add_argument("--player", action="store_true", help="also publish the synthetic scene (or --bag) on 'image'")
    ap.add_argument("--bag", help="bag for the player")
    ap.add_argument("--network", action="store_true",
                    help="discover over the network as configured in the shell (default: loopback only)")
    ap.add_argument("--domain-id", type=int, help="ROS_DOMAIN_ID (default: the shell's, else 0)")
    return ap


def main(argv=None) -> int:
    ap = build_parser()
    args = ap.parse_intermixed_args(argv)  # NAME:=VALUE before and after --player alike
    try:
        given = launch.split_arguments(args.arguments + args.param)
        overrides = launch.parameter_overrides(given)
        env = shell_environment(network=args.network, domain_id=args.domain_id)
    except ValueError as exc:
        ap.error(str(exc))
    params_file = given.get("params_file") or (str(DEFAULT_PARAMS) if DEFAULT_PARAMS else None)
    if params_file and not Path(params_file).is_file():
        ap.error(f"params_file {params_file} does not exist")
    namespace = launch.normalize_namespace(given.get("namespace", ""))
    robots = given.get("robots", "")
    try:
        spaces = launch.robot_namespaces(robots) if robots.strip() else [namespace]
    except ValueError as exc:
        ap.error(str(exc))
    if robots.strip() and namespace:
        ap.error("give namespace:= or robots:=, not both")
    nodes = ", ".join(f"{ns}/{launch.NODE_NAME}" for ns in spaces)
    print(f"[runner] {describe_environment(env)}; {'one process for ' if robots.strip() else ''}node {nodes}, "
          f"params_file {params_file}", flush=True)
    procs = [subprocess.Popen(node_command(params_file, overrides, namespace, robots), env=env)]
    if args.player:  # one walk-through per robot, on that robot's image topic
        for ns in spaces:
            topic = str(overrides.get("image_topic", names.IMAGE_TOPIC))  # the node's, resolved in its namespace
            topic = topic if topic.startswith("/") else f"{ns}/{topic}"
            cmd = [sys.executable, "-m", "spacemind_ros.ros.image_player", "--loop", "--restamp", "--topic", topic]
            procs.append(subprocess.Popen(cmd + (["--bag", args.bag] if args.bag else []), env=env))
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stopping and all(p.poll() is None for p in procs[:1]):
            time.sleep(0.2)
    finally:
        stop_all(procs)
    return 0 if stopping else procs[0].returncode or 0  # asked to stop: done, however the children ended


if __name__ == "__main__":
    sys.exit(main())
