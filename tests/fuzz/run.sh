#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) in their own build directory
# and runs each for a bounded time over its committed seed corpus
# (tests/fuzz/corpus/<harness>/, run in full first: every input that ever
# crashed stays there as a regression) plus a scratch directory for what it
# finds. Fails on any crash, timeout, leak, out-of-memory or sanitizer report.
#
#   tests/fuzz/run.sh [seconds-per-harness]     default 20
#
# Environment: TOKEND_FUZZ_BUILD_DIR (default build-fuzz), TOKEND_FUZZ_JOBS
# (build parallelism, default 2), TOKEND_FUZZ_ONLY (a regex: run only the
# harnesses whose name matches). A failing harness's log and crashing input
# stay in <build dir>/fuzz-logs/ and <build dir>/fuzz-artifacts/<harness>/.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: $0 [seconds-per-harness]" >&2
  exit 2
fi
build="${TOKEND_FUZZ_BUILD_DIR:-build-fuzz}"
jobs="${TOKEND_FUZZ_JOBS:-2}"
only="${TOKEND_FUZZ_ONLY:-}"

started=$SECONDS
echo "== configuring and building the fuzzers in $build (clang, ASan+UBSan)"
cmake -S . -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug -DTOKEND_FUZZ=ON \
  -DTOKEND_BUILD_TESTS=OFF >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
rm -f "$build.configure.log"
cmake --build "$build" -j"$jobs" --target tokend_fuzzers || exit 1
echo "== built in $((SECONDS - started)) s"

# Any report ends the run with an error: halt_on_error for both sanitizers
# (UBSan is also compiled with -fno-sanitize-recover), leaks checked at exit.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1:symbolize=1"
for s in llvm-symbolizer llvm-symbolizer-14; do
  if command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"; break; fi
done

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/fuzz-logs"
passed=0
failed=0
failed_names=()
while read -r name; do
  [[ -z "$name" ]] && continue
  [[ -n "$only" && ! "$name" =~ $only ]] && continue
  corpus="tests/fuzz/corpus/$name"
  artifacts="$build/fuzz-artifacts/$name"
  log="$build/fuzz-logs/$name.log"
  mkdir -p "$scratch/$name" "$artifacts" "$corpus"
  # New inputs go to the first directory (scratch); the committed corpus is
  # only read. -timeout: one input running longer than 10 s is a failure;
  # -rss_limit_mb: so is using more than 2 GB.
  "$build/tests/fuzz/$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=77 -timeout_exitcode=78 -artifact_prefix="$artifacts/" -print_final_stats=1 \
    "$scratch/$name" "$corpus" >"$log" 2>&1
  rc=$?
  runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
  if ((rc == 0)) && ! grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$log"; then
    passed=$((passed + 1))
    echo "PASS $name (${runs:-?} runs in ${seconds} s)"
  else
    failed=$((failed + 1))
    failed_names+=("$name")
    echo "FAIL $name (exit $rc); log: $log; input: $(ls "$artifacts" 2>/dev/null | head -1)"
    grep -E -A30 'ERROR: |runtime error:|==ERROR|deadly signal|Test unit written' "$log" | head -60
  fi
done <"$build/fuzzers.txt"

echo "== fuzzing done in $((SECONDS - started)) s (build included)"
if ((failed > 0)); then echo "failed: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
