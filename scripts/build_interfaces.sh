#!/usr/bin/env bash
# Build a ROS interface package with rosidl and install it into a venv: spacemind_interfaces (msg/, the default) or
# tf2_msgs (msg_tf2/: TFMessage only, no wheel exists).
# Usage: scripts/build_interfaces.sh VENV [PACKAGE_DIR]
# The ROS wheels' exported CMake files name the wheel builder's Python include dirs; they are rewritten to this
# venv's Python and numpy before configuring (see docs/development.md, "Set-up").
set -euo pipefail
venv=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
py="$venv/bin/python"
src="$root/${2:-msg}"
pkg=$(sed -n 's#.*<name>\(.*\)</name>.*#\1#p' "$src/package.xml" | head -1)
build="$root/build/$pkg"

py_inc=$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
np_inc=$("$py" -c 'import numpy; print(numpy.get_include())')
# Rewrite /opt/python/cpXY-cpXY/... include paths left by the wheel builder.
{ grep -rlE '/opt/python/cp[0-9]+-cp[0-9]+' "$venv/share" --include='*.cmake' 2>/dev/null || true; } | while read -r f; do
  sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/(_core|core)/include#${np_inc}#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python3\.[0-9]+#${py_inc}#g" "$f"
done
if grep -rqE '/opt/python/cp[0-9]+' "$venv/share" --include='*.cmake' 2>/dev/null; then
  echo "build_interfaces: unrewritten wheel-builder paths remain in:" >&2
  grep -rlE '/opt/python/cp[0-9]+' "$venv/share" --include='*.cmake' >&2
  exit 1
fi

rm -rf "$build"
mkdir -p "$build"
export AMENT_PREFIX_PATH="$venv" PATH="$venv/bin:$PATH"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$venv" -DCMAKE_INSTALL_PREFIX="$venv" \
  -DPython3_EXECUTABLE="$py" -DBUILD_TESTING=OFF >"$build/configure.log" 2>&1 \
  || { echo "build_interfaces: cmake configure failed; log: $build/configure.log" >&2; tail -30 "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1 \
  || { echo "build_interfaces: build failed; log: $build/build.log" >&2; tail -30 "$build/build.log" >&2; exit 1; }
cmake --install "$build" >"$build/install.log" 2>&1 \
  || { echo "build_interfaces: install failed; log: $build/install.log" >&2; tail -30 "$build/install.log" >&2; exit 1; }
case "$pkg" in
  spacemind_interfaces) check='from spacemind_interfaces.srv import SpatialQuery, RouteAdvice; from spacemind_interfaces.action import SpatialQuery as A; from spacemind_interfaces.msg import SpatialAnswer' ;;
  *) check="import $pkg.msg" ;;
esac
"$py" -c "$check" || { echo "build_interfaces: built, but $pkg does not import" >&2; exit 1; }
