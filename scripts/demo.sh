#!/usr/bin/env bash
# The seeds' image walkthrough (../shared/seeds/000*, 001*, 003*) done with skiff instead of docker: an empty
# image from an empty tar, a busybox image from a directory, then save, look inside the archive, remove,
# load. Each command is printed (after "$ ") before it runs, as in the seeds.
#
#   scripts/demo.sh                   run as root on a fresh machine; builds target/release/skiff if needed
#   SKIFF=/path/to/skiff scripts/demo.sh        use that binary instead of building
#   SKIFF_ROOT=/some/dir scripts/demo.sh        use that image store (default: a throwaway one in a temp dir)
#   KEEP=1 scripts/demo.sh                      keep the temp dir (rootfs, archive, store) and print its path
#
# The busybox rootfs comes from Debian's busybox-static (installed with apt-get if /bin/busybox is not a
# static binary); nothing else is downloaded. `skiff run busybox cat /release` ends the seed, and the demo
# fails unless it prints KatacodaPrivateBuild.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

skiff_bin=$(skiff_binary)
skiff_bin=$(realpath "$skiff_bin")
ensure_static_busybox

work=$(mktemp -d "${TMPDIR:-/tmp}/skiff-demo.XXXXXX")
cleanup() {
  if [[ ${KEEP:-0} == 1 ]]; then
    say "kept $work"
    return
  fi
  # Containers of a throwaway store go with it (an exited container keeps its root filesystem mounted).
  if [[ ${SKIFF_ROOT:-} == "$work/root" && -d $work/root ]]; then
    local ids=()
    mapfile -t ids < <("$skiff_bin" ps -aq --no-trunc 2>/dev/null || true)
    ((${#ids[@]} == 0)) || "$skiff_bin" rm -f "${ids[@]}" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
export SKIFF_ROOT=${SKIFF_ROOT:-$work/root}

# `skiff` inside the printed commands is this function, so they read exactly as a user would type them.
skiff() { "$skiff_bin" "$@"; }

# run CMD: print CMD as the seeds do, then run it in this shell (pipes and redirections included).
run() {
  local rc=0
  printf '\n$ %s\n' "$1"
  eval "$1" || rc=$?
  ((rc == 0)) || die "demo step failed (exit $rc): $1"
}

# note TEXT: a comment between commands, like the seeds' prose.
note() { printf '\n# %s\n' "$*"; }

say "skiff: $skiff_bin"
say "store: SKIFF_ROOT=$SKIFF_ROOT"
cd "$work"

note "An empty image: a tar with nothing in it, imported."
run 'tar cv --files-from /dev/null | skiff import - empty'
run 'skiff images'

note "A busybox root filesystem (Debian's static busybox, one symlink per applet), with a release file."
run "$(printf '%q' "$repo/scripts/busybox-rootfs.sh") busybox"
run 'ls -lha busybox'
run 'echo KatacodaPrivateBuild > busybox/release'
run 'tar -C busybox -c . | skiff import - busybox'
run 'skiff images'
run 'skiff history busybox'

note "An image is a tar file containing tar files: save it and look inside."
run 'mkdir extract && cd extract'
run 'skiff save busybox > busybox.tar'
run 'tar -xvf busybox.tar'
run 'ls'
run 'cat repositories'
run 'cat manifest.json'
layer=$(python3 -c 'import json; print(json.load(open("manifest.json"))[0]["Layers"][0])')
note "Listing a layer shows which files it provides (first 15 of $(tar -tf "$layer" | wc -l))."
set +o pipefail # head closes the pipe early; tar's SIGPIPE is expected
run "tar -tvf $layer | head -n 15"
set -o pipefail

note "Remove the image and load it back from the archive."
run 'skiff rmi busybox'
run 'skiff images'
run 'skiff load -i busybox.tar'
run 'skiff images'

note "Run it as a container: the seed's last step."
printf '\n$ %s\n' 'skiff run busybox cat /release'
release=$(skiff run busybox cat /release) || die "demo step failed: skiff run busybox cat /release"
printf '%s\n' "$release"
[[ $release == KatacodaPrivateBuild ]] || die "skiff run busybox cat /release printed '$release', not KatacodaPrivateBuild"
printf '\n'
say "demo finished"
