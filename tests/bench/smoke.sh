#!/usr/bin/env bash
# The bench smoke test: bench/run --quick against the tokend just built, then
# a check that the JSON it writes has the documented shape
# ({"machine": {...}, "cases": {"validate": {"rps", "p50_ms", "p99_ms",
# "errors", "ratio_to_nginx", "cpu_us_per_request"}, ...}}) with no errors.
# usage: smoke.sh TOKEND_BINARY
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$repo/bench/run" --quick --binary "$1" --out "$out/latest.json"
node - "$out/latest.json" <<'JS'
const fs = require('fs');
const r = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const fail = (m) => { console.error('bench smoke: ' + m); process.exit(1); };
if (typeof r.machine !== 'object' || !(r.machine.nproc > 0)) fail('machine.nproc missing');
for (const c of ['validate', 'exchange', 'userpass', 'reject']) {
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
console.log('bench smoke: the JSON has every case and field, no errors');
JS
