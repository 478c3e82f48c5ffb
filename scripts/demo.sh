#!/usr/bin/env bash
# The README's demo command: set up (idempotent), then run node + image stream + client on loopback DDS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/scripts/setup.sh"
cd "$root"
exec "$root/.venv/bin/python" -m spacemind_ros.demo "$@"
