#!/usr/bin/env bash
# quickstart.sh - README command (1): install dependencies, build, create a
# self-contained instance in ./instance and start it (SMTP on
# 127.0.0.1:2525). Runs as the invoking user when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)"
inst="$PWD/instance"
./build/sbin/postern -c "$inst" init
if ./build/sbin/postern -c "$inst" status >/dev/null 2>&1; then
  ./build/sbin/postern -c "$inst" reload
else
  ./build/sbin/postern -c "$inst" start
fi
./build/sbin/postern -c "$inst" status
echo "Configuration: $inst/main.cf, $inst/master.cf; log: $inst/maillog"
echo "Stop with: ./build/sbin/postern -c $inst stop"
