#!/usr/bin/env bash
# Waits for a running lab instance (while process $1 lives, at most $2 seconds), then sends UDP
# from its peer namespace to the echo app the way the README shows, and checks the echo.
set -euo pipefail
cd "$(dirname "$0")/.."
pid=$1 deadline=$((SECONDS + $2))
cli=${TILENET_CLI:-node dist/cli.js}
while :; do
  kill -0 "$pid" 2>/dev/null || { echo "the lab exited before it ran" >&2; exit 1; }
  peer=$($cli status --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);const i=Array.isArray(j)?j[0]:j;process.stdout.write(i?.lab?.peerNetns??"")}catch{}})' || true)
  [ -n "$peer" ] && break
  [ $SECONDS -lt $deadline ] || { echo "no running lab after $2 s" >&2; exit 1; }
  sleep 1
done
echo "lab running, peer namespace $peer"
ip netns exec "$peer" node -e '
const s = require("dgram").createSocket("udp4");
const fail = setTimeout(() => { console.error("no echo within 10 s"); process.exit(1); }, 10000);
const t = setInterval(() => s.send("hello", 7000, "198.18.0.1"), 200);
s.on("message", (m) => { console.log("echo: " + m); clearInterval(t); clearTimeout(fail); s.close(); });'
