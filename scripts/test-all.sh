#!/usr/bin/env bash
# Every test of tokend, as CI runs them (.ci/run), in stages:
#   deps     scripts/install-deps.sh --test
#   release  Release build (build/), the whole CTest suite: unit, e2e, browser, bench smoke
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/), unit + e2e
#   tsan     ThreadSanitizer build (build-tsan/), the unit tests of the concurrent parts
#   fuzz     tests/fuzz/run.sh, when it exists (each harness counts as one test)
# A failing stage does not stop the next ones, so every stage reports. The
# last line is the sum over all stages, "N passed, M failed"; the exit code is
# non-zero when anything failed. docs/testing.md says how to run one stage alone.
#   scripts/test-all.sh                 all stages
#   scripts/test-all.sh release tsan    only these stages, in this order
set -uo pipefail
cd "$(dirname "$0")/.."

JOBS="${JOBS:-2}"
stages=("$@")
((${#stages[@]})) || stages=(deps release asan tsan fuzz)

passed=0
failed=0
summary=()
failures=()
logdir="$(mktemp -d "${TMPDIR:-/tmp}/tokend-test-all-XXXXXX")"
trap 'rm -rf "$logdir"' EXIT

# Adds the counts of the last "X tests failed out of Y" line of a ctest log;
# a ctest run that printed none (no tests found, a crash) counts as one failure.
count_ctest() {
  local log="$1" line
  line="$(grep -Eo '[0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)"
  if [[ -z "$line" ]]; then
    failed=$((failed + 1))
    return 1
  fi
  local f total
  f="$(awk '{print $1}' <<<"$line")"
  total="$(awk '{print $NF}' <<<"$line")"
  passed=$((passed + total - f))
  failed=$((failed + f))
  ((f == 0))
}

# run_stage NAME COMMAND...: runs, times and reports one stage.
run_stage() {
  local name="$1"; shift
  local start=$SECONDS before_p=$passed before_f=$failed status
  echo
  echo "=== stage $name: $*"
  "$@"
  status=$?
  local secs=$((SECONDS - start))
  # A stage that failed without any test counted (a broken build) counts as one failed test.
  if ((status != 0 && failed == before_f)); then failed=$((failed + 1)); fi
  local line
  line="$(printf '%-8s %4dm%02ds  %s  (%d passed, %d failed)' "$name" $((secs / 60)) $((secs % 60)) \
    "$([[ $status -eq 0 ]] && echo ok || echo FAILED)" $((passed - before_p)) $((failed - before_f)))"
  summary+=("$line")
  echo "=== $line"
}

# ctest_stage BUILD_DIR: runs ctest there, shows its output and counts it.
ctest_stage() {
  local dir="$1" log="$logdir/$(basename "$1").log"
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" 2>&1 | tee "$log"
  # ctest lists the failed tests after "The following tests FAILED:"; keep them
  # for the closing summary so the end of a long log names what failed.
  local t
  while IFS= read -r t; do
    [[ -n "$t" ]] && failures+=("$(basename "$dir"): $t")
  done < <(sed -n '/The following tests FAILED:/,/^$/p' "$log" | grep -E '^[[:space:]]+[0-9]+ - ' | sed 's/^[[:space:]]*//')
  count_ctest "$log"
}

stage_deps() {
  ./scripts/install-deps.sh --test
}

stage_release() {
  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release &&
    cmake --build build -j"$JOBS" &&
    ctest_stage build
}

# -O1: half the build time of -O2 and the usual level for sanitizer builds;
# no NDEBUG, so assert() is on. Only the targets the suites run are built.
stage_asan() {
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DTOKEND_SANITIZE=address,undefined &&
    cmake --build build-asan -j"$JOBS" --target tokend tokend_unit_tests tokend_e2e_tests &&
    ctest_stage build-asan
}

stage_tsan() {
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DTOKEND_SANITIZE=thread &&
    cmake --build build-tsan -j"$JOBS" --target tokend_unit_tests &&
    ctest_stage build-tsan
}

# Adds the counts of the fuzz runner's "N passed, M failed" line.
stage_fuzz() {
  if [[ ! -e tests/fuzz/run.sh ]]; then
    echo "tests/fuzz/run.sh does not exist: nothing to fuzz"
    return 0
  fi
  local log="$logdir/fuzz.log" status line
  bash tests/fuzz/run.sh 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  line="$(grep -Eo '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)"
  if [[ -n "$line" ]]; then
    passed=$((passed + $(awk '{print $1}' <<<"$line")))
    failed=$((failed + $(awk '{print $3}' <<<"$line")))
  fi
  return "$status"
}

for s in "${stages[@]}"; do
  case "$s" in
    deps | release | asan | tsan | fuzz) run_stage "$s" "stage_$s" ;;
    *) echo "unknown stage '$s' (deps, release, asan, tsan, fuzz)" >&2; exit 2 ;;
  esac
done

echo
echo "=== stages"
printf '%s\n' "${summary[@]}"
if ((${#failures[@]})); then
  echo "=== failed tests"
  printf '%s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
