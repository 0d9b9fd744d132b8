#!/usr/bin/env bash
# test.sh - README command (2): install dependencies, build, and run every
# test: unit and integration tests (ctest), the same under
# AddressSanitizer/UBSan, and each libFuzzer target for a short run.
#
# Environment: POSTERN_SKIP_SANITIZE=1, POSTERN_SKIP_FUZZ=1 to skip passes;
# POSTERN_FUZZ_SECONDS (default 10) per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
jobs=$(nproc)
bash scripts/install-deps.sh --test

echo "=== build (RelWithDebInfo) and ctest"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_TESTS=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs" --timeout 900)

if [[ "${POSTERN_SKIP_SANITIZE:-0}" != 1 ]]; then
  # Every parser and codec is exercised by the unit tests; run them all under
  # AddressSanitizer/UBSan (integration tests run against the normal build).
  echo "=== unit tests under AddressSanitizer + UBSan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPOSTERN_TESTS=ON -DPOSTERN_SANITIZE=ON >/dev/null
  unit_targets=$(cmake --build build-asan --target help | sed -n 's/^\([A-Za-z0-9_]*_test\):.*/\1/p' | sort -u)
  # shellcheck disable=SC2086
  cmake --build build-asan -j"$jobs" --target $unit_targets
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
     ctest --output-on-failure -j"$jobs" -L unit --timeout 900)
fi

if [[ "${POSTERN_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "=== libFuzzer targets (clang), ${POSTERN_FUZZ_SECONDS:-10}s each"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTERN_FUZZ=ON >/dev/null
  targets=$(cmake --build build-fuzz --target help | sed -n 's/^\(fuzz_[A-Za-z0-9_]*\):.*/\1/p' | sort -u)
  if [[ -n "$targets" ]]; then
    # shellcheck disable=SC2086
    cmake --build build-fuzz -j"$jobs" --target $targets
    passed=0; failed=0
    for t in $targets; do
      corpus="$top/build-fuzz/corpus/$t"; mkdir -p "$corpus"
      seeds="$top/tests/fuzz-seeds/${t#fuzz_}"
      args=("$corpus"); [[ -d "$seeds" ]] && args+=("$seeds")
      # A finding is written to build-fuzz/artifacts/<target>-*; it is also
      # printed in base64, so a CI log alone is enough to reproduce it.
      # -timeout: one input running a minute is a hang (libFuzzer's default,
      # twenty minutes, costs CI its time budget first).
      rm -f "$top/build-fuzz/artifacts/$t-"*; mkdir -p "$top/build-fuzz/artifacts"
      if "$top/build-fuzz/fuzz/$t" -max_total_time="${POSTERN_FUZZ_SECONDS:-10}" -timeout=60 -rss_limit_mb=2048 \
           -artifact_prefix="$top/build-fuzz/artifacts/$t-" \
           -print_final_stats=0 "${args[@]}" >"$top/build-fuzz/$t.log" 2>&1; then
        echo "fuzz $t: ok"; passed=$((passed+1))
      else
        echo "fuzz $t: FAILED"; grep -v -E '^ +#([2-9][0-9]|[0-9]{3,}) ' "$top/build-fuzz/$t.log" | tail -60; failed=$((failed+1))
        for a in "$top/build-fuzz/artifacts/$t-"*; do
          [[ -f "$a" ]] || continue
          echo "finding ${a##*/} (base64):"; head -c 4096 "$a" | base64
        done
      fi
    done
    echo "fuzz: $passed passed, $failed failed"
    [[ $failed -eq 0 ]]
  fi
fi
echo "=== all tests passed"
