#!/usr/bin/env bash
# Make the seeds' busybox root filesystem in DIR: bin/, sbin/ and usr/ holding Debian's static busybox as
# /bin/busybox and one symbolic link per applet, at the path busybox itself lists for it (what
# `busybox --install -s` does, but laid out as a tree). Nothing is downloaded: busybox-static comes from apt.
#
#   scripts/busybox-rootfs.sh DIR      DIR must not exist yet, or be empty
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

(($# == 1)) || die "usage: $0 DIR"
dir=$1
if [[ -e $dir ]] && [[ -n $(ls -A "$dir") ]]; then die "$dir exists and is not empty"; fi

ensure_static_busybox
mkdir -p "$dir/bin" "$dir/sbin" "$dir/usr/bin" "$dir/usr/sbin"
cp /bin/busybox "$dir/bin/busybox"
chmod 0755 "$dir/bin/busybox"
# `busybox --list-full` prints each applet's install path relative to /, e.g. bin/ls, usr/bin/awk. Top-level
# entries (linuxrc) are left out so the tree is bin/, sbin/ and usr/ only, as in the seeds.
n=0
while IFS= read -r applet; do
  [[ $applet == */* && $applet != bin/busybox ]] || continue
  mkdir -p "$dir/$(dirname "$applet")"
  ln -sfn /bin/busybox "$dir/$applet"
  n=$((n + 1))
done < <("$dir/bin/busybox" --list-full)
((n > 0)) || die "busybox --list-full listed no applets"
