#!/usr/bin/env bash
# The bench smoke test: bench/run --quick against the tokend just built, then
# a check that the JSON it writes has the documented shape
# ({"machine": {...}, "cases": {"validate": {"rps", "p50_ms", "p99_ms",
# "errors", "ratio_to_nginx", "cpu_us_per_request"}, ...}}, revocations in the
# revoking case, live tokens and RSS in the million case) with no errors, and
# that neither a finished run nor one interrupted with Ctrl-C leaves a process
# behind; then the same, cheaply, for --backend postgresql (validate, exchange,
# pair), which must also leave no PostgreSQL cluster behind.
# usage: smoke.sh TOKEND_BINARY
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# Its own TMPDIR, so that every process it starts can be found by its paths.
mkdir -p "$out/run" "$out/int"
TMPDIR="$out/run" "$repo/bench/run" --quick --binary "$1" --out "$out/latest.json"
left="$(pgrep -af -- "$out/run/" || true)"
[[ -z "$left" ]] || { echo "bench smoke: processes left running after bench/run:"; echo "$left"; exit 1; }

# The PostgreSQL path, cheaply: a throwaway cluster, validate, exchange and
# the two instances behind nginx; nothing of it (tokend, nginx, PostgreSQL)
# is left afterwards.
mkdir -p "$out/pg"
TMPDIR="$out/pg" "$repo/bench/run" --quick --backend postgresql --binary "$1" --cases "validate exchange pair" \
  --out "$out/pg.json" 2>&1 | tee "$out/pg.log"
pg_dir="$(sed -n 's/^bench: PostgreSQL .* on port [0-9]* (\(.*\)), fsync on$/\1/p' "$out/pg.log")"
[[ -n "$pg_dir" ]] || { echo "bench smoke: bench/run --backend postgresql did not report its cluster"; exit 1; }
left="$(pgrep -af -- "$out/pg/" || true; pgrep -af -- "$pg_dir/" || true)"
[[ -z "$left" ]] || { echo "bench smoke: processes left running after bench/run --backend postgresql:"; echo "$left"; exit 1; }
[[ ! -e "$pg_dir" ]] || { echo "bench smoke: the PostgreSQL cluster's folder $pg_dir was left behind"; exit 1; }

# Ctrl-C in the middle of a run stops tokend and nginx too. (Job control on,
# so that the background run does not ignore SIGINT as a non-interactive
# shell's background jobs do.)
set -m
TMPDIR="$out/int" "$repo/bench/run" --quick --binary "$1" --cases validate >"$out/int.log" 2>&1 &
run_pid=$!
for ((i = 0; i < 300; i++)); do
  grep -q "case validate" "$out/int.log" && break
  sleep 0.1
done
pgrep -f -- "$out/int/" >/dev/null || { cat "$out/int.log"; echo "bench smoke: the run to interrupt did not start"; exit 1; }
kill -INT "$run_pid"
rc=0
wait "$run_pid" || rc=$?
set +m
[[ "$rc" -ne 0 ]] || { echo "bench smoke: bench/run exited 0 after Ctrl-C"; exit 1; }
for ((i = 0; i < 50; i++)); do
  pgrep -f -- "$out/int/" >/dev/null || break
  sleep 0.1
done
left="$(pgrep -af -- "$out/int/" || true)"
[[ -z "$left" ]] || { echo "bench smoke: processes left running after Ctrl-C:"; echo "$left"; exit 1; }
echo "bench smoke: Ctrl-C stopped bench/run (exit $rc) and everything it started"
node - "$out/latest.json" <<'JS'
const fs = require('fs');
const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (m) => { console.error('bench smoke: ' + m); process.exit(1); };
if (typeof r.machine !== 'object' || !(r.machine.nproc > 0)) fail('machine.nproc missing');
for (const c of ['validate', 'exchange', 'userpass', 'reject', 'revoking', 'million']) {
  const x = r.cases && r.cases[c];
  if (!x) fail(`case ${c} missing`);
  for (const k of ['rps', 'p50_ms', 'p99_ms', 'errors', 'ratio_to_nginx', 'cpu_us_per_request']) {
    if (typeof x[k] !== 'number') fail(`${c}.${k} is not a number`);
  }
  if (!(x.rps > 0)) fail(`${c}: no request completed`);
  if (x.errors !== 0) fail(`${c}: ${x.errors} errors`);
  if (!(x.cpu_us_per_request > 0)) fail(`${c}: no CPU time measured`);
}
if (!(r.cases.userpass.fraction_of_hashing_bound > 0)) fail('userpass.fraction_of_hashing_bound missing');
if (!(r.cases.idle && r.cases.idle.rss_mib > 0)) fail('idle.rss_mib missing');
if (!(r.cases.revoking.revocations_per_run > 0)) fail('revoking: no revocation during the runs');
if (r.cases.revoking.revoker_errors !== 0) fail(`revoking: ${r.cases.revoking.revoker_errors} revoker errors`);
if (!(r.cases.million.live_tokens > 0 && r.cases.million.rss_mib > 0)) fail('million.live_tokens or rss_mib missing');
console.log('bench smoke: the JSON has every case and field, no errors');
JS
node - "$out/pg.json" <<'JS'
const fs = require('fs');
const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (m) => { console.error('bench smoke (postgresql): ' + m); process.exit(1); };
if (r.settings.backend !== 'postgresql') fail('settings.backend is not postgresql');
if (typeof r.software.postgresql !== 'string') fail('software.postgresql missing');
for (const c of ['validate', 'exchange', 'pair']) {
  const x = r.cases && r.cases[c];
  if (!x) fail(`case ${c} missing`);
  for (const k of ['rps', 'p50_ms', 'p99_ms', 'errors', 'ratio_to_nginx', 'cpu_us_per_request', 'cpu_us_per_request_postgresql']) {
    if (typeof x[k] !== 'number') fail(`${c}.${k} is not a number`);
  }
  if (!(x.rps > 0)) fail(`${c}: no request completed`);
  if (x.errors !== 0) fail(`${c}: ${x.errors} errors`);
}
if (!(r.cases.pair.ratio_to_validate > 0)) fail('pair.ratio_to_validate missing');
console.log('bench smoke (postgresql): the JSON has every case and field, no errors');
JS
