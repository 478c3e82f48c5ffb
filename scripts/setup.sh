#!/usr/bin/env bash
# One-time (and idempotent) set-up: .venv with pinned packages, the spacemind_interfaces and tf2_msgs (TFMessage)
# ROS packages built into it, and spacemind_ros installed editable. A second run on a ready machine only compares a
# stamp and exits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.venv"
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3

fail() { echo "setup: $*" >&2; exit 1; }

# Everything that decides the installed state; a change to any of these reruns the matching step.
deps_hash=$(cat requirements/requirements.txt requirements/constraints.txt | sha256sum | cut -c1-16)
msg_hash=$(find msg msg_tf2 -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
pkg_hash=$(cat setup.py | sha256sum | cut -c1-16)
stamp="$venv/.spacemind-setup"
want="deps=$deps_hash msg=$msg_hash pkg=$pkg_hash"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
have=$(cat "$stamp" 2>/dev/null || true)

if [[ ! -x "$venv/bin/python" ]]; then
  echo "setup: creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv" || fail "could not create a venv with $python (Debian: apt-get install python3-venv)"
  "$venv/bin/python" -m pip install -q --upgrade pip || fail "pip upgrade failed"
fi
"$venv/bin/python" -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), sys.version' \
  || fail "Python 3.11 or 3.12 is required for the ROS 2 Kilted wheels; remove .venv and set PYTHON=python3.11"

if [[ "$have" != *"deps=$deps_hash"* ]]; then
  echo "setup: installing pinned packages (first run: a few minutes)"
  "$venv/bin/python" -m pip install -q -r requirements/requirements.txt -c requirements/constraints.txt \
    || fail "pip install failed (see the messages above)"
  have=""
fi
if [[ "$have" != *"msg=$msg_hash"* ]]; then
  command -v cmake >/dev/null || fail "cmake is needed to build msg/ (Debian: apt-get install cmake g++)"
  echo "setup: building the spacemind_interfaces and tf2_msgs packages"
  bash scripts/build_interfaces.sh "$venv" || fail "building spacemind_interfaces failed"
  bash scripts/build_interfaces.sh "$venv" msg_tf2 || fail "building tf2_msgs (TFMessage) failed"
fi
if [[ "$have" != *"pkg=$pkg_hash"* ]] || ! "$venv/bin/python" -c 'import spacemind_ros' 2>/dev/null; then
  echo "setup: installing spacemind_ros (editable)"
  "$venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . || fail "installing spacemind_ros failed"
fi
echo "$want" > "$stamp"
echo "setup: ready ($venv)"
