#!/usr/bin/env bash
# Install everything tars needs to build and to run its tests, from Debian's packages (Debian 12).
# Safe to run again: when every package is already installed it changes nothing.
#
#   scripts/setup.sh            as root, or as a user with sudo
#   scripts/setup.sh --force    run apt-get update and install even when nothing is missing
set -euo pipefail

force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "setup: unknown option: $1 (see --help)" >&2; exit 2 ;;
esac

packages=(
  # build
  cmake gcc clang make pkg-config clang-format
  libseccomp-dev libcap-dev libnl-3-dev libnl-route-3-dev libcjson-dev nettle-dev
  libssl-dev   # the tests' independent SHA-256 oracle
  libcurl4-openssl-dev libgit2-dev libsqlite3-dev libmicrohttpd-dev libarchive-dev
  libexpat1-dev  # JUnit XML reports (linked statically)
  libgraphviz-dev  # plans drawn in reports (coordinate/graph.c loads libgvc with dlopen)
  # tests
  libcmocka-dev
  libclang-rt-14-dev  # libFuzzer and clang's sanitizer runtimes, for the build-fuzz tree
  util-linux   # unshare, runuser, setpriv, flock
  passwd       # useradd: the unprivileged tars-test user
  uidmap       # newgidmap: a rootless sandbox maps groups /etc/subgid allows
  iproute2 procps psmisc attr time git ca-certificates python3 jq
  libcap2-bin  # capsh, getpcaps: what a sandboxed process holds
  mount        # mount(8), which the demo and attack tests try inside
  busybox-static  # a minimal image for the --rootfs tests
  # toolchains of the validate fixtures (tests/fixtures/, tests/integration/validate.sh): Debian's
  # go and pytest, which sandboxes use through their fixed PATH; meson and ninja for meson projects
  golang-go python3-pytest python3-yaml meson ninja-build
  # the analyzer: enclosing functions (universal-ctags); its SARIF checked against the schema
  universal-ctags python3-jsonschema
  # benchmarks
  bubblewrap hyperfine rsync
)

missing=()
for p in "${packages[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ] && [ "$force" -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages are installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "setup: missing packages: ${missing[*]:-none}" >&2
  echo "setup: installing them needs root; as root, run:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]:-${packages[*]}}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]:-(nothing missing, --force)}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${packages[@]}"
echo "setup: done"
