#!/usr/bin/env bash
# Runs before `npm test`: installs the Debian packages the tests use as independent peers and
# oracles (test/support/debian-packages.txt), so the README's test command passes on a fresh
# machine. Only root can install; elsewhere it says which are missing and the tests that need them
# (all of which also need root) skip with a printed reason.
set -euo pipefail
cd "$(dirname "$0")/.."
list=test/support/debian-packages.txt
mapfile -t wanted < <(grep -vE '^\s*(#|$)' "$list" | tr -d ' \t')
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "test packages not installed (needs root and apt-get): ${missing[*]}; the tests that use them skip" >&2
  exit 0
fi
echo "installing test packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
