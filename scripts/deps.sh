#!/usr/bin/env bash
# Installs the Debian 12 packages Kirjuri needs, only those missing. Sourced by setup.sh and
# test.sh; uses sudo when not root.
set -euo pipefail

KIRJURI_PACKAGES=(
  cmake g++ pkg-config make
  librocksdb-dev libcapnp-dev capnproto
  libspdlog-dev libfmt-dev catch2 libsodium-dev libcli11-dev
  openssl   # the tests check our keys and signatures with a tool that is not ours
  chromium  # the tests open the audit report's page in a real browser
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizers' runtimes for clang
)

kirjuri_install_deps() {
  local missing=()
  for p in "${KIRJURI_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return 0
  fi
  echo "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# Configures and builds into $1 with the remaining arguments passed to cmake.
kirjuri_build() {
  local dir="$1"; shift
  cmake -S "$KIRJURI_ROOT" -B "$dir" "$@"
  cmake --build "$dir" -j "$(nproc)"
}
