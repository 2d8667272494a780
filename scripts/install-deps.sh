#!/usr/bin/env bash
# Installs exactly what tokend needs from Debian 12 packages (and, with --test,
# what its test suite needs: slapd, Chromium, curl, Node.js and the npm package
# playwright-core). Installs only what is missing; safe to run again.
#   scripts/install-deps.sh          build + run
#   scripts/install-deps.sh --test   build + run + tests (incl. the benchmark smoke: nginx, wrk;
#                                    the soak: python3, gnuplot-nox)
#   scripts/install-deps.sh --bench  build + run + benchmarks (nginx, wrk; bench/soak: python3, gnuplot-nox)
set -euo pipefail
cd "$(dirname "$0")/.."

# Boost is named by version: the unversioned libboost-*-dev packages are 1.74
# on Debian 12 and conflict with 1.81.
build_pkgs=(libboost1.81-dev libboost-url1.81-dev libcli11-dev nlohmann-json3-dev libssl-dev libsqlite3-dev libldap-dev
            libargon2-dev libspdlog-dev libpq-dev catch2 cmake g++ pkg-config ccache)
# clang + libclang-rt-14-dev (libFuzzer, ASan, UBSan runtimes) + llvm-14 (llvm-symbolizer,
# for readable reports): the fuzzers, tests/fuzz/run.sh. python3 + gnuplot-nox: bench/soak.
test_pkgs=(slapd ldap-utils chromium fonts-liberation curl openssl ca-certificates nginx wrk procps python3 gnuplot-nox
           clang libclang-rt-14-dev llvm-14)
# e2fsprogs (mkfs.ext4, e2fsck) and mount (losetup): the read-only file system
# fault test. Both are Priority: required in Debian 12, listed for clarity.
test_pkgs+=(e2fsprogs mount)
# postgresql-15: initdb, pg_ctl and postgres for the throwaway test cluster
# (tests/support/pg-cluster.sh); no system cluster is started (policy-rc.d below).
test_pkgs+=(postgresql-15)
bench_pkgs=(nginx wrk curl procps python3 gnuplot-nox)

want=("${build_pkgs[@]}")
mode="${1:-}"
case "$mode" in
  --test) want+=("${test_pkgs[@]}") ;;
  --bench) want+=("${bench_pkgs[@]}") ;;
  "") ;;
  *) echo "usage: $0 [--test|--bench]" >&2; exit 2 ;;
esac
# Node.js for the browser tests: the machine's own node if it has one,
# otherwise Debian's.
if [[ "$mode" == --test ]] && ! command -v node >/dev/null; then want+=(nodejs npm); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
  # The post-install scripts of slapd and postgresql-15 must not start a
  # system-wide directory or database cluster: the tests start their own
  # throwaway slapd and PostgreSQL. A deny-all policy-rc.d (exit 101) does
  # that; it is removed afterwards only if this script created it.
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d.tokend >/dev/null
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    $SUDO install -m 755 /usr/sbin/policy-rc.d.tokend /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO rm -f /usr/sbin/policy-rc.d.tokend
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ "$mode" == --test && ! -d tests/web/node_modules/playwright-core ]]; then
  (cd tests/web && npm ci --no-audit --no-fund --loglevel=error)
fi
