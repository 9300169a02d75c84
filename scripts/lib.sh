# shellcheck shell=bash
# Helpers shared by scripts/demo.sh, scripts/test.sh and bench/run.sh. Source it; it defines functions only
# (plus $repo, the workspace root), and changes no shell options of its caller.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# say MSG...: a progress line on stderr, so it never mixes with a command's own stdout.
say() { printf '==> %s\n' "$*" >&2; }

# die MSG...: report and exit non-zero.
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# apt_updated is set once `apt-get update` has run in this process, so it runs at most once.
apt_updated=0

# ensure_apt_packages PKG...: install the Debian packages that are not installed yet. Idempotent: it does
# nothing (not even `apt-get update`) when every package is already there, and runs `apt-get update` at
# most once per process, only when something is missing.
ensure_apt_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) == "install ok installed" ]] || missing+=("$pkg")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) -eq 0 ]] || die "need root to install ${missing[*]} (apt-get)"
  if ((apt_updated == 0)); then
    say "apt-get update (missing: ${missing[*]})"
    apt-get "${apt_options[@]}" update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  if ! apt_install "${missing[@]}"; then
    # A package list replaced by a concurrent update makes install fail with "can't find a source to
    # download version": refresh the lists once more and retry once.
    say "apt-get install failed; refreshing the package lists and retrying once"
    apt-get "${apt_options[@]}" update -qq >/dev/null || die "apt-get update failed"
    apt_install "${missing[@]}" || die "apt-get install ${missing[*]} failed"
  fi
}

# Wait for another apt or dpkg to let go of its lock instead of failing at once.
apt_options=(-o DPkg::Lock::Timeout=300)

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get "${apt_options[@]}" install -y -qq --no-install-recommends "$@" >/dev/null
}

# is_static_binary FILE: true when FILE is an executable that needs no dynamic loader.
is_static_binary() {
  [[ -x $1 ]] || return 1
  # ldd prints "not a dynamic executable" (and exits 1) for static binaries.
  local out
  out=$(LC_ALL=C ldd "$1" 2>&1) || true
  [[ $out == *"not a dynamic executable"* ]]
}

# ensure_static_busybox: make sure /bin/busybox is Debian's static busybox (package busybox-static).
ensure_static_busybox() {
  is_static_binary /bin/busybox && return 0
  ensure_apt_packages busybox-static
  is_static_binary /bin/busybox || die "/bin/busybox is still not a static binary after installing busybox-static"
}

# skiff_binary: print the path of the skiff binary to use. $SKIFF wins; otherwise build the release binary
# with cargo (a no-op when it is up to date) and print target/release/skiff.
skiff_binary() {
  if [[ -n ${SKIFF:-} ]]; then
    [[ -x $SKIFF ]] || die "SKIFF=$SKIFF is not an executable file"
    printf '%s\n' "$SKIFF"
    return 0
  fi
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain or set SKIFF=/path/to/skiff"
  say "cargo build --release -p skiff"
  (cd "$repo" && cargo build --release -p skiff --quiet) >&2 || die "cargo build --release failed"
  printf '%s\n' "${CARGO_TARGET_DIR:-$repo/target}/release/skiff"
}

# peer_docker_alive: true when the peer Docker daemon started by ../shared/tools/peers-up answers.
peer_docker_alive() {
  [[ -S /run/peer-docker.sock ]] && command -v docker >/dev/null &&
    DOCKER_HOST=unix:///run/peer-docker.sock timeout 10 docker version >/dev/null 2>&1
}
