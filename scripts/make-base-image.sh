#!/bin/sh
# Build the Debian 12 base image the tars images start from, from Debian's packages, where no
# image registry can be reached: debootstrap (minbase) into a directory, then `docker import`.
# The mirror is the one this machine's apt uses (its sources), so it works wherever apt does.
# On a machine that can pull images, the Dockerfiles use the official debian:bookworm-slim
# instead and this script is not needed.
#
#   scripts/make-base-image.sh [--tag TAG] [--mirror URL] [--force]
#
#   --tag TAG      the image to make (default tars-base:bookworm)
#   --mirror URL   the Debian mirror (default: the first deb.debian.org-like URI of apt's sources)
#   --force        build again even when TAG exists
#
# Needs root (debootstrap) and a running Docker engine.  Prints the image's tag at the end; safe
# to run again (does nothing when TAG exists).
set -eu

tag=tars-base:bookworm
mirror=
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) [ $# -ge 2 ] || { echo "make-base-image: --tag needs a value" >&2; exit 2; }; tag=$2; shift 2 ;;
    --mirror) [ $# -ge 2 ] || { echo "make-base-image: --mirror needs a value" >&2; exit 2; }; mirror=$2; shift 2 ;;
    --force) force=1; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-base-image: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done

command -v docker >/dev/null 2>&1 || { echo "make-base-image: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "make-base-image: the Docker engine does not answer (is dockerd running, may you use it?)" >&2; exit 1; }
if [ "$force" -eq 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
  echo "make-base-image: $tag exists (--force to build it again)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || { echo "make-base-image: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null 2>&1 || { echo "make-base-image: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

# The Debian mirror and the security mirror apt uses here, from one-line (sources.list) or
# deb822 (*.sources) files.
apt_uris() {
  {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -n 's/^[[:space:]]*deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p'
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
  } | sed '/^$/d'
}
if [ -z "$mirror" ]; then
  mirror=$(apt_uris | grep -v -- '-security' | head -n 1)
fi
security=$(apt_uris | grep -- '-security' | head -n 1)
[ -n "$mirror" ] || { echo "make-base-image: no Debian mirror in apt's sources; give one with --mirror" >&2; exit 1; }

work=$(mktemp -d /var/tmp/tars-base.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
echo "make-base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$work/root" "$mirror" >"$work/log" 2>&1 || {
  tail -n 20 "$work/log" >&2
  echo "make-base-image: debootstrap failed (log above)" >&2
  exit 1
}
{
  echo "deb $mirror bookworm main"
  echo "deb $mirror bookworm-updates main"
  [ -z "$security" ] || echo "deb $security bookworm-security main"
} >"$work/root/etc/apt/sources.list"
# What the official slim image also leaves out: caches and the package lists.
rm -rf "$work/root/var/cache/apt/archives"/*.deb "$work/root/var/lib/apt/lists"/*
tar -C "$work/root" --numeric-owner -c . | docker import \
  --change 'CMD ["/bin/bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
echo "make-base-image: made $tag"
