#!/usr/bin/env bash
# The whole test suite, in one command, on a fresh machine of this kind, as root (CI runs it via .ci/run):
#
#   scripts/test.sh                         install test deps (apt), fmt check, clippy, build, cargo test,
#                                           a lint of the shell scripts, the bench harness's unit tests, then
#                                           the seed walkthrough (scripts/demo.sh)
#   SKIFF_WITH_PEERS=1 scripts/test.sh      first start the real peers (../shared/tools/peers-up: Docker,
#                                           Podman, a registry), so the comparison tests run instead of skipping
#   SKIFF_TEST_DEMO=0 scripts/test.sh       leave out the demo step
#   SKIFF_DEBIAN_ROOTFS=DIR scripts/test.sh where the seed 002 test's Debian root filesystem lives (default: the
#                                           default of ../shared/tools/debian-rootfs); built there if missing
#
# Every step runs even when an earlier one failed; the summary at the end lists each step's result and the
# exit status is non-zero if any failed. Docker is never required: tests that compare with real Docker look
# for the peer daemon at DOCKER_HOST=unix:///run/peer-docker.sock and skip when it is not alive.
#
# Skips are counted, not passed off as passes: a test that cannot run here (no peer Docker, no cgroup v1,
# ...) calls skiff-testutil's skip!, which appends "PACKAGE::TEST_BINARY::TEST<TAB>REASON" to the file named
# by SKIFF_TEST_SKIPS. This script points that at a fresh target/test-skips.tsv before `cargo test`, and the
# summary gives how many tests passed, failed and skipped, then each skipped test with its reason.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$repo"

# Debian packages the tests need. Add to this list (e.g. docker-registry for the registry tests;
# apparmor for apparmor_parser, which checks that skiff's default profile compiles).
test_apt_packages=(busybox-static shellcheck docker-registry runc tini apparmor)

[[ $(id -u) -eq 0 ]] || die "scripts/test.sh runs as root (tests mount, unpack device nodes and chown)"

ensure_apt_packages "${test_apt_packages[@]}"
ensure_static_busybox

if [[ ${SKIFF_WITH_PEERS:-0} == 1 ]]; then
  peers_up=$repo/../shared/tools/peers-up
  [[ -x $peers_up ]] || die "SKIFF_WITH_PEERS=1 but $peers_up is missing"
  say "starting the peers: $peers_up"
  "$peers_up" || die "peers-up failed"
fi
if peer_docker_alive; then
  export DOCKER_HOST=${DOCKER_HOST:-unix:///run/peer-docker.sock}
  say "peer Docker is alive at unix:///run/peer-docker.sock: comparison tests will run"
else
  say "peer Docker is not running: tests that compare with Docker will skip (start it: SKIFF_WITH_PEERS=1 $0)"
fi

results=()
failed=0
target=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$target"
# skiff-testutil's skip! appends one line per skipped test here (see the header).
export SKIFF_TEST_SKIPS=$target/test-skips.tsv
# cargo test's stdout, for its "test result:" lines.
test_log=$target/test-output.log
# step NAME CMD...: run one step, record its result, keep going on failure.
step() {
  local name=$1 start rc=0
  shift
  say "$name: $*"
  start=$SECONDS
  "$@" || rc=$?
  if ((rc == 0)); then
    results+=("ok      $name ($((SECONDS - start)) s)")
  else
    results+=("FAILED  $name (exit $rc, $((SECONDS - start)) s)")
    failed=1
  fi
}

shell_scripts() {
  local f
  for f in scripts/*.sh bench/*.sh .ci/run; do [[ -f $f ]] && printf '%s\n' "$f"; done
}

step "rustfmt" cargo fmt --all -- --check
step "clippy" cargo clippy --workspace --all-targets -- -D warnings
step "build" cargo build --workspace --all-targets
# The seed 002 test (crates/skiff/tests/seed002.rs) runs redis on a Debian bookworm root filesystem made by
# ../shared/tools/debian-rootfs: debootstrap from this machine's Debian mirror, minutes, once per machine (it
# returns at once when the rootfs exists). The test skips, saying so, only when the rootfs is absent.
step "debian rootfs for the seed 002 test" \
  "$repo/../shared/tools/debian-rootfs" ${SKIFF_DEBIAN_ROOTFS:+"$SKIFF_DEBIAN_ROOTFS"}
# cargo_test: the workspace's tests, with a fresh skips file and their stdout kept for the summary.
# shellcheck disable=SC2317 # run through step
cargo_test() {
  : >"$SKIFF_TEST_SKIPS"
  : >"$test_log"
  cargo test --workspace --no-fail-fast | tee "$test_log"
}
step "cargo test" cargo_test
mapfile -t scripts < <(shell_scripts)
step "shellcheck" shellcheck -x "${scripts[@]}"
step "bench harness" python3 -B -m unittest bench/test_harness.py
if [[ ${SKIFF_TEST_DEMO:-1} != 0 ]]; then
  # The seed walkthrough end to end, with the debug binary cargo test just built (no release build needed).
  step "demo" env SKIFF="$target/debug/skiff" SKIFF_ROOT= scripts/demo.sh
fi

# test_counts: "N passed, N failed, N skipped, N ignored" from cargo test's result lines and the skips file.
# cargo counts a skipped test as passed, so the skips are taken out of its passes.
test_counts() {
  local passed=0 failed_tests=0 ignored=0 skipped=0 p f i
  while read -r p f i; do
    ((passed += p, failed_tests += f, ignored += i)) || true
  done < <(sed -n 's/^test result: .* \([0-9][0-9]*\) passed; \([0-9][0-9]*\) failed; \([0-9][0-9]*\) ignored;.*/\1 \2 \3/p' "$test_log")
  skipped=$(skip_count)
  printf '%d passed, %d failed, %d skipped, %d ignored' "$((passed - skipped))" "$failed_tests" "$skipped" "$ignored"
}

# skip_count: how many tests skipped (a test that skipped twice, in two helpers, counts once).
skip_count() {
  cut -f1 "$SKIFF_TEST_SKIPS" 2>/dev/null | sort -u | wc -l
}

# skipped_tests: each skipped test and its reason, sorted, indented under the summary.
skipped_tests() {
  local name reason
  sort "$SKIFF_TEST_SKIPS" | while IFS=$'\t' read -r name reason; do
    printf '    %s: %s\n' "$name" "$reason"
  done
}

printf '\n'
say "summary"
printf '  %s\n' "${results[@]}"
if [[ -s $test_log ]]; then
  printf '  cargo test: %s\n' "$(test_counts)"
fi
if [[ -s $SKIFF_TEST_SKIPS ]]; then
  printf '  skipped %d tests (%s):\n' "$(skip_count)" "$SKIFF_TEST_SKIPS"
  skipped_tests
fi
exit "$failed"
