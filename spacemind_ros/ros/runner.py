"""Python stand-in for ``ros2 launch spacemind_ros spacemind.launch.py`` where launch is not installed.

Starts the same node (and optionally the image player) as subprocesses with the same parameters, forwards
SIGINT/SIGTERM, and stops everything cleanly (SIGTERM, wait, then SIGKILL).
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from spacemind_ros.ros.environment import loopback_environment


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


def node_command(params_file: str | Path | None, overrides: dict[str, str]) -> list[str]:
    cmd = [sys.executable, "-m", "spacemind_ros.ros.node", "--ros-args"]
    if params_file:
        cmd += ["--params-file", str(params_file)]
    for name, value in overrides.items():
        cmd += ["-p", f"{name}:={value}"]
    return cmd


def stop_all(procs: list[subprocess.Popen], timeout: float = 10.0) -> None:
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params-file", default=str(DEFAULT_PARAMS) if DEFAULT_PARAMS else None)
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE")
    ap.add_argument("--player", action="store_true", help="also publish a generated scene walk (or --bag) on 'image'")
    ap.add_argument("--bag", help="bag for the player")
    ap.add_argument("--network", action="store_true",
                    help="use the machine's normal DDS discovery (default: loopback only, own domain)")
    ap.add_argument("--domain-id", type=int)
    args = ap.parse_args(argv)
    overrides = dict(p.split(":=", 1) for p in args.param)
    overrides.setdefault("autostart", "true")
    env = None if args.network else loopback_environment(args.domain_id)
    if env:
        print(f"[runner] loopback-only DDS, ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}", flush=True)
    procs = [subprocess.Popen(node_command(args.params_file, overrides), env=env)]
    if args.player:
        cmd = [sys.executable, "-m", "spacemind_ros.ros.image_player", "--loop", "--restamp"]
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
    return procs[0].returncode or 0


if __name__ == "__main__":
    sys.exit(main())
