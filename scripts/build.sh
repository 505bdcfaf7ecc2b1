#!/bin/sh
# Configure (once) and build pamkit in build/.
set -eu
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build -Dwerror=true
ninja -C build
