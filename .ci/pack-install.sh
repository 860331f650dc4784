#!/usr/bin/env bash
# Packs the npm tarball, checks what it ships, installs it into an empty project (the install
# script builds the addon against local headers), then: `npx tilenet --version`, an app written in
# TypeScript against the published types, and a short lab with an echo (through the bin link:
# npx would turn the Ctrl-C into its own exit code 130).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d /tmp/tilenet-pack-XXXXXX)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -1)
listing=$(tar tzf "$work/$tarball")
if grep -E '^package/(test|bench|\.ci)/|\.map$' <<<"$listing"; then
  echo "the tarball ships tests, benchmarks, CI files or source maps" >&2; exit 1
fi
grep -qx 'package/LICENSE' <<<"$listing" || { echo "no LICENSE in the tarball" >&2; exit 1; }
grep -q '^package/examples/dns/tilenet.toml$' <<<"$listing" || { echo "the README's examples are not in the tarball" >&2; exit 1; }
mkdir "$work/app" && cd "$work/app"
printf '{"name":"tilenet-consumer","version":"1.0.0","private":true,"allowScripts":{"tilenet":true}}\n' >package.json
npm install --no-audit --no-fund "$work/$tarball"
npx tilenet --version
cat >app.ts <<'TS'
import type { AppModule } from "tilenet/app";
const app: AppModule = {
  onPacket(pkt, api) {
    api.reply(pkt, pkt.data, pkt.offset, pkt.length);
  },
};
export = app;
TS
printf '{"compilerOptions":{"strict":true,"module":"node16","moduleResolution":"node16","noEmit":true,"types":[]},"files":["app.ts"]}\n' >tsconfig.json
"$root/node_modules/.bin/tsc" -p .
echo "app.ts type-checks against the published types"
setsid ./node_modules/.bin/tilenet run --lab --duration 300 >lab.log 2>&1 &
lab=$!
TILENET_CLI="$PWD/node_modules/.bin/tilenet" bash "$root/.ci/lab-echo-check.sh" "$lab" 120 || {
  tail -40 lab.log
  kill -INT -- -"$lab" || true
  exit 1
}
kill -INT -- -"$lab"
wait "$lab" || { echo "the lab from the installed package exited $? after SIGINT" >&2; tail -20 lab.log; exit 1; }
echo "the installed package ran a lab and echoed"
