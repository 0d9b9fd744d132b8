#!/usr/bin/env bash
# run.sh - benchmark Postern against Debian's Postfix on this machine.
#
# Installs Postfix (preseeded "No configuration": installed, never started
# as the system MTA) and the build dependencies, builds Postern
# (RelWithDebInfo, into build-bench/ unless POSTERN_BUILD names a build
# tree to reuse), then runs bench/bench.py, which in each of three rounds
# starts each MTA in a scratch instance under /tmp, measures, stops it and
# removes the scratch directory. Needs root (it installs packages, adds the user postern-bench,
# and the MTAs deliver as that user); re-runs itself through sudo if needed.
#
# Usage: bench/run.sh [--only postfix|postern] [--keep] [other bench.py options]
#        (bench/bench.py --help lists them; see bench/README.md)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "bench: run as root (no sudo here)" >&2; exit 1; }
  exec sudo --preserve-env=POSTERN_BUILD "$0" "$@"
fi

only=""
prev=""
for a in "$@"; do
  [[ "$prev" == "--only" ]] && only="$a"
  [[ "$a" == --only=* ]] && only="${a#--only=}"
  prev="$a"
done

# --- packages -----------------------------------------------------------------
want=(postfix python3 procps util-linux)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration": the package must not set up or start a system MTA.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Postern ------------------------------------------------------------------
if [[ "$only" == "postfix" ]]; then
  build="${POSTERN_BUILD:-$repo/build-bench}"
elif [[ -n "${POSTERN_BUILD:-}" ]]; then
  build="$POSTERN_BUILD"
  echo "bench: using the Postern build in $build (POSTERN_BUILD)"
else
  build="$repo/build-bench"
  bash "$repo/scripts/install-deps.sh"
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_TESTS=OFF \
    "${launcher[@]}" >/dev/null
  if ! cmake --build "$build" -j"$(nproc)"; then
    # Part of the tree may be work in progress: build what the benchmark
    # needs one by one; bench.py skips the lines whose daemons are missing.
    echo "bench: the full build failed; building the benchmark's programs one by one" >&2
    for t in postern postconf master smtpd cleanup trivial-rewrite qmgr bounce smtp local pickup; do
      cmake --build "$build" -j"$(nproc)" --target "$t" >/dev/null 2>&1 ||
        echo "bench: $t did not build" >&2
    done
  fi
fi

exec python3 "$here/bench.py" --build "$build" "$@"
