#!/usr/bin/env bash
# Benchmarks: skiff side by side with Docker and Podman in one run; writes BENCHMARKS.md (see bench/harness.py).
#
#   bench/run.sh [SUITE...] [-n N] [--query-runs R]     default: every suite in bench/suites/, N=5, R=30
#
# Environment: SKIFF=path (binary to measure; default: build target/release/skiff), N, QUERY_RUNS,
# BENCH_ROOTFS (default: the path ../shared/tools/debian-rootfs prints, building it once if needed),
# BENCH_WORK (scratch: bench/out), BENCH_OUT (default: BENCHMARKS.md), SKIFF_BEFORE=path (an earlier skiff
# build measured beside SKIFF as "skiff-before", e.g. before a refactor) with SKIFF_BEFORE_COMMIT=its commit.
# The peers come from ../shared/tools/peers-up (Docker at unix:///run/peer-docker.sock, Podman with runc);
# a peer that is missing or failing shows as "n/a" with the reason, and skiff is measured regardless.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$repo"

SKIFF=$(skiff_binary)
export SKIFF
if [[ -z ${BENCH_ROOTFS:-} ]]; then
  debian_rootfs=$repo/../shared/tools/debian-rootfs
  [[ -x $debian_rootfs ]] || die "no $debian_rootfs: set BENCH_ROOTFS to a root filesystem directory"
  say "rootfs: $debian_rootfs (builds it once per machine, a few minutes)"
  BENCH_ROOTFS=$("$debian_rootfs")
fi
export BENCH_ROOTFS
[[ -d $BENCH_ROOTFS ]] || die "BENCH_ROOTFS=$BENCH_ROOTFS is not a directory"
peer_docker_alive || say "peer Docker is not running: its rows will be n/a (start it: ../shared/tools/peers-up)"
exec python3 -B "$repo/bench/harness.py" "$@"
