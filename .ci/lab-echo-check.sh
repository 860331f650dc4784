#!/usr/bin/env bash
# Waits for a running lab instance started in process group $1 (at most $2 seconds), then sends UDP
# from its peer namespace to the echo app the way the README shows, and checks the echo.
set -euo pipefail
cd "$(dirname "$0")/.."
pid=$1 deadline=$((SECONDS + $2))
# An absolute path when given (this script changes directory to the checkout).
cli=${TILENET_CLI:-node dist/cli.js}
# The instance whose launcher runs in process group $pid (the caller started it with setsid).
# Empty input (the CLI not built yet, or the instance gone) prints nothing.
ours='let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>{if(!s.trim())return;const fs=require("fs");
  const pgrp=(p)=>{try{return Number(fs.readFileSync(`/proc/${p}/stat`,"utf8").split(") ")[1].split(" ")[2])}catch{return -1}};
  const i=JSON.parse(s).find((x)=>pgrp(x.launcherPid)===Number(process.argv[1]));
  if(i)process.stdout.write(i.instance)})'
peerOf='let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>s.trim()&&process.stdout.write(JSON.parse(s).lab?.peerNetns??""))'
while :; do
  kill -0 "$pid" 2>/dev/null || { echo "the lab exited before it ran" >&2; exit 1; }
  instance=$($cli list --json 2>/dev/null | node -e "$ours" "$pid" || true)
  peer=""
  [ -n "$instance" ] && peer=$($cli status --instance "$instance" --json 2>/dev/null | node -e "$peerOf" || true)
  [ -n "$peer" ] && break
  [ $SECONDS -lt $deadline ] || { echo "no running lab after $2 s" >&2; exit 1; }
  sleep 1
done
echo "lab running, peer namespace $peer"
# nsenter (util-linux, on every Debian) rather than `ip netns exec`: iproute2 may be absent.
nsenter --net="/run/netns/$peer" node -e '
const s = require("dgram").createSocket("udp4");
const fail = setTimeout(() => { console.error("no echo within 10 s"); process.exit(1); }, 10000);
const t = setInterval(() => s.send("hello", 7000, "198.18.0.1"), 200);
s.on("message", (m) => { console.log("echo: " + m); clearInterval(t); clearTimeout(fail); s.close(); });'
